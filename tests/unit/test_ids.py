"""API.md "Ids": the one id alphabet every key is built from (chalicelib/domain/ids.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from chalicelib.domain.errors import Invalid
from chalicelib.domain.ids import ID_PATTERN, KEY_SEPARATOR, Id, check_id, is_id


class Body(BaseModel):
    customer_id: Id


@pytest.mark.parametrize("value, ok", [
    ("c1", True), ("phone:+66812345678", True), ("a.b_c:d-e+f@g", True), ("x" * 128, True),
    ("", False), ("x" * 129, False), ("a#b", False), ("a b", False), ("a/b", False),
    ("a%3A", False), ("ลูกค้า", False), ("c1\n", False), ("\tc1", False), (7, False),
    (None, False),
])
def test_an_id_is_1_to_128_characters_of_the_id_alphabet(value, ok):
    assert is_id(value) is ok
    if ok:
        assert check_id(value, "customer_id") == value
        assert Body(customer_id=value).customer_id == value
    else:
        with pytest.raises(Invalid) as bad:
            check_id(value, "customer_id")
        assert bad.value.details[0]["path"] == "customer_id"
        with pytest.raises(ValueError):
            Body(customer_id=value)


def test_the_key_separator_is_not_in_the_id_alphabet():
    assert not is_id(KEY_SEPARATOR) and KEY_SEPARATOR not in ID_PATTERN


ids = st.from_regex(ID_PATTERN, fullmatch=True)


@given(ids, ids, ids, ids)
def test_no_two_seller_and_id_pairs_compose_the_same_key(s1, i1, s2, i2):
    # the layout of store/: f"{seller_id}#{id}" (and seller#a#b keys built the same way)
    if (s1, i1) != (s2, i2):
        assert f"{s1}#{i1}" != f"{s2}#{i2}"
    assert f"{s1}#{i1}".split(KEY_SEPARATOR, 1) == [s1, i1]


def test_the_pair_that_would_collide_has_a_half_that_is_no_id():
    # seller "a" + id "b#c" and seller "a#b" + id "c" would both be "a#b#c"
    assert f"{'a'}#{'b#c'}" == f"{'a#b'}#{'c'}"
    assert not is_id("b#c") and not is_id("a#b")
