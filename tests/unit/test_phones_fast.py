"""phones' parse shortcut, type match and zone lookup agree with plain phonenumbers on random input.

The shortcut (orchestrator.core.phones._parse_number) handles text made of ASCII digits,
an optional leading "+", spaces, parentheses, dots and hyphens without going through
phonenumbers.parse(); these tests compare the two on random text of that shape, in the
formats a contacts file has and in deliberately odd ones (leading IDDs, national
prefixes, the region's own country code without "+", too few or too many digits), for
default regions whose rules differ (NANP, UK, Australia, and regions with unusual
international or national prefixes).
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import _extract_country_code, _number_type_helper
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from orchestrator.core.phones import (
    PhoneError,
    _number_type,
    _parse_number,
    _zones_for_prefix,
    analyze_phone,
    number_type_name,
)

REGIONS = [None, "US", "CA", "GB", "AU", "DE", "FR", "IT", "FI", "RU", "JP", "BR", "AR", "MX",
           "IN", "SG", "KR", "HU", "CO", "BY", "AG"]
PREFIXES = ["", "1", "0", "00", "011", "0011", "810", "8", "99", "990", "1800", "44", "61",
            "39", "7", "0044", "01144", "00161", "0800", "07", "04", "02", "09"]
PUNCT = [" ", "-", ".", "(", ")", ""]


def _layout(rng: random.Random, digits: str, plus: bool) -> str:
    out = ["+"] if plus else []
    if not plus and rng.random() < 0.2:
        out.append(rng.choice(["(", " ", "(("]))
    for d in digits:
        out.append(d)
        if rng.random() < 0.25:
            out.append(rng.choice(PUNCT))
    if rng.random() < 0.1:
        out.append(rng.choice([")", " ", ".", "-"]))
    return "".join(out)


def _random_text(rng: random.Random) -> str:
    digits = rng.choice(PREFIXES) + "".join(rng.choice("0123456789")
                                            for _ in range(rng.randint(0, 16)))
    return _layout(rng, digits, plus=rng.random() < 0.4)


def _library(text: str, region: str | None) -> phonenumbers.PhoneNumber | int:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return exc.error_type


def _ours(text: str, region: str | None) -> phonenumbers.PhoneNumber | int:
    try:
        return _parse_number(text, region)
    except phonenumbers.NumberParseException as exc:
        return exc.error_type


def test_parse_shortcut_equals_phonenumbers_on_random_text() -> None:
    rng = random.Random(20240611)
    for _ in range(12_000):
        text = _random_text(rng)
        region = rng.choice(REGIONS)
        assert _ours(text, region) == _library(text, region), (text, region)


def _nanp_like(rng: random.Random) -> str:
    area = f"{rng.randint(200, 999)}"
    digits = area + f"{rng.randint(0, 9_999_999):07d}"
    return rng.choice(["", "1", "+1", "011 1 "]) + digits


@pytest.mark.parametrize("region", ["US", "CA", "GB", "AU"])
def test_analyze_phone_equals_the_library_pipeline(region: str) -> None:
    """E.164, region, type and zones as phonenumbers computes them, for national and
    international numbers typed the ways a CSV has them."""
    rng = random.Random(hash(region) & 0xFFFF)
    samples = []
    for _ in range(2_500):
        r = rng.random()
        if r < 0.4:
            digits = _nanp_like(rng)
        elif r < 0.6:
            digits = rng.choice(["+44", "0044", "0", "07", "02", "+447"]) + "".join(
                rng.choice("0123456789") for _ in range(rng.randint(8, 10)))
        elif r < 0.8:
            digits = rng.choice(["+61", "0011 61 ", "0", "04", "02", "+614"]) + "".join(
                rng.choice("0123456789") for _ in range(rng.randint(7, 9)))
        else:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 15)))
        samples.append(_layout(rng, digits.replace(" ", ""), plus=digits.startswith("+")))
    for text in samples:
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            with pytest.raises(PhoneError):
                analyze_phone(text, region)
            continue
        kind = phonenumbers.number_type(parsed)
        valid = phonenumbers.is_valid_number(parsed)
        try:
            info = analyze_phone(text, region)
        except PhoneError:
            assert not valid or parsed.extension or kind in (
                phonenumbers.PhoneNumberType.PREMIUM_RATE,
                phonenumbers.PhoneNumberType.SHARED_COST,
            ), text
            continue
        assert valid, text
        assert info.e164 == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        assert info.region == phonenumbers.region_code_for_number(parsed)
        assert info.number_type == number_type_name(kind)
        zones = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
        assert info.time_zones == zones, text


SIMPLE = st.builds(
    lambda plus, lead, body, seps: ("+" if plus else lead)
    + "".join(d + s for d, s in zip(body, seps + [""] * len(body), strict=False)),
    st.booleans(),
    st.sampled_from(["", "(", " "]),
    st.text(alphabet="0123456789", min_size=0, max_size=19),
    st.lists(st.sampled_from(PUNCT), max_size=19),
)


@settings(max_examples=400, deadline=None)
@given(SIMPLE, st.sampled_from(REGIONS))
def test_parse_shortcut_equals_phonenumbers_property(text: str, region: str | None) -> None:
    assert _ours(text, region) == _library(text, region)


def _variants(rng: random.Random, example: str) -> list[str]:
    """Numbers around a region's example number: same and nearby lengths, digits changed."""
    out = []
    for _ in range(6):
        digits = list(example)
        for _ in range(rng.randint(0, 3)):
            digits[rng.randrange(len(digits))] = rng.choice("0123456789")
        length = len(digits) + rng.choice([0, 0, 0, -1, 1, 2])
        digits = (digits + [rng.choice("0123456789") for _ in range(3)])[:max(2, length)]
        out.append("".join(digits))
    return out


def test_type_match_equals_phonenumbers_for_every_region() -> None:
    """The one-alternation type match (_number_type) against the library's helper, on
    numbers derived from every region's example numbers, of every type."""
    rng = random.Random(99)
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS) + ["001"]:
        metas = ([PhoneMetadata.metadata_for_region(region)] if region != "001" else
                 [PhoneMetadata.metadata_for_nongeo_region(cc)
                  for cc in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS])
        for meta in metas:
            assert meta is not None
            examples = {d.example_number for d in (
                meta.fixed_line, meta.mobile, meta.toll_free, meta.premium_rate, meta.shared_cost,
                meta.voip, meta.personal_number, meta.pager, meta.uan, meta.voicemail)
                if d is not None and d.example_number}
            for example in examples:
                for nsn in [example, *_variants(rng, example)]:
                    assert _number_type(nsn, meta) == _number_type_helper(nsn, meta), (region, nsn)
                    checked += 1
    assert checked > 5000


def test_zone_lookup_equals_phonenumbers_for_every_prefix() -> None:
    """_zones_for_prefix against timezone.time_zones_for_geographical_number's table walk,
    for every prefix in the table followed by random digits."""
    rng = random.Random(5)
    for prefix in TIMEZONE_DATA:
        digits = (prefix + "".join(rng.choice("0123456789") for _ in range(10)))[:15]
        cc, nsn = _extract_country_code(digits)
        if cc == 0 or len(nsn) < 2:
            continue
        num = phonenumbers.PhoneNumber(country_code=cc, national_number=int(nsn))
        if nsn.startswith("0"):
            continue  # leading zeros are not part of national_number; covered elsewhere
        expected = tuple(z for z in pn_timezone.time_zones_for_geographical_number(num)
                         if z != "Etc/Unknown")
        assert _zones_for_prefix(digits[:TIMEZONE_LONGEST_PREFIX], str(cc)) == expected, digits
