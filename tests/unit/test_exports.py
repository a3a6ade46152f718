"""Audience export rules: the hashed form ad platforms take (SHA-256 of E.164 without '+',
lowercase hex), the object key and the expiry."""

from __future__ import annotations

import pytest

from chalicelib.domain import exports

# Digests written out (from `printf '<digits>' | sha256sum`), not computed by the code under test.
VECTORS = [
    ("+16505551234", "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599"),
    ("+6591234567", "fd38d3edfeb70b7fb09e74e269d27f6fb24d5c75799b7e3d85604a5965a6623f"),
]


@pytest.mark.parametrize("phone, digest", VECTORS)
def test_a_phone_hashes_to_the_sha256_hex_of_its_e164_digits_without_plus(phone, digest):
    assert exports.phone_sha256(phone) == digest
    assert exports.line(phone) == digest + "\n"


def test_the_plus_is_not_hashed_and_the_hex_is_lowercase():
    with_plus = "a2996076d3ad4af5dc818b908b3d8e354f26ededf7df0e0aa6ac354143805ee0"  # sha256("+1650…")
    got = exports.phone_sha256("+16505551234")
    assert got != with_plus and got == got.lower() and len(got) == 64
    assert exports.phone_sha256("16505551234") == got     # already without '+': the same


@pytest.mark.parametrize("bad", ["", "+", "+65 9123 4567", "+65-91234567", "+6591234567x",
                                 "+1234567890123456", "+٦٥٩١٢٣٤٥٦٧"])
def test_what_is_not_an_e164_number_is_refused_not_hashed(bad):
    with pytest.raises(ValueError):
        exports.phone_sha256(bad)


def test_an_export_lives_under_its_own_key_and_expires_after_seven_days():
    assert exports.object_key("s1", "exp_1") == "exports/s1/exp_1.csv"
    day = 86_400_000
    assert exports.EXPIRY_DAYS == 7
    assert not exports.expired(0, 7 * day - 1)
    assert exports.expired(0, 7 * day)
