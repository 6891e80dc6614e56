"""E.164 normalization and candidate time zones."""

from __future__ import annotations

import pytest

from orchestrator.core.phones import (
    PhoneError,
    PhoneErrorReason,
    analyze_phone,
    candidate_time_zones,
    normalize_e164,
)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(212) 555-1234", "US", "+12125551234"),
        ("212.555.1234", "us", "+12125551234"),
        ("  +1 416-555-0123 ", None, "+14165550123"),
        ("tel:+1-212-555-1234", None, "+12125551234"),
        ("020 7946 0000", "GB", "+442079460000"),
        ("+44 (0)20 7946 0000", None, "+442079460000"),
        ("011 44 20 7946 0000", "US", "+442079460000"),
        ("0412 345 678", "AU", "+61412345678"),
        ("+61 2 9876 5432", "US", "+61298765432"),  # the + wins over the default region
    ],
)
def test_normalizes_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalize_e164(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "US", PhoneErrorReason.EMPTY),
        ("   ", None, PhoneErrorReason.EMPTY),
        ("John Smith", "US", PhoneErrorReason.NOT_A_NUMBER),
        ("1", "US", PhoneErrorReason.NOT_A_NUMBER),
        ("2125551234", None, PhoneErrorReason.NO_COUNTRY),
        ("+999 1234 5678", None, PhoneErrorReason.INVALID_COUNTRY_CODE),
        ("+1212555123", None, PhoneErrorReason.TOO_SHORT),
        ("+121255512345", None, PhoneErrorReason.TOO_LONG),
        ("+1 555 555 1234", None, PhoneErrorReason.INVALID),
        ("+1 212 055 1234", None, PhoneErrorReason.INVALID),
        ("+1 212 555 1234 ext. 12", None, PhoneErrorReason.HAS_EXTENSION),
        ("+1 900 234 5678", None, PhoneErrorReason.PREMIUM_RATE),
        ("0871 234 5678", "GB", PhoneErrorReason.PREMIUM_RATE),
        ("1900 123 456", "AU", PhoneErrorReason.PREMIUM_RATE),
        ("1300 123 456", "AU", PhoneErrorReason.SHARED_COST),
    ],
)
def test_refuses_with_a_clear_reason(raw: str, region: str | None, reason: PhoneErrorReason) -> None:
    with pytest.raises(PhoneError) as caught:
        normalize_e164(raw, region)
    assert caught.value.reason is reason
    assert caught.value.raw == raw
    assert isinstance(caught.value, ValueError)
    assert reason.value in str(caught.value)
    # The message does not carry the number itself (the caller adds line/field).
    assert not any(ch.isdigit() for ch in str(caught.value))


def test_analyze_phone_reports_region_and_type() -> None:
    info = analyze_phone("+14165550123")
    assert (info.e164, info.region, info.number_type) == ("+14165550123", "CA", "fixed_line_or_mobile")
    assert analyze_phone("+61412345678").number_type == "mobile"
    assert analyze_phone("+18002345678").number_type == "toll_free"
    assert analyze_phone("+80012345678").region is None  # international freephone


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+12125551234", ("America/New_York",)),
        ("+14165550123", ("America/Toronto",)),
        ("+17095550123", ("America/Halifax", "America/St_Johns")),
        ("+442079460000", ("Europe/London",)),
        ("+61298765432", ("Australia/Sydney",)),
        ("+61891234567", ("Australia/Adelaide", "Australia/Perth")),
        ("+80012345678", ()),  # phonenumbers says Etc/Unknown: unknown means none
        ("+12425550123", ()),  # invalid
        ("garbage", ()),
    ],
)
def test_candidate_time_zones(e164: str, expected: tuple[str, ...]) -> None:
    assert candidate_time_zones(e164) == expected


def test_non_geographic_numbers_get_every_zone_of_their_country() -> None:
    au_mobile = candidate_time_zones("+61412345678")
    assert {"Australia/Perth", "Australia/Sydney", "Australia/Lord_Howe"} <= set(au_mobile)
    toll_free = candidate_time_zones("+18002345678")
    assert {"America/New_York", "Pacific/Honolulu", "Pacific/Guam", "America/St_Johns"} <= set(toll_free)
    assert "Etc/Unknown" not in toll_free
