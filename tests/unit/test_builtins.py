"""The seven built-in segments of SPEC.md §2 at their boundaries ("in the last N days" means
now - N*24h <= t <= now; refunded orders stop counting)."""

from __future__ import annotations

import pytest

from chalicelib.domain import builtins, rules
from tests.unit.segment_profiles import NOW_MS, agg_of, event, order, profile


def members(*events) -> set[str]:
    return set(builtins.memberships(agg_of(*events), NOW_MS))


def test_there_are_exactly_seven_builtins_each_a_valid_rule():
    assert list(builtins.BUILTIN_SEGMENTS) == ["potential_new", "recent", "repeat", "loyal",
                                               "lapsed", "new_followers", "active_followers"]
    for seg, rule in builtins.BUILTIN_RULES.items():
        assert rules.parse(rule).problems == [], seg


@pytest.mark.parametrize("events, inside", [
    ([event("cart_added", 29)], True),
    ([event("cart_added", 30)], True),
    ([event("cart_added", 31)], False),
    ([event("favorited", 30)], True),
    ([event("favorited", 31)], False),
    ([event("product_viewed", 1)], False),
    ([event("cart_added", 5), *order(200)], False),
    ([event("cart_added", 5), *order(200, refunded_days_ago=190)], True),
    ([], False),
], ids=["cart_29", "cart_30", "cart_31", "fav_30", "fav_31", "view_only", "has_ordered",
        "refunded_order_is_no_order", "nothing"])
def test_potential_new_is_never_ordered_and_carted_or_favourited_in_30_days(events, inside):
    assert ("potential_new" in members(*events)) is inside


@pytest.mark.parametrize("events, inside", [
    (order(29), True),
    (order(30), True),
    (order(31), False),
    (order(10) + order(40), False),
    (order(10) + order(20), True),
    (order(10) + order(40, refunded_days_ago=35), True),
    (order(10, refunded_days_ago=5), False),
], ids=["first_29", "first_30", "first_31", "earlier_order_40", "two_first_orders_inside",
        "refunded_earlier_order_does_not_count", "only_order_refunded"])
def test_recent_is_first_order_ever_in_the_last_30_days(events, inside):
    assert ("recent" in members(*events)) is inside


@pytest.mark.parametrize("events, inside", [
    (order(10), False),
    (order(10) + order(40), True),
    (order(5) + order(20), True),
    (order(30) + order(100), True),
    (order(31) + order(100), False),
    (order(10) + order(40, refunded_days_ago=38), False),
    (order(10, refunded_days_ago=9) + order(40), False),
    (order(10) + order(400), True),
], ids=["first_order_in_window_alone", "earlier_order", "two_orders_in_window", "boundary_30",
        "boundary_31", "earlier_order_refunded", "window_order_refunded", "earlier_order_folded"])
def test_repeat_requires_an_order_in_30_days_and_an_earlier_order(events, inside):
    assert ("repeat" in members(*events)) is inside


@pytest.mark.parametrize("events, inside", [
    (order(10) + order(89), True),
    (order(10) + order(90), True),
    (order(10) + order(91), False),
    (order(10), False),
    (order(1) + order(2) + order(3, refunded_days_ago=2), True),
    (order(1) + order(3, refunded_days_ago=2), False),
], ids=["89", "90", "91", "one_order", "three_minus_refund", "two_minus_refund"])
def test_loyal_is_two_or_more_orders_in_90_days(events, inside):
    assert ("loyal" in members(*events)) is inside


@pytest.mark.parametrize("events, inside", [
    (order(364), True),
    (order(365), True),
    (order(366), False),
    (order(91), True),
    (order(90), False),
    (order(89), False),
    (order(200) + order(10), False),
    (order(200, refunded_days_ago=150), False),
    (order(200) + order(10, refunded_days_ago=5), True),
], ids=["364", "365", "366", "91", "90", "89", "recent_order_too", "refunded",
        "recent_one_refunded"])
def test_lapsed_is_an_order_in_365_days_and_none_in_90(events, inside):
    assert ("lapsed" in members(*events)) is inside


@pytest.mark.parametrize("events, inside", [
    ([event("followed", 29)], True),
    ([event("followed", 30)], True),
    ([event("followed", 31)], False),
    ([event("followed", 10), event("unfollowed", 5)], False),
    ([event("followed", 40), event("unfollowed", 35), event("followed", 10)], True),
    ([event("followed", 100), event("unfollowed", 50), event("followed", 31)], False),
    ([event("unfollowed", 5), event("followed", 10)], False),
], ids=["29", "30", "31", "unfollow_after_follow", "follow_again", "follow_again_31",
        "unfollow_last_whatever_the_arrival_order"])
def test_new_followers_follow_now_and_followed_within_30_days(events, inside):
    assert ("new_followers" in members(*events)) is inside


@pytest.mark.parametrize("events, inside", [
    ([event("followed", 100), event("live_viewed", 10)], True),
    ([event("followed", 100), event("live_clicked", 30)], True),
    ([event("followed", 100), event("video_liked", 30)], True),
    ([event("followed", 100), event("video_viewed", 1)], True),
    ([event("followed", 100), event("video_clicked", 1)], True),
    ([event("followed", 100), event("product_card_clicked", 29)], True),
    ([event("followed", 100), event("product_card_clicked", 31)], False),
    ([event("followed", 100), event("product_viewed", 1)], False),
    ([event("live_viewed", 1)], False),
    ([event("followed", 100), event("unfollowed", 20), event("live_viewed", 1)], False),
], ids=["live_view", "live_click_30", "video_like_30", "video_view", "video_click",
        "card_29", "card_31", "product_view_is_not_engagement", "not_a_follower",
        "unfollowed"])
def test_active_followers_follow_now_and_engaged_in_30_days(events, inside):
    assert ("active_followers" in members(*events)) is inside


def test_memberships_are_listed_in_catalogue_order():
    got = builtins.memberships(agg_of(*order(10), *order(40), event("followed", 3),
                                      event("live_viewed", 2)), NOW_MS)
    assert got == ["repeat", "loyal", "new_followers", "active_followers"]


def test_memberships_of_a_profile_equal_memberships_of_its_aggregates():
    p = profile(*order(10), *order(40), event("followed", 3))
    assert builtins.memberships_of(p, NOW_MS) == ["repeat", "loyal", "new_followers"]
