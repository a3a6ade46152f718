"""CSV/TXT import over the HTTP contract (moto in-process)."""

from __future__ import annotations

import random

import pytest

from chalicelib.domain.importer import MAX_TAGS_IGNORED
from chalicelib.store import customers as repo

CSV = {"Content-Type": "text/csv"}


def make_tag(api, name):
    assert api.post("/v1/tags", {"name": name, "dimension": "custom"}).status_code == 201


def upload(api, text, query="", content_type="text/csv"):
    raw = text.encode() if isinstance(text, str) else text
    return api.post(f"/v1/imports{query}", raw=raw, headers={"Content-Type": content_type})


def audit_count(api):
    return len(api.get("/v1/tags/audit?limit=200").json["items"])


def customer_ids(seller):
    return sorted(c.customer_id for c in repo.scan_seller(seller))


def test_import_creates_customers_with_phone_ids_names_and_tags(api):
    make_tag(api, "vip")
    make_tag(api, "Lead")
    text = ('phone,tags,name\n'
            '+66 81-234-5678,"vip, lead",Malee\n'
            '(081) 234 5679,lead,Somchai\n')
    r = upload(api, text, "?default_region=TH")
    assert r.status_code == 201, r.json
    report = r.json
    assert {k: report[k] for k in ("rows", "imported", "failed", "duplicates")} == {
        "rows": 2, "imported": 2, "failed": 0, "duplicates": 0}
    assert report["errors"] == [] and report["tags_ignored"] == []
    assert report["import_id"] and report["customers_created"] == 2
    c = api.get("/v1/customers/phone:+66812345678").json
    assert (c["name"], c["phone"], c["tags"]) == ("Malee", "+66812345678", ["Lead", "vip"])
    assert api.get("/v1/customers/phone:+66812345679").json["tags"] == ["Lead"]
    added = [e for e in api.get("/v1/tags/audit").json["items"] if e["action"] == "added"]
    assert len(added) == 3 and all(e["reason"] == f"import {report['import_id']}" for e in added)


def test_an_existing_customer_is_matched_by_phone_and_keeps_its_name(api):
    make_tag(api, "vip")
    api.put("/v1/customers/c-42", {"name": "Known Name", "phone": "+84912345678"})
    r = upload(api, "phone,tags,name\n+84 91 234 5678,vip,Other Name\n")
    assert r.json["imported"] == 1 and r.json["customers_updated"] == 1
    assert customer_ids(api.seller_id) == ["c-42"]
    c = api.get("/v1/customers/c-42").json
    assert (c["name"], c["tags"]) == ("Known Name", ["vip"])


def test_reimporting_the_same_file_changes_nothing(api):
    make_tag(api, "vip")
    text = "phone,tags,name\n+66812345678,vip,A\n+66812345679,\"vip,unknown\",B\n"
    first = upload(api, text).json
    before = (customer_ids(api.seller_id), audit_count(api),
              {c.customer_id: c.version for c in repo.scan_seller(api.seller_id)})
    second = upload(api, text)
    assert second.status_code == 201
    assert second.json["import_id"] != first["import_id"]
    assert second.json["imported"] == 2 and second.json["unchanged"] == 2
    assert second.json["customers_created"] == 0 and second.json["tags_added"] == 0
    after = (customer_ids(api.seller_id), audit_count(api),
             {c.customer_id: c.version for c in repo.scan_seller(api.seller_id)})
    assert after == before
    # a re-import still counts towards the hourly limit
    assert upload(api, text).status_code == 201
    assert upload(api, text).status_code == 429


def test_unknown_tags_are_ignored_per_row_and_the_rest_apply(api):
    make_tag(api, "vip")
    r = upload(api, 'phone,tags\n+66812345678,"ghost, VIP ,ghost2"\n+66812345679,ghost\n')
    assert r.json["tags_ignored"] == [{"row": 1, "tag": "ghost"}, {"row": 1, "tag": "ghost2"},
                                      {"row": 2, "tag": "ghost"}]
    assert r.json["imported"] == 2
    assert api.get("/v1/customers/phone:+66812345678").json["tags"] == ["vip"]
    assert api.get("/v1/customers/phone:+66812345679").json["tags"] == []


