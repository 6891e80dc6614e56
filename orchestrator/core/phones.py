"""Phone numbers: E.164 normalization and the time zones a number may be in.

Pure helpers over the full ``phonenumbers`` package (not the lite build: the
time-zone prefix data is only in the full one). The contact importer calls
:func:`analyze_phone` once per CSV row, so the per-row cost matters (see
docs/benchmarks/phones-rules.md and import.md). Shortcuts, each the library's own
algorithm on the library's own metadata and checked against the library by
tests/unit/test_rules_properties.py and tests/unit/test_phones_fast.py:

* input made of ASCII digits, an optional leading ``+`` and ordinary punctuation
  (space, parentheses, dot, hyphen) skips parse(): its steps are done on the
  digit string (see _parse_simple), and no PhoneNumber is built;
* region and type come out of one pass (for +1, finding the region is itself
  a full validation, which is_valid_number() and number_type() would repeat);
* the number-type patterns of a region are tried in one regex call per number
  length (see _TypePlan).

Time-zone lookup is a prefix-table walk over the prefix lengths the table has
for the country code, cached per table entry.

Rejected outright, because a dialer must never place them: premium-rate and
shared-cost numbers, and numbers with an extension (an extension cannot be
dialed by Originate).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneNumber,
    PhoneNumberType,
)
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc
from phonenumbers.phonenumberutil import (
    _MAX_LENGTH_FOR_NSN,
    _MIN_LENGTH_FOR_NSN,
    ValidationResult,
    _extract_country_code,
    _maybe_strip_national_prefix_carrier_code,
    _set_italian_leading_zeros_for_phone_number,
    _test_number_length,
    is_number_type_geographical,
    national_significant_number,
)
from phonenumbers.timezone import UNKNOWN_TIMEZONE
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

__all__ = [
    "PhoneError",
    "PhoneErrorReason",
    "PhoneInfo",
    "analyze_phone",
    "candidate_time_zones",
    "normalize_e164",
    "number_type_name",
]


class PhoneErrorReason(StrEnum):
    """Why a raw phone number was refused (stable strings, shown to users)."""

    EMPTY = "empty"
    NOT_A_NUMBER = "not a phone number"
    NO_COUNTRY = "no country code (start with + or give a default region)"
    INVALID_COUNTRY_CODE = "invalid country code"
    TOO_SHORT = "too short"
    TOO_LONG = "too long"
    INVALID_LENGTH = "invalid length for its country"
    INVALID = "not a valid number for its country"
    HAS_EXTENSION = "has an extension, which cannot be dialed"
    PREMIUM_RATE = "premium-rate number (never dialed)"
    SHARED_COST = "shared-cost number (never dialed)"


class PhoneError(ValueError):
    """A raw phone number that cannot be dialed; ``reason`` says why.

    The message deliberately does not repeat the number (callers add the CSV
    line or the field name); the raw text is kept in ``raw`` for callers that
    want to show it.
    """

    def __init__(self, reason: PhoneErrorReason, raw: str) -> None:
        super().__init__(f"phone number {reason.value}")
        self.reason = reason
        self.raw = raw


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """Everything the ledger stores about one valid, dialable number."""

    e164: str
    """The number in E.164 form, e.g. ``+14165550123``."""
    region: str | None
    """ISO 3166 region the number belongs to (``"CA"``), None for non-geographic codes."""
    number_type: str
    """phonenumbers' type name, lower case: ``fixed_line``, ``mobile``, ``toll_free`` ..."""
    time_zones: tuple[str, ...]
    """IANA zones the number may be in; empty when unknown (then it is never callable
    unless the contact has its own zone)."""


_NON_GEO_REGION = "001"  # phonenumbers' region for +800, +882 ... (non-geographic codes)

_TYPE_NAMES: dict[int, str] = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}

_PARSE_ERRORS: dict[int, PhoneErrorReason] = {
    NumberParseException.INVALID_COUNTRY_CODE: PhoneErrorReason.INVALID_COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: PhoneErrorReason.NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: PhoneErrorReason.TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: PhoneErrorReason.TOO_SHORT,
    NumberParseException.TOO_LONG: PhoneErrorReason.TOO_LONG,
}

