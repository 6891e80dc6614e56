"""Phone numbers: E.164 normalization and the time zones a number may be in.

Pure helpers over the full ``phonenumbers`` package (not the lite build: the
time-zone prefix data is only in the full one). The contact importer calls
:func:`analyze_phone` once per CSV row, so the per-row cost matters (see
docs/benchmarks/phones-rules.md). Three shortcuts, each the library's own
algorithm on the library's own metadata and checked against the library by
tests/unit/test_rules_properties.py:

* input already in ``+digits`` form skips parse()'s search for punctuation,
  letters and extensions;
* region and type come out of one pass (for +1, finding the region is itself
  a full validation, which is_valid_number() and number_type() would repeat);
* number-type patterns are compiled once per region.

Time-zone lookup is a prefix-table walk, cached per prefix.

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
    PhoneNumberFormat,
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
    try:
        num = _parse_number(text, default)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not (
            text.startswith("+") or default
        ):
            raise PhoneError(PhoneErrorReason.NO_COUNTRY, raw) from None
        raise PhoneError(
            _PARSE_ERRORS.get(exc.error_type, PhoneErrorReason.NOT_A_NUMBER), raw
        ) from None
    if num.extension:
        raise PhoneError(PhoneErrorReason.HAS_EXTENSION, raw)
    region, ntype = _region_and_type(num)
    if ntype == PhoneNumberType.UNKNOWN:
        possible = phonenumbers.is_possible_number_with_reason(num)
        raise PhoneError(_POSSIBLE_ERRORS.get(possible, PhoneErrorReason.INVALID), raw)
    if ntype == PhoneNumberType.PREMIUM_RATE:
        raise PhoneError(PhoneErrorReason.PREMIUM_RATE, raw)
    if ntype == PhoneNumberType.SHARED_COST:
        raise PhoneError(PhoneErrorReason.SHARED_COST, raw)
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    cc = num.country_code or 0
    if is_number_type_geographical(ntype, cc):
        zones = _zones_for_prefix(e164[1 : 1 + TIMEZONE_LONGEST_PREFIX])
    else:
        zones = _zones_for_prefix(str(cc))
    return PhoneInfo(
        e164=e164,
        region=None if region == _NON_GEO_REGION else region,
        number_type=number_type_name(ntype),
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


def _parse_number(text: str, default_region: str | None) -> PhoneNumber:
    """``phonenumbers.parse(text, default_region)``, with a shortcut for input that is
    already ``+`` and digits (most stored data): the same steps parse() takes for such
    input, minus its search for punctuation, letters and extensions, which such input
    cannot have. tests/unit/test_rules_properties.py checks both give equal numbers."""
    shape = _E164_SHAPE.fullmatch(text)
    if shape is None:
        return phonenumbers.parse(text, default_region)
    cc, national = _extract_country_code(shape.group(1))
    if cc == 0:
        raise NumberParseException(
            NumberParseException.INVALID_COUNTRY_CODE, "Could not interpret numbers after plus-sign."
        )
    if len(national) < _MIN_LENGTH_FOR_NSN:
        raise NumberParseException(
            NumberParseException.TOO_SHORT_NSN, "The string supplied is too short to be a phone number."
        )
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        cc, phonenumbers.region_code_for_country_code(cc)
    )
    if metadata is not None:
        _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
        if _test_number_length(stripped, metadata) not in (
            ValidationResult.TOO_SHORT,
            ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
            ValidationResult.INVALID_LENGTH,
        ):
            national = stripped
    if len(national) < _MIN_LENGTH_FOR_NSN:
        raise NumberParseException(
            NumberParseException.TOO_SHORT_NSN, "The string supplied is too short to be a phone number."
        )
    if len(national) > _MAX_LENGTH_FOR_NSN:
        raise NumberParseException(
            NumberParseException.TOO_LONG, "The string supplied is too long to be a phone number."
        )
    num = PhoneNumber(country_code=cc)
    _set_italian_leading_zeros_for_phone_number(national, num)
    num.national_number = int(national)
    return num


def _region_and_type(num: PhoneNumber) -> tuple[str | None, int]:
    """``(region_code_for_number(num), number_type(num))`` in one pass.

    The same algorithm as phonenumbers' own, fused: for a shared country code
    (+1, +44, +61) finding the region is itself a full type match against
    each candidate region's metadata, and number_type() would then run it
    again (is_valid_number() a third time). The type being known is what
    "valid" means in phonenumbers. tests/unit/test_rules_properties.py checks
    this agrees with the library.
    """
    cc = num.country_code or 0
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if not regions:
        return None, PhoneNumberType.UNKNOWN
    nsn = national_significant_number(num)
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


_Desc = tuple[frozenset[int], Callable[[str], object]] | None
"""A number description: its possible lengths and its pattern's fullmatch."""

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


@dataclass(frozen=True, slots=True)
class _TypeMatcher:
    general: _Desc
    special: tuple[tuple[_Desc, int], ...]
    fixed_line: _Desc
    mobile: _Desc
    same_mobile_and_fixed_line: bool


def _desc(desc: PhoneNumberDesc | None) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern).fullmatch


# Metadata objects are module-level singletons in phonenumbers, so id() is stable.
_MATCHERS: dict[int, _TypeMatcher] = {}


def _matches(desc: _Desc, nsn: str) -> bool:
    if desc is None:
        return False
    lengths, fullmatch = desc
    if lengths and len(nsn) not in lengths:
        return False
    return fullmatch(nsn) is not None


def _number_type(nsn: str, metadata: PhoneMetadata) -> int:
    """phonenumbers' ``_number_type_helper`` with its patterns compiled once per
    region (it goes through ``re.compile``'s cache and matches twice per pattern)."""
    matcher = _MATCHERS.get(id(metadata))
    if matcher is None:
        matcher = _MATCHERS[id(metadata)] = _TypeMatcher(
            general=_desc(metadata.general_desc),
            special=tuple((_desc(getattr(metadata, attr)), t) for attr, t in _TYPE_ORDER),
            fixed_line=_desc(metadata.fixed_line),
            mobile=_desc(metadata.mobile),
            same_mobile_and_fixed_line=bool(metadata.same_mobile_and_fixed_line_pattern),
        )
    if not _matches(matcher.general, nsn):
        return PhoneNumberType.UNKNOWN
    for desc, ntype in matcher.special:
        if _matches(desc, nsn):
            return ntype
    if _matches(matcher.fixed_line, nsn):
        if matcher.same_mobile_and_fixed_line or _matches(matcher.mobile, nsn):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not matcher.same_mobile_and_fixed_line and _matches(matcher.mobile, nsn):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


@lru_cache(maxsize=512)
def _leading_digits_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=16384)
def _zones_for_prefix(digits: str) -> tuple[str, ...]:
    """Longest-prefix match in phonenumbers' zone table; cached by the digits
    that can matter (at most TIMEZONE_LONGEST_PREFIX of them), so numbers of
    one exchange share an entry."""
    for length in range(min(len(digits), TIMEZONE_LONGEST_PREFIX), 0, -1):
        zones = TIMEZONE_DATA.get(digits[:length])
        if zones is not None:
            if zones == (UNKNOWN_TIMEZONE,):
                return ()
            return tuple(z for z in zones if z != UNKNOWN_TIMEZONE)
    return ()