def test_an_ignored_tag_is_reported_once_per_row(api):
    r = upload(api, 'phone,tags\n+66812345678,"ghost, Ghost ,GHOST,gh ost"\n+66812345679,ghost\n')
    assert r.status_code == 201
    assert r.json["tags_ignored"] == [{"row": 1, "tag": "ghost"}, {"row": 2, "tag": "ghost"}]
    assert r.json["tags_ignored_count"] == 2


def test_the_import_report_stays_bounded_however_many_tags_are_ignored(api):
    """A file whose tags cells hold 360,000 unknown tags: the report (one DynamoDB item,
    400 KB at most, and the response) lists the first MAX_TAGS_IGNORED and counts them all."""
    rng = random.Random(9)
    cells = [[f"{rng.getrandbits(32):08x}" for _ in range(12_000)] for _ in range(30)]
    lines = [f'+668123{i:05d},"' + ",".join(tags) + '"' for i, tags in enumerate(cells)]
    r = upload(api, "phone,tags\n" + "\n".join(lines) + "\n")
    assert r.status_code == 201, r.body[:300]
    assert r.json["imported"] == len(cells)
    assert len(r.json["tags_ignored"]) == MAX_TAGS_IGNORED
    assert r.json["tags_ignored_count"] == sum(len(set(tags)) for tags in cells)
    again = api.get(f"/v1/imports/{r.json['import_id']}").json
    assert again["tags_ignored"] == r.json["tags_ignored"]