_POSSIBLE_ERRORS: dict[int, PhoneErrorReason] = {
    ValidationResult.INVALID_COUNTRY_CODE: PhoneErrorReason.INVALID_COUNTRY_CODE,
    ValidationResult.TOO_SHORT: PhoneErrorReason.TOO_SHORT,
    ValidationResult.TOO_LONG: PhoneErrorReason.TOO_LONG,
    ValidationResult.INVALID_LENGTH: PhoneErrorReason.INVALID_LENGTH,
}


def number_type_name(number_type: int) -> str:
    """Lower-case name of a ``phonenumbers.PhoneNumberType`` value."""
    return _TYPE_NAMES.get(number_type, "unknown")


def analyze_phone(raw: str, default_region: str | None = None) -> PhoneInfo:
    """Validate ``raw`` and return its E.164 form, region, type and candidate zones.

    ``default_region`` (ISO 3166 alpha-2, e.g. ``"US"``) is used only when
    ``raw`` has no leading ``+``/international prefix. Raises
    :class:`PhoneError` with a precise reason otherwise.
    """
    text = raw.strip()
    if not text:
        raise PhoneError(PhoneErrorReason.EMPTY, raw)
    default = default_region.upper() if default_region else None
    num: PhoneNumber | None = None
    try:
        simple = _parse_simple(text, default)
        if simple is None:
            num = phonenumbers.parse(text, default)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not (
            text.startswith("+") or default
        ):
            raise PhoneError(PhoneErrorReason.NO_COUNTRY, raw) from None
        raise PhoneError(
            _PARSE_ERRORS.get(exc.error_type, PhoneErrorReason.NOT_A_NUMBER), raw
        ) from None
    if num is None:
        assert simple is not None
        cc, nsn = simple
    else:
        if num.extension:
            raise PhoneError(PhoneErrorReason.HAS_EXTENSION, raw)
        cc, nsn = num.country_code or 0, national_significant_number(num)
    region, ntype = _region_and_type(cc, nsn)
    if ntype == PhoneNumberType.UNKNOWN:
        possible = phonenumbers.is_possible_number_with_reason(
            num if num is not None else _number(cc, nsn)
        )
        raise PhoneError(_POSSIBLE_ERRORS.get(possible, PhoneErrorReason.INVALID), raw)
    if ntype == PhoneNumberType.PREMIUM_RATE:
        raise PhoneError(PhoneErrorReason.PREMIUM_RATE, raw)
    if ntype == PhoneNumberType.SHARED_COST:
        raise PhoneError(PhoneErrorReason.SHARED_COST, raw)
    # format_number(num, E164) for a valid number: "+", country code, national
    # significant number.
    e164 = f"+{cc}{nsn}"
    code = str(cc)
    if is_number_type_geographical(ntype, cc):
        zones = _zones_for_prefix(e164[1 : 1 + TIMEZONE_LONGEST_PREFIX], code)
    else:
        zones = _zones_for_prefix(code, code)
    return PhoneInfo(
        e164=e164,
        region=None if region == _NON_GEO_REGION else region,
        number_type=_TYPE_NAMES.get(ntype, "unknown"),
        time_zones=zones,
    )


def normalize_e164(raw: str, default_region: str | None = None) -> str:
    """Return ``raw`` in E.164 form (``+442079460000``) or raise :class:`PhoneError`."""
    return analyze_phone(raw, default_region).e164


@lru_cache(maxsize=65536)
def candidate_time_zones(e164: str) -> tuple[str, ...]:
    """IANA zones an E.164 number may be in; ``()`` when unknown or invalid.

    Geographic numbers (fixed line, and mobiles in countries whose mobiles
    are geographic) get their prefix's zones; others (toll-free, most
    mobiles, VoIP) get every zone of their country. Cached per number:
    rules.evaluate() calls it for every target without a zone of its own.
    """
    try:
        return analyze_phone(e164).time_zones
    except PhoneError:
        return ()


_E164_SHAPE = re.compile(r"\+([1-9][0-9]{2,16})")
_SIMPLE_TEXT = re.compile(r"\+?[0-9 ().\-]*")
"""Input written with ASCII digits, an optional leading ``+`` and only the punctuation
people type in numbers (space, parentheses, dot, hyphen): almost every CSV cell."""
_DROP_PUNCTUATION = str.maketrans("", "", "+ ().-")
_MAX_INPUT_STRING_LENGTH = 250  # phonenumbers' limit on the text given to parse()
_TOO_SHORT_NSN = "The string supplied is too short to be a phone number."
_TOO_LONG_NSN = "The string supplied is too long to be a phone number."


