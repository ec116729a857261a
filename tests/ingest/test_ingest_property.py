"""Property: whatever bodies, headers and content types arrive, each endpoint answers only its allowed statuses."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.conftest import CHROME, ingest_settings
from trail.ingest.testing import Fakes, build_test_ingestor

SINGLE_ALLOWED = {202, 400, 413, 429, 503}
BATCH_ALLOWED = {202, 400, 401, 404, 413, 429, 503}
_SETTINGS = ingest_settings(Path(tempfile.gettempdir()),
                            TRAIL_BODY_LIMIT_BYTES="4096", TRAIL_RATE_LIMIT_PER_IP="50",
                            TRAIL_TRUSTED_PROXIES="10.0.0.0/8")

json_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                | st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
keys = st.sampled_from(["n", "name", "u", "url", "d", "domain", "r", "referrer", "p", "m", "meta", "props", "$",
                        "revenue", "i", "interactive", "w", "screen_width", "h", "v", "sd", "e", "ip", "user_agent",
                        "timestamp"])
field_values = st.one_of(
    json_values, st.sampled_from(["pageview", "engagement", "https://example.com/a?utm_source=x#h", "example.com",
                                  "example.com,other.org", "foreign.net", "http://[::1", "javascript:x",
                                  '{"a": {"b": 1}}', '{"amount": "1.5", "currency": "EUR"}', "2026-03-01T11:00:00Z"]),
    st.fixed_dictionaries({"amount": json_scalars, "currency": st.sampled_from(["EUR", "usd", "XXX", "", "€"])}),
)
events = st.dictionaries(keys, field_values, max_size=12)
def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # stdlib: big integers too


bodies = st.one_of(
    events.map(dumps), st.lists(events, max_size=5).map(dumps), json_values.map(dumps),
    st.binary(max_size=300), st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.just(b" " * 5000), st.just(b"[" * 3000),
)
header_values = st.text(max_size=60).map(lambda s: s.encode("utf-8", "replace").decode("utf-8"))
headers = st.fixed_dictionaries({}, optional={
    "user-agent": st.sampled_from([CHROME, "", "curl/8", "x" * 2000]) | header_values,
    "content-type": st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                     "multipart/form-data; boundary=x", ""]) | header_values,
    "x-forwarded-for": st.sampled_from(["1.2.3.4", "junk, 9.9.9.9", "::1", ""]) | header_values,
    "authorization": st.sampled_from(["Bearer key-team-1", "Bearer nope", "bearer ", "Basic x"]) | header_values,
    "dnt": st.sampled_from(["1", "0"]), "sec-gpc": st.sampled_from(["1", "0"]),
    "accept-language": header_values,
})
peers = st.sampled_from(["8.8.8.8", "10.0.0.1", "::1", "", "not-an-ip", "2a00:1450:4001:80b::200e"])


def _fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_site("example.com", 1, team_id=1, exclude_paths=("/a*",), respect_dnt=True)
    fakes.add_site("other.org", 2, team_id=1, exclude_ips=("9.9.9.0/24",))
    fakes.add_site("foreign.net", 3, team_id=2)
    fakes.keys["key-team-1"] = 1
    return fakes


async def _run(body: bytes, hdrs: dict[str, Any], peer: str, full: bool) -> tuple[int, int]:
    fakes = _fakes()
    fakes.full = full
    ingestor, _ = build_test_ingestor(_SETTINGS, fakes)
    single = await ingestor.single(body, hdrs, peer)
    batch = await ingestor.batch(body, hdrs, peer)
    await ingestor.close()
    for res in (single, batch):
        assert isinstance(res.body, bytes)
        if res.status != 202 or res.headers.get("content-type") == "application/json":
            orjson.loads(res.body)  # errors and batch results are JSON
    return single.status, batch.status


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, hdrs=headers, peer=peers, full=st.booleans())
def test_statuses_are_always_allowed(body: bytes, hdrs: dict[str, Any], peer: str, full: bool) -> None:
    single, batch = asyncio.new_event_loop().run_until_complete(_run(body, hdrs, peer, full))
    assert single in SINGLE_ALLOWED
    assert batch in BATCH_ALLOWED
