"""The import file reader (pure): decoding, columns, phones, duplicates, tags, limits."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Invalid, TooLarge
from chalicelib.domain.importer import MAX_ROWS, check_region, normalise, parse

TAGS = {"vip": "t-vip", "lead": "t-lead", "highvalue": "t-hv"}


@pytest.mark.parametrize("raw,region,e164", [
    ("+66 81 234 5678", None, "+66812345678"),
    ("+66-81-234-5678", None, "+66812345678"),
    ("(081) 234-5678", "TH", "+66812345678"),
    ("081.234.5678", "TH", "+66812345678"),
    ("'0812345678", "TH", "+66812345678"),          # spreadsheet text marker
    ("0066812345678", None, "+66812345678"),        # 00 international prefix
    ("0912345678", "VN", "+84912345678"),
    ("+84 91 234 5678", "TH", "+84912345678"),      # a country code beats the region
    ("0812\u00a0345\u2013678", "TH", "+66812345678"),  # no-break space, en dash
])
def test_phones_are_normalised_to_e164(raw, region, e164):
    assert normalise(raw, region) == (e164, None)


@pytest.mark.parametrize("raw,region,reason", [
    ("", "TH", "empty"),
    ("call me", "TH", "letters"),
    ("0812345678", None, "no country code"),
    ("+6612", None, "too short"),
    ("+6681234567890123", None, "too long"),
    ("+999 123 4567", None, "country code"),
    ("+66 11 234 5678", None, "not a valid number"),
])
def test_invalid_phones_come_with_a_reason(raw, region, reason):
    phone, why = normalise(raw, region)
    assert phone is None and reason in why


@pytest.mark.parametrize("region,expected", [("th", "TH"), (" VN ", "VN"), (None, None),
                                             ("", None)])
def test_region_codes(region, expected):
    assert check_region(region) == expected


def test_an_unknown_region_is_invalid():
    with pytest.raises(Invalid) as err:
        check_region("XX")
    assert err.value.details[0]["path"] == "default_region"


def test_rows_tags_names_and_report():
    raw = (b'phone,tags,name\n'
           b'+66812345678,"vip, Lead , ghost",  Malee  Srisuk \n'
           b'+66812345679,,\n'
           b'\n'
           b'+66 81 234 5678,vip,Again\n'
           b'nope,vip,X\n')
    plan = parse(raw, None, TAGS)
    assert plan.rows == 4                           # the blank line is not a row
    assert [(r.row, r.phone, r.name, r.tag_ids) for r in plan.accepted] == [
        (1, "+66812345678", "Malee Srisuk", ("t-vip", "t-lead")),
        (2, "+66812345679", None, ())]
    report = plan.report()
    assert (report["imported"], report["failed"], report["duplicates"]) == (2, 1, 1)
    assert [e["row"] for e in report["errors"]] == [3, 4]
    assert report["duplicate_rows"] == [{"row": 3, "first_row": 1}]
    assert report["tags_ignored"] == [{"row": 1, "tag": "ghost"}]


def test_the_first_occurrence_of_a_phone_wins():
    plan = parse(b"phone,tags\n0812345678,lead\n+66812345678,vip\n", "TH", TAGS)
    assert [(r.row, r.tag_ids) for r in plan.accepted] == [(1, ("t-lead",))]
    assert plan.duplicates[0]["first_row"] == 1


@pytest.mark.parametrize("raw", [
    "\ufeffphone,tags\n+66812345678,vip\n".encode(),                   # BOM
    b"Phone Number;Tags\n+66812345678;vip\n",                          # semicolons
    b"phone\ttags\n+66812345678\tvip\n",                               # TXT with tabs
    b"PHONE,TAGS\r\n+66812345678,vip\r\n",                             # Windows line ends
    b"name,tags,mobile\nM,vip,+66812345678\n",                         # any column order
])
def test_file_shapes_that_are_accepted(raw):
    plan = parse(raw, None, TAGS)
    assert [(r.phone, r.tag_ids) for r in plan.accepted] == [("+66812345678", ("t-vip",))]


@pytest.mark.parametrize("tags_cell,ids", [("vip，lead", ("t-vip", "t-lead")),
                                           ("vip; lead", ("t-vip", "t-lead")),
                                           ("High Value", ("t-hv",)), ("vip,vip", ("t-vip",))])
def test_tag_separators_and_name_matching(tags_cell, ids):
    plan = parse(f'phone,tags\n+66812345678,"{tags_cell}"\n'.encode(), None, TAGS)
    assert plan.accepted[0].tag_ids == ids


@pytest.mark.parametrize("raw,words", [
    (b"\xff\xfep\x00h\x00", "not UTF-8"),
    ("phone\n+66812345678\n".encode("utf-16-le"), "not UTF-8"),
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"tel_no,tags\n+66812345678,vip\n", "no phone column"),
    (b'phone,tags\n+66812345678,"vip\n', "cannot be read as CSV"),
    (b'phone,tags\n"+66812345678"vip,x\n', "cannot be read as CSV"),
])
def test_files_that_cannot_be_read_as_a_whole_are_invalid(raw, words):
    with pytest.raises(Invalid) as err:
        parse(raw, "TH", TAGS)
    assert words in err.value.message


def test_at_most_5000_data_rows():
    ok = "phone\n" + "".join(f"+6681{i:07d}\n" for i in range(MAX_ROWS))
    assert parse(ok.encode(), None, {}).rows == MAX_ROWS
    with pytest.raises(TooLarge):
        parse((ok + "+66899999999\n").encode(), None, {})


def test_a_name_too_long_fails_the_row():
    plan = parse(f"phone,name\n+66812345678,{'x' * 201}\n".encode(), None, {})
    assert plan.accepted == [] and "name" in plan.failures[0]["reason"]


def test_5000_messy_rows_are_each_imported_failed_or_duplicate():
    import random

    rng = random.Random(3)
    shapes = ["+66{n}", "0{n}", "+66 {a}-{b}-{c}", "(0{a}) {b} {c}", "66{n}", " 0{n} "]
    bad = ["abc", "12", "+99912345", "", "0", "+66 11 234 5678", "tel:0812"]
    lines, valid = [], 0
    for i in range(MAX_ROWS):
        n = f"81{rng.randint(0, 9_999_999):07d}"     # random: repeats happen on their own
        if rng.random() < 0.15:
            phone = rng.choice(bad)
        else:
            phone = rng.choice(shapes).format(n=n, a=n[:2], b=n[2:5], c=n[5:])
            valid += 1
        lines.append(f'"{phone}","vip, {rng.choice(["lead", "ghost", ""])}",Name {i}')
    plan = parse(("phone,tags,name\n" + "\n".join(lines)).encode(), "TH", TAGS)
    report = plan.report()
    assert report["rows"] == MAX_ROWS
    assert report["imported"] + report["failed"] + report["duplicates"] == MAX_ROWS
    assert len(report["errors"]) == report["failed"] + report["duplicates"]
    assert len({r.phone for r in plan.accepted}) == report["imported"]
    assert report["failed"] >= MAX_ROWS - valid      # every bad shape fails ("66…" may too)