def _parse_number(text: str, default_region: str | None) -> PhoneNumber:
    """``phonenumbers.parse(text, default_region)``, with the shortcut of _parse_simple."""
    simple = _parse_simple(text, default_region)
    if simple is None:
        return phonenumbers.parse(text, default_region)
    return _number(*simple)


def _number(cc: int, nsn: str) -> PhoneNumber:
    """The PhoneNumber parse() builds from a country code and national digits."""
    num = PhoneNumber(country_code=cc)
    _set_italian_leading_zeros_for_phone_number(nsn, num)
    num.national_number = int(nsn)
    return num


def _parse_simple(text: str, default_region: str | None) -> tuple[int, str] | None:
    """(country code, national significant number) as ``phonenumbers.parse(text,
    default_region)`` finds them, for simple input; None for other input (the caller
    then uses the library). Raises NumberParseException as parse() would.

    For :data:`_SIMPLE_TEXT` input parse() finds the number from the first ``+`` or
    digit, sees no extension (every extension form needs a letter, ``#``, ``~``, ``,``
    or ``;``), and then works on the digits alone; so the digits (and whether a ``+``
    came first) are all it depends on. From there the same steps parse() takes are done
    here on the digit string, without its character-by-character normalization and its
    searches for punctuation, letters, RFC 3966 and extensions. The national
    significant number is then the national digits themselves (parse() keeps their
    leading zeros as italian_leading_zero and number_of_leading_zeros).
    tests/unit/test_rules_properties.py and tests/unit/test_phones_fast.py check both
    give equal numbers (or the same error) on random input.
    """
    if len(text) > _MAX_INPUT_STRING_LENGTH or _SIMPLE_TEXT.fullmatch(text) is None:
        return None
    digits = text.translate(_DROP_PUNCTUATION)
    if not 3 <= len(digits) <= 17:
        return None
    if text[0] == "+":
        if digits[0] == "0":
            return None
        cc, national = _extract_country_code(digits)
        if cc == 0:
            if default_region is not None:
                # parse() retries without the "+" using the region's IDD: leave it that.
                return None
            raise NumberParseException(
                NumberParseException.INVALID_COUNTRY_CODE,
                "Could not interpret numbers after plus-sign.",
            )
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(
            cc, phonenumbers.region_code_for_country_code(cc)
        )
        return _national_part(cc, national, metadata)
    if default_region is None:
        return None
    region_meta = PhoneMetadata.metadata_for_region(default_region, None)
    if region_meta is None:
        return None
    return _parse_national_digits(digits, default_region, region_meta)


def _parse_national_digits(digits: str, region: str, metadata: PhoneMetadata) -> tuple[int, str]:
    """parse() for digits written without "+", from its _maybe_extract_country_code on."""
    cc = 0
    national = digits
    idd = _compiled(metadata.international_prefix or "NonMatch").match(digits)
    if idd is not None and digits[idd.end() : idd.end() + 1] != "0":
        # The region's international prefix (011 from the US, 00 from the UK).
        rest = digits[idd.end() :]
        if len(rest) <= _MIN_LENGTH_FOR_NSN:
            raise NumberParseException(
                NumberParseException.TOO_SHORT_AFTER_IDD,
                "Phone number had an IDD, but after this was not long enough to be a viable phone number.",
            )
        cc, national = _extract_country_code(rest)
        if cc == 0:
            raise NumberParseException(
                NumberParseException.INVALID_COUNTRY_CODE,
                "Country calling code supplied was not recognised.",
            )
    else:
        # The region's own country code written without "+" (1 212 555 0123 in the US).
        own = str(metadata.country_code)
        if digits.startswith(own):
            _, potential, _ = _maybe_strip_national_prefix_carrier_code(digits[len(own) :], metadata)
            general = metadata.general_desc
            if (
                not _full_match(general, digits) and _full_match(general, potential)
            ) or _test_number_length(digits, metadata) == ValidationResult.TOO_LONG:
                cc, national = metadata.country_code or 0, potential
    if cc != 0:
        number_region = phonenumbers.region_code_for_country_code(cc)
        if number_region != region:
            found = PhoneMetadata.metadata_for_region_or_calling_code(cc, number_region)
            assert found is not None
            metadata = found
    else:
        cc = metadata.country_code or 0
    return _national_part(cc, national, metadata)


