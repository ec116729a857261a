"""The rolling window with an injected clock: buckets, expiry on time, top lists, visits, recent feed, current."""

from __future__ import annotations

import random

from tests.live.helpers import T0_MS, FakeClock, entry, event
from trail.live.aggregator import Aggregator
from trail.live.window import MINUTE_MS, LiveEvent, SiteWindow


def live(ev) -> LiveEvent:  # type: ignore[no-untyped-def]
    return LiveEvent.from_payload(ev.to_payload())


def test_counts_and_per_minute() -> None:
    w, now = SiteWindow(1), T0_MS
    w.add(live(event(1, now - 3 * MINUTE_MS, visitor=1)), now)
    w.add(live(event(1, now - 3 * MINUTE_MS, visitor=1, path="/b")), now)
    w.add(live(event(1, now - 1000, visitor=2)), now)
    w.add(live(event(1, now - 1000, name="signup", visitor=2)), now)
    w.add(live(event(1, now - 500, name="engagement", visitor=3)), now)  # never counts
    w.expire(now)
    s = w.snapshot(now, "x.test")
    assert (s.visitors_last_30m, s.pageviews_last_30m, s.current_visitors) == (2, 3, 2)
    assert len(s.per_minute) == 30
    assert s.per_minute[-1] == (now // MINUTE_MS * MINUTE_MS, 1, 1)  # the current, partial minute is last
    assert s.per_minute[-4] == ((now // MINUTE_MS - 3) * MINUTE_MS, 2, 1)
    assert sum(pv for _, pv, _ in s.per_minute) == s.pageviews_last_30m
    assert s.top_pages == [("/", 2), ("/b", 1)]
    assert s.top_events == [("signup", 1)]
    assert [r.name for r in s.recent] == ["signup", "pageview", "pageview", "pageview"]


def test_minutes_expire_on_time() -> None:
    clock = FakeClock()
    agg = Aggregator()
    agg.add_entries([entry(event(7, clock.ms, visitor=v, path=f"/p{v}")) for v in range(5)], clock.ms)
    agg.advance(clock.ms)
    assert agg.snapshot(7, "x", clock.ms).visitors_last_30m == 5
    clock.advance(4 * 60 + 29)  # 4:29 later: still current (the events are 4:29 old)
    assert agg.advance(clock.ms) == set()
    assert agg.snapshot(7, "x", clock.ms).current_visitors == 5
    clock.advance(32)  # 5:01 old: no longer current, still in the 30 minutes
    assert agg.advance(clock.ms) == {7}
    s = agg.snapshot(7, "x", clock.ms)
    assert (s.current_visitors, s.visitors_last_30m, s.pageviews_last_30m) == (0, 5, 5)
    # the events' minute is the oldest of the window until 29 minutes later, then it falls out at once
    clock.ms = (T0_MS // MINUTE_MS + 29) * MINUTE_MS + 59_999
    agg.advance(clock.ms)
    assert agg.snapshot(7, "x", clock.ms).per_minute[0][1] == 5
    clock.advance(0.001)
    assert agg.advance(clock.ms) == {7}
    s = agg.snapshot(7, "x", clock.ms)
    assert (s.visitors_last_30m, s.pageviews_last_30m, s.top_pages, s.recent) == (0, 0, [], [])
    assert 7 not in agg.windows  # an empty window is dropped: memory follows traffic


def test_late_events_older_than_the_window_are_ignored() -> None:
    w, now = SiteWindow(1), T0_MS
    w.expire(now)
    assert not w.add(live(event(1, now - 31 * MINUTE_MS)), now)
    assert w.snapshot(now).pageviews_last_30m == 0


def test_top_lists_sorted_and_capped() -> None:
    w, now = SiteWindow(1), T0_MS
    for i in range(15):
        for v in range(i + 1):
            w.add(live(event(1, now - 1000, visitor=100 * i + v, path=f"/p{i:02d}", country="DE")), now)
    s = w.snapshot(now)
    assert len(s.top_pages) == 10
    assert s.top_pages[0] == ("/p14", 15) and s.top_pages[-1] == ("/p05", 6)
    assert [n for _, n in s.top_pages] == sorted((n for _, n in s.top_pages), reverse=True)


def test_visit_attributes_come_from_the_first_event_of_the_visit_in_the_window() -> None:
    """A visit entering from Google then browsing (internal referrer: no source) counts once, for Google."""
    clock = FakeClock()
    agg = Aggregator()
    start = clock.ms
    agg.add_entries([entry(event(1, start, visitor=1, session=11, source="Google", country="FR")),
                     entry(event(1, start + 2 * MINUTE_MS, visitor=1, session=11, source="", country="FR")),
                     entry(event(1, start + 2 * MINUTE_MS, visitor=2, session=21, source="", country="DE"))],
                    start + 2 * MINUTE_MS)
    clock.ms = start + 2 * MINUTE_MS
    s = agg.snapshot(1, "x", clock.ms)
    assert dict(s.top_sources) == {"Google": 1, "Direct / None": 1}
    assert dict(s.top_countries) == {"FR": 1, "DE": 1}
    # 29 minutes later the Google pageview leaves the window: the visit now starts with its second event
    clock.ms = (start // MINUTE_MS + 30) * MINUTE_MS
    agg.advance(clock.ms)
    s = agg.snapshot(1, "x", clock.ms)
    assert dict(s.top_sources) == {"Direct / None": 2}
    assert s.visitors_last_30m == 2


def test_a_visitor_with_two_visits_counts_once_per_source() -> None:
    w, now = SiteWindow(1), T0_MS
    w.add(live(event(1, now - 5000, visitor=1, session=1, source="Google")), now)
    w.add(live(event(1, now - 4000, visitor=1, session=2, source="Google")), now)
    w.add(live(event(1, now - 3000, visitor=1, session=3, source="Bing")), now)
    assert dict(w.snapshot(now).top_sources) == {"Google": 1, "Bing": 1}


def test_recent_feed_newest_first_capped_and_without_personal_data() -> None:
    w, now = SiteWindow(1), T0_MS
    order = list(range(30))
    random.Random(4).shuffle(order)
    for i in order:  # out of order arrival: the feed is still by time
        w.add(live(event(1, now - 60_000 + i * 1000, visitor=i, path=f"/{i}", country="SE", source="GitHub")), now)
    feed = w.snapshot(now).recent
    assert [r.path for r in feed] == [f"/{i}" for i in range(29, 9, -1)]
    assert set(feed[0].to_json()) == {"ts", "name", "path", "country", "source", "device"}
    assert feed[0].to_json()["ts"].endswith("Z")


def test_current_visitors_is_exactly_the_last_five_minutes() -> None:
    w, now = SiteWindow(1), T0_MS
    w.add(live(event(1, now - 5 * MINUTE_MS - 1, visitor=1)), now)  # 1 ms too old
    w.add(live(event(1, now - 5 * MINUTE_MS, visitor=2)), now)  # exactly on the edge: counts (ts >= now - 5 min)
    w.add(live(event(1, now - 10 * MINUTE_MS, visitor=3)), now)
    w.add(live(event(1, now - 1 * MINUTE_MS, visitor=3)), now)  # visitor 3 is back
    w.add(live(event(1, now - 1000, name="engagement", visitor=4)), now)  # engagement is not a visit
    w.expire(now)
    assert w.current_visitors(now) == 2


def test_a_returning_visitor_holds_one_expiry_entry_and_leaves_exactly_five_minutes_after_its_last_event() -> None:
    w, now = SiteWindow(1), T0_MS
    for second in range(0, 240, 2):  # one visitor, an event every 2 s for 4 minutes
        w.add(live(event(1, now + second * 1000, visitor=7)), now + second * 1000)
    w.add(live(event(1, now + 1000, visitor=7)), now + 240_000)  # late and out of order: changes nothing
    assert len(w._seen_heap) == 1  # not one per event
    last = now + 238_000
    w.expire(last + 5 * MINUTE_MS)  # the entry comes up (its first event is long gone) and moves to the last one
    assert w.current_visitors(last + 5 * MINUTE_MS) == 1 and len(w._seen_heap) == 1
    w.expire(last + 5 * MINUTE_MS + 1)
    assert w.current_visitors(last + 5 * MINUTE_MS + 1) == 0 and w._seen_heap == []


def test_adding_a_batch_gives_what_adding_its_events_one_by_one_gives() -> None:
    """SiteWindow.add_many (what the live tail uses) against add, event by event: the same snapshots (counts, top
    lists, visit attributes, recent feed, version) and current visitors, batch after batch, as minutes expire."""
    for seed in range(150):
        rng = random.Random(seed)
        one, many, now = SiteWindow(1), SiteWindow(1), T0_MS
        for _ in range(rng.randint(1, 12)):
            now += rng.choice((0, 900, 20_000, 61_000, 4 * MINUTE_MS))
            batch = []
            for _ in range(rng.choice((1, 3, 25, 60))):
                visitor = rng.randint(1, 12)
                ts = now + rng.choice((-31, -6, -5, -1, 0, 0, 0, 1)) * MINUTE_MS + rng.randint(-2, 2) * 500  # ties too
                batch.append(live(event(1, ts, name=rng.choice(("pageview", "pageview", "Signup", "engagement")),
                                        visitor=visitor, session=visitor * 10 + rng.randint(0, 1),
                                        path=rng.choice(("/", "/a", "/b")), source=rng.choice(("", "Google")),
                                        country=rng.choice(("DE", "FR")), device=rng.choice(("Desktop", "")))))
            shown = [one.add(ev, now) for ev in batch]
            assert many.add_many(batch, now) == any(shown), seed
            if rng.random() < 0.5:
                assert one.expire(now) == many.expire(now), seed
            one.expire(now)
            many.expire(now)
            assert one.snapshot(now) == many.snapshot(now), seed
            assert one.current_visitors(now) == many.current_visitors(now), seed


def test_a_visitor_counted_in_one_minute_by_several_calls_leaves_with_that_minute() -> None:
    w, now = SiteWindow(1), T0_MS
    w.add(live(event(1, now, visitor=1, path="/a")), now)
    w.add(live(event(1, now + 1, visitor=1, path="/a", name="Signup")), now + 1)
    w.add_many([live(event(1, now + 2, visitor=1, path="/a")), live(event(1, now + 3, visitor=1))], now + 3)
    snap = w.snapshot(now + 3)
    assert (snap.visitors_last_30m, snap.pageviews_last_30m, snap.top_pages) == (1, 3, [("/", 1), ("/a", 1)])
    later = now + 30 * MINUTE_MS  # the minute of all four events has left the window
    w.expire(later)
    snap = w.snapshot(later)
    assert (snap.visitors_last_30m, snap.pageviews_last_30m, snap.top_pages, snap.top_events) == (0, 0, [], [])
    assert w.empty


def test_memory_stays_flat_over_many_minutes() -> None:
    clock = FakeClock()
    agg = Aggregator()
    for minute in range(120):
        agg.add_entries([entry(event(1, clock.ms, visitor=minute * 100 + v, path=f"/{v}")) for v in range(20)],
                        clock.ms)
        agg.advance(clock.ms)
        clock.advance(60)
    w = agg.windows[1]
    assert len(w._buckets) <= 30 and len(w._visits) <= 30 * 20 and len(w._seen_heap) <= 6 * 20


def test_unreadable_entries_are_counted_and_skipped() -> None:
    """A payload without the fields the window reads, or with wrongly typed ones, must not stop the live feed."""
    from trail.live.broker import Entry

    agg, now = Aggregator(), T0_MS
    good = entry(event(3, now - 1000, visitor=1))
    bad = [Entry("1-1", b"not json"), Entry("1-2", b'{"ts": 1, "name": "pageview"}'),
           Entry("1-3", b'{"site_id": "3", "ts": 1, "name": "pageview"}'), Entry("1-4", b"[1, 2]")]
    assert agg.add_entries([*bad, good], now) == {3}
    assert agg.bad_entries == len(bad)
    assert agg.snapshot(3, "x", now).pageviews_last_30m == 1


def test_live_event_reads_only_its_fields_from_a_payload() -> None:
    ev = event(4, T0_MS, visitor=9, path="/pricing")
    got = LiveEvent.from_payload(ev.to_payload())
    assert (got.site_id, got.ts_ms, got.name, got.visitor_id, got.path) == (4, T0_MS, "pageview", 9, "/pricing")
    minimal = LiveEvent.from_payload(b'{"site_id": 4, "ts": 5, "name": "signup", "extra": [1, {"x": 2}]}')
    assert minimal == LiveEvent(4, 5, "signup")  # omitted columns read as their defaults, unknown keys skipped