def test_invalid_and_duplicate_phones_are_reported_by_row(api):
    text = ("phone\n"
            "+66812345678\n"      # 1 ok
            "hello\n"             # 2 letters
            "081 234 5678\n"      # 3 no country code, no region
            "+66 81 234 5678\n"   # 4 duplicate of 1
            "+6612\n"             # 5 too short
            ",vip\n"              # 6 empty phone
            "+999123456789\n")    # 7 unknown country code
    r = upload(api, text)
    report = r.json
    assert (report["rows"], report["imported"], report["failed"], report["duplicates"]) == (7, 1, 5, 1)
    reasons = {e["row"]: e["reason"] for e in report["errors"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert "letters" in reasons[2] and "default region" in reasons[3]
    assert "row 1" in reasons[4] and "too short" in reasons[5]
    assert "empty" in reasons[6] and "country code" in reasons[7]
    assert report["duplicate_rows"] == [{"row": 4, "first_row": 1}]


def test_default_region_comes_from_the_shop_settings(api):
    assert api.put("/v1/settings", {"default_region": "VN"}).status_code == 200
    r = upload(api, "phone\n0912345678\n")
    assert r.json["imported"] == 1, r.json
    assert api.get("/v1/customers/phone:+84912345678").status_code == 200
    # the query parameter wins over the settings
    r = upload(api, "phone\n0812345678\n", "?default_region=th")
    assert api.get("/v1/customers/phone:+66812345678").status_code == 200


def test_an_unknown_default_region_is_400(api):
    r = upload(api, "phone\n0812345678\n", "?default_region=XX")
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "default_region"


def test_txt_with_the_same_columns_is_accepted(api):
    make_tag(api, "vip")
    r = upload(api, "phone\ttags\tname\n+66812345678\tvip\tMalee\n", content_type="text/plain")
    assert r.status_code == 201 and r.json["imported"] == 1
    assert api.get("/v1/customers/phone:+66812345678").json["tags"] == ["vip"]


def test_a_bom_is_tolerated(api):
    r = upload(api, "\ufeffPhone,Name\n+66812345678,Malee\n".encode())
    assert r.status_code == 201 and r.json["imported"] == 1


@pytest.mark.parametrize("raw,words", [
    ("phone,tags\n+66812345678,vip\n".encode("utf-16"), "UTF-8"),
    (b"phone,name\n+66812345678,\xe9t\xe9\n", "UTF-8"),
    (b"mobile_no,tags\n+66812345678,vip\n", "phone column"),
    (b'phone,tags\n+66812345678,"vip\n+66812345679,x\n', "quote"),
    (b'phone,tags\n"+66812345678"x,vip\n', "quote"),
    (b"", "empty"),
])
def test_malformed_files_are_400_naming_the_problem_and_write_nothing(api, raw, words):
    r = upload(api, raw)
    assert r.status_code == 400 and r.json["error"]["code"] == "validation_error"
    assert words.lower() in r.json["error"]["message"].lower()
    assert customer_ids(api.seller_id) == []


def test_more_than_5000_rows_is_413_and_writes_nothing(api):
    rows = "".join(f"+6681{i:07d}\n" for i in range(5001))
    r = upload(api, "phone\n" + rows)
    assert r.status_code == 413 and r.json["error"]["code"] == "too_large"
    assert customer_ids(api.seller_id) == []


def test_a_fourth_import_within_the_hour_is_429_and_refusals_do_not_count(api):
    assert upload(api, b"no phone here\n1\n").status_code == 400      # refused: not counted
    for i in range(3):
        assert upload(api, f"phone\n+6681234567{i}\n").status_code == 201
    r = upload(api, "phone\n+66812345679\n")
    assert r.status_code == 429 and r.json["error"]["code"] == "rate_limited"
    assert 3500 <= int(r.headers["Retry-After"]) <= 3600
    assert api.get("/v1/customers/phone:+66812345679").status_code == 404
    # another seller has its own allowance
    assert upload(api.as_seller(api.seller_id + "-b"), "phone\n+66812345679\n").status_code == 201


def test_the_report_can_be_read_back_and_only_by_its_seller(api):
    report = upload(api, "phone\n+66812345678\nbad\n").json
    r = api.as_role("viewer").get(f"/v1/imports/{report['import_id']}")
    assert r.status_code == 200 and r.json == report
    assert api.as_seller("someone-else").get(f"/v1/imports/{report['import_id']}").status_code == 404
    assert api.get("/v1/imports/imp_nope").status_code == 404


def test_imports_need_operator_and_a_csv_content_type(api):
    assert api.as_role("viewer").post("/v1/imports", raw=b"phone\n",
                                      headers=CSV).status_code == 403
    r = api.post("/v1/imports", {"phone": "+66812345678"})   # JSON body
    assert r.status_code == 400


def messy_rows(count, seed=7, bad_share=0.3, dup_share=0.3):
    """(csv text, expected failures, expected duplicates): valid numbers in many shapes,
    invalid ones, and repeats of earlier numbers (in other shapes)."""
    rng = random.Random(seed)
    lines, seen, failed, dups = [], [], 0, 0
    for i in range(count):
        roll = rng.random()
        if roll < dup_share and seen:
            lines.append(f"{rng.choice(seen)},vip")
            dups += 1
        elif roll < dup_share + bad_share:
            lines.append(rng.choice(["abc", "12", "+99912345", "", "0"]) + ",vip")
            failed += 1
        else:
            n = f"81{i:07d}"
            shape = rng.choice([f"+66{n}", f"0{n}", f"+66 {n[:2]}-{n[2:5]}-{n[5:]}",
                                f"(0{n[:2]}) {n[2:5]} {n[5:]}"])
            seen.append(f'"+66 {n}"')
            lines.append(f'"{shape}","vip,ghost",Name {i}')
    return "phone,tags,name\n" + "\n".join(lines) + "\n", failed, dups


def test_5000_messy_rows_account_for_every_row(api):
    make_tag(api, "vip")
    text, failed, dups = messy_rows(5000)
    report = upload(api, text, "?default_region=TH").json
    assert report["rows"] == 5000
    assert report["imported"] + report["failed"] + report["duplicates"] == 5000
    assert (report["failed"], report["duplicates"]) == (failed, dups)
    assert len(customer_ids(api.seller_id)) == report["imported"]
    # issue 9: tags_ignored is capped (MAX_TAGS_IGNORED) and counted; it used to list all
    assert report["tags_ignored_count"] == report["imported"]
    assert len(report["tags_ignored"]) == min(report["imported"], MAX_TAGS_IGNORED)