def _national_part(cc: int, national: str, metadata: PhoneMetadata | None) -> tuple[int, str]:
    """The end of parse(): strip a national prefix when what is left is a possible
    length, check the length."""
    if len(national) < _MIN_LENGTH_FOR_NSN:
        raise NumberParseException(NumberParseException.TOO_SHORT_NSN, _TOO_SHORT_NSN)
    if metadata is not None:
        _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
        # (When nothing was stripped the length test cannot change the outcome.)
        if stripped != national and _test_number_length(stripped, metadata) not in (
            ValidationResult.TOO_SHORT,
            ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
            ValidationResult.INVALID_LENGTH,
        ):
            national = stripped
    if len(national) < _MIN_LENGTH_FOR_NSN:
        raise NumberParseException(NumberParseException.TOO_SHORT_NSN, _TOO_SHORT_NSN)
    if len(national) > _MAX_LENGTH_FOR_NSN:
        raise NumberParseException(NumberParseException.TOO_LONG, _TOO_LONG_NSN)
    return cc, national


def _full_match(desc: PhoneNumberDesc | None, digits: str) -> bool:
    """phonenumbers' ``_match_national_number(digits, desc, False)``."""
    if desc is None or not desc.national_number_pattern:
        return False
    return _compiled(desc.national_number_pattern).fullmatch(digits) is not None


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _region_and_type(cc: int, nsn: str) -> tuple[str | None, int]:
    """``(region_code_for_number(num), number_type(num))`` in one pass.

    The same algorithm as phonenumbers' own, fused: for a shared country code
    (+1, +44, +61) finding the region is itself a full type match against
    each candidate region's metadata, and number_type() would then run it
    again (is_valid_number() a third time). The type being known is what
    "valid" means in phonenumbers. tests/unit/test_rules_properties.py checks
    this agrees with the library.
    """
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if not regions:
        return None, PhoneNumberType.UNKNOWN
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
        if metadata is None:
            return regions[0], PhoneNumberType.UNKNOWN
        return regions[0], _number_type(nsn, metadata)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if _leading_digits_re(metadata.leading_digits).match(nsn):
                return region, _number_type(nsn, metadata)
        else:
            ntype = _number_type(nsn, metadata)
            if ntype != PhoneNumberType.UNKNOWN:
                return region, ntype
    return None, PhoneNumberType.UNKNOWN


_TYPE_ORDER = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


_FIXED_LINE = -1  # marks the fixed-line alternative of a _TypePlan


@dataclass(frozen=True, slots=True)
class _TypePlan:
    """phonenumbers' type match for one region and one number length, as two regex
    calls: the general pattern, then one alternation of the type patterns whose possible
    lengths allow this length, in the library's order, each followed by an empty marker
    group, so the index of the last group that matched is the first type that matches."""

    general: Callable[[str], object] | None
    """fullmatch of the general pattern (None: no number of this length is valid)."""
    types: Callable[[str], re.Match[str] | None] | None
    kinds: tuple[int, ...]
    """Type of each alternative, by marker group index - 1 (_FIXED_LINE for fixed line)."""
    mobile: Callable[[str], object] | None
    """For a fixed-line match: fullmatch of the mobile pattern (when it can apply)."""
    same_mobile_and_fixed_line: bool


# Metadata objects are module-level singletons in phonenumbers, so id() is stable.
_PLANS: dict[tuple[int, int], _TypePlan | None] = {}


