"""The template catalogue and how a recipient's text is chosen and filled."""

from __future__ import annotations

import pytest

from chalicelib.domain.automated import FIRES_ON
from chalicelib.domain.errors import Invalid
from chalicelib.domain.templates import (
    BY_ID,
    GOALS,
    LOCALES,
    PLACEHOLDER,
    TEMPLATES,
    listing,
    render,
    resolve_content,
)

KNOWN = {"name", "product", "voucher", "shop"}


def test_every_one_off_goal_has_several_templates():
    for goal in GOALS:
        assert len([t for t in TEMPLATES if t["goal"] == goal]) >= 2


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["template_id"] for t in TEMPLATES])
def test_every_template_speaks_every_locale_with_known_placeholders(template):
    assert set(template["text"]) == set(LOCALES)
    if template["kind"] == "automated":    # one per trigger: the goal is the trigger type
        assert template["goal"] in FIRES_ON
    else:
        assert template["kind"] == "one_off" and template["goal"] in GOALS
    english = set(PLACEHOLDER.findall(template["text"]["en"]))
    assert english <= KNOWN and "name" in english
    for locale, text in template["text"].items():
        # every translation carries the same placeholders as the English text
        assert set(PLACEHOLDER.findall(text)) == english, locale


def test_template_ids_are_unique():
    ids = [t["template_id"] for t in TEMPLATES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("recipient, default, used", [
    ("th", "en", "th"),
    ("th-TH", "en", "th"),          # region subtag falls back to the language
    ("VI", "en", "vi"),
    ("fr", "th", "th"),             # no French: the shop's default
    (None, "vi", "vi"),             # no language known: the shop's default
    ("fr", "de", "en"),             # neither: English
])
def test_recipient_gets_their_language_else_the_shops_default(recipient, default, used):
    texts = {"en": "Hi {name}", "th": "สวัสดี {name}", "vi": "Chào {name}"}
    text, locale = render(texts, recipient, default, {"name": "Ploy"})
    assert locale == used and text == texts[used].replace("{name}", "Ploy")


def test_render_falls_back_to_any_text_when_nothing_matches():
    assert render({"zh": "你好"}, "fr", "de", {}) == ("你好", "zh")


def test_placeholders_without_a_value_render_empty():
    text, _ = render({"en": "Hi {name}, {product} with {voucher} at {shop}. {unknown}!"}, "en", "en",
                     {"name": "Budi", "shop": "Demo Shop", "voucher": ""})
    assert text == "Hi Budi,  with  at Demo Shop. !"


def test_braces_that_are_not_placeholders_stay():
    assert render({"en": "{ 50% } {Name}"}, "en", "en", {"name": "x"})[0] == "{ 50% } {Name}"


def test_resolve_content_from_template_or_text():
    assert resolve_content({"template_id": "win_back"}) == BY_ID["win_back"]["text"]
    assert resolve_content({"text": {"en": "Hello"}}) == {"en": "Hello"}
    with pytest.raises(Invalid):
        resolve_content({"template_id": "nope"})
    with pytest.raises(Invalid):
        resolve_content({})


def test_listing_filters_by_goal_and_narrows_to_a_locale():
    loyalty = listing(goal="build_loyalty")
    assert {t["goal"] for t in loyalty} == {"build_loyalty"}
    thai = listing(locale="th")
    assert len(thai) == len(TEMPLATES) and all(list(t["text"]) == ["th"] for t in thai)
    automated = listing(kind="automated")   # one per trigger, every locale
    assert sorted(t["goal"] for t in automated) == sorted(
        ["abandoned_cart", "incomplete_payment", "price_drop", "live_reminder", "thank_you"])
    assert all(set(t["text"]) == set(LOCALES) for t in automated)
    # listing never hands out the catalogue's own dicts
    thai[0]["text"]["th"] = "changed"
    assert TEMPLATES[0]["text"]["th"] != "changed"
