"""POST /api/events through Ingestor.batch: auth, visibility, limits, per-item results, timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.ingest.conftest import IPHONE, Send, pageview
from trail.ingest.testing import Fakes


async def test_401_without_a_valid_key(send_batch: Send) -> None:
    assert (await send_batch([pageview()], key=None))[0].status == 401
    assert (await send_batch([pageview()], key="wrong"))[0].status == 401
    res, events = await send_batch([pageview()], headers={"authorization": "Basic abc"}, key=None)
    assert res.status == 401 and events == []


async def test_400_when_not_an_array_or_too_long(send_batch: Send) -> None:
    assert (await send_batch(pageview()))[0].status == 400
    assert (await send_batch(b"{oops"))[0].status == 400
    res, events = await send_batch([pageview()] * 1001)
    assert res.status == 400 and events == []
    assert (await send_batch([pageview()] * 1000))[0].json()["accepted"] == 1000


async def test_404_refuses_the_whole_batch(send_batch: Send) -> None:
    for bad in ("foreign.net", "missing.example", "example.com,foreign.net"):
        res, events = await send_batch([pageview(), pageview(domain=bad)])
        assert res.status == 404 and events == [], bad
    # an invalid item naming a foreign site refuses the batch too (no probing through rejects)
    res, events = await send_batch([pageview(), {"domain": "foreign.net"}])
    assert res.status == 404 and events == []


async def test_per_item_results(send_batch: Send) -> None:
    items = [pageview(), {"name": "pageview", "domain": "example.com"}, pageview(user_agent="curl/8.0"),
             pageview(name="x" * 121), pageview(ip="not-an-ip")]
    res, events = await send_batch(items)
    assert res.status == 202
    body = res.json()
    assert body["accepted"] == 1 and len(events) == 1
    assert body["dropped"] == [{"index": 2, "reason": "bot"}]
    assert [r["index"] for r in body["rejected"]] == [1, 3, 4]
    assert "url" in body["rejected"][0]["error"] and "name" in body["rejected"][1]["error"]


async def test_item_ip_and_user_agent(send_batch: Send) -> None:
    res, [ev] = await send_batch([pageview(ip="81.2.69.142", user_agent=IPHONE)])
    assert ev.country == "GB" and ev.device == "Mobile"


async def test_timestamps(send_batch: Send, fakes: Fakes) -> None:
    now = fakes.clock.now()
    iso = (now - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    epoch = (now - timedelta(hours=23)).timestamp()
    naive = (now - timedelta(minutes=5)).replace(tzinfo=None).isoformat()
    items = [pageview(timestamp=iso), pageview(timestamp=epoch), pageview(timestamp=naive),
             pageview(timestamp=(now - timedelta(hours=25)).isoformat()),
             pageview(timestamp=(now + timedelta(hours=1)).timestamp()), pageview(timestamp="yesterday"),
             pageview(timestamp=(now + timedelta(seconds=30)).isoformat()), pageview()]
    res, events = await send_batch(items)
    body = res.json()
    assert [r["index"] for r in body["rejected"]] == [3, 4, 5]
    assert all("timestamp" in r["error"] for r in body["rejected"])
    ts = [e.ts for e in events]
    assert ts[0] == now - timedelta(hours=3)
    assert ts[1] == datetime.fromtimestamp(epoch, timezone.utc)
    assert ts[2] == now - timedelta(minutes=5)
    assert ts[3] == now + timedelta(seconds=30)  # small clock skew is fine
    assert ts[4] == now


async def test_backpressure_503(send_batch: Send, fakes: Fakes) -> None:
    fakes.full = True
    res, events = await send_batch([pageview()])
    assert res.status == 503 and events == []