def _applies(desc: PhoneNumberDesc | None, length: int) -> str | None:
    """desc's pattern if phonenumbers would try it on a number of this length."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return str(desc.national_number_pattern)


def _type_plan(metadata: PhoneMetadata, length: int) -> _TypePlan | None:
    """The plan, or None when a pattern has capturing groups of its own (then the
    markers' numbers would shift: _number_type falls back to one call per pattern)."""
    same = bool(metadata.same_mobile_and_fixed_line_pattern)
    alternatives: list[tuple[str, int]] = []
    for attr, ntype in _TYPE_ORDER:
        if (pattern := _applies(getattr(metadata, attr), length)) is not None:
            alternatives.append((pattern, ntype))
    if (pattern := _applies(metadata.fixed_line, length)) is not None:
        alternatives.append((pattern, _FIXED_LINE))
    if not same and (pattern := _applies(metadata.mobile, length)) is not None:
        alternatives.append((pattern, PhoneNumberType.MOBILE))
    if any(re.compile(pattern).groups for pattern, _ in alternatives):
        return None
    general_pattern = _applies(metadata.general_desc, length)
    mobile_pattern = _applies(metadata.mobile, length)
    return _TypePlan(
        general=_compiled(general_pattern).fullmatch if general_pattern is not None else None,
        types=(re.compile("|".join(f"(?:{pattern})()" for pattern, _ in alternatives)).fullmatch
               if alternatives else None),
        kinds=tuple(t for _, t in alternatives),
        mobile=_compiled(mobile_pattern).fullmatch if mobile_pattern is not None else None,
        same_mobile_and_fixed_line=same,
    )


def _number_type(nsn: str, metadata: PhoneMetadata) -> int:
    """phonenumbers' ``_number_type_helper`` (general pattern; premium rate, toll free,
    shared cost, VoIP, personal, pager, UAN, voicemail; fixed line and mobile), each
    pattern tried only for its possible lengths, with the patterns compiled once per
    region and length and tried in one regex call (see _TypePlan)."""
    key = (id(metadata), len(nsn))
    if key in _PLANS:
        plan = _PLANS[key]
    else:
        plan = _PLANS[key] = _type_plan(metadata, len(nsn))
    if plan is None:
        return _number_type_one_by_one(nsn, metadata)
    if plan.general is None or plan.general(nsn) is None:
        return PhoneNumberType.UNKNOWN
    found = plan.types(nsn) if plan.types is not None else None
    if found is None:
        return PhoneNumberType.UNKNOWN
    assert found.lastindex is not None
    kind = plan.kinds[found.lastindex - 1]
    if kind != _FIXED_LINE:
        return kind
    if plan.same_mobile_and_fixed_line or (plan.mobile is not None and plan.mobile(nsn)):
        return PhoneNumberType.FIXED_LINE_OR_MOBILE
    return PhoneNumberType.FIXED_LINE


def _number_type_one_by_one(nsn: str, metadata: PhoneMetadata) -> int:
    """_number_type without the single alternation (for patterns with capturing groups)."""
    length = len(nsn)

    def matches(desc: PhoneNumberDesc | None) -> bool:
        pattern = _applies(desc, length)
        return pattern is not None and _compiled(pattern).fullmatch(nsn) is not None

    if not matches(metadata.general_desc):
        return PhoneNumberType.UNKNOWN
    for attr, ntype in _TYPE_ORDER:
        if matches(getattr(metadata, attr)):
            return ntype
    same = bool(metadata.same_mobile_and_fixed_line_pattern)
    if matches(metadata.fixed_line):
        if same or matches(metadata.mobile):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not same and matches(metadata.mobile):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


@lru_cache(maxsize=512)
def _leading_digits_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_ZONES_BY_PREFIX: dict[str, tuple[str, ...]] = {}
_TZ_LENGTHS: dict[str, tuple[int, ...]] = {}


def _tz_lengths(cc: str) -> tuple[int, ...]:
    """Lengths of the zone table's prefixes that can match a number of country code cc
    (those starting with cc, or a start of it), longest first."""
    lengths = _TZ_LENGTHS.get(cc)
    if lengths is None:
        lengths = _TZ_LENGTHS[cc] = tuple(sorted(
            {len(p) for p in TIMEZONE_DATA
             if (p.startswith(cc) or cc.startswith(p)) and len(p) <= TIMEZONE_LONGEST_PREFIX},
            reverse=True,
        ))
    return lengths


def _zones_for_prefix(digits: str, cc: str | None = None) -> tuple[str, ...]:
    """Longest-prefix match of digits (a number in E.164 without "+") in phonenumbers'
    zone table, what ``timezone.time_zones_for_number`` does, without ``Etc/Unknown``.
    Only the prefix lengths the table has for the country code are tried (cc, when
    given, must be how digits starts), and the answer is cached per table entry."""
    if cc is None:
        cc = str(_extract_country_code(digits)[0] or "")
    for length in _tz_lengths(cc):
        if length > len(digits):
            continue
        prefix = digits[:length]
        zones = _ZONES_BY_PREFIX.get(prefix)
        if zones is not None:
            return zones
        found = TIMEZONE_DATA.get(prefix)
        if found is not None:
            zones = tuple(z for z in found if z != UNKNOWN_TIMEZONE)
            _ZONES_BY_PREFIX[prefix] = zones
            return zones
    return ()
