"""The ingestion pipeline: an ordered list of named steps; each enriches the draft or returns a drop reason."""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping, Union

import msgspec

from trail.ingest import bots
from trail.ingest.event import EnrichedEvent, ms_to_datetime
from trail.ingest.geo import Geo
from trail.ingest.ip import compile_networks, ip_in
from trail.ingest.referrer import classify
from trail.ingest.request import EventRequest
from trail.ingest.ua import device_class, parse_agent, screen_class
from trail.ingest.utm import cached_campaign
from trail.ingest.visitor import SESSION_TIMEOUT_MS, Sessions, visitor_id

if TYPE_CHECKING:
    from trail.sites import SiteInfo

_DAY_MS = 86_400_000  # event times are UTC, so a UTC day starts at a multiple of this
# site_lookup(domain): the site (or None) when it is cached, else an awaitable of it (not started yet)
SiteLookup = Callable[[str], "SiteInfo | None | Awaitable[SiteInfo | None]"]
SaltFor = Callable[[date], Awaitable[bytes]]
StepResult = Union[str, None]
Step = Callable[["Draft"], Union[StepResult, Awaitable[StepResult]]]


class Draft(msgspec.Struct, gc=False):
    """One event for one site on its way through the pipeline (a Struct: made in C, not tracked by the GC)."""

    request: EventRequest
    domain: str
    ip: str
    user_agent: str
    headers: Mapping[str, str]
    event: EnrichedEvent
    site: "SiteInfo | None" = None


@lru_cache(maxsize=8)
def _utc_day(day_number: int) -> date:
    """The UTC date of a day number (days since 1970-01-01); events of the last days share a few."""
    return ms_to_datetime(day_number * _DAY_MS).date()


@lru_cache(maxsize=4096)
def _path_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """Plausible's page wildcards: `**` matches anything, `*` anything but "/"; the whole path must match."""
    parts = []
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern:
            continue
        regex = "".join(
            ".*" if tok == "**" else "[^/]*" if tok == "*" else re.escape(tok)
            for tok in re.split(r"(\*\*|\*)", pattern)
        )
        parts.append(regex)
    return re.compile("(?:" + "|".join(parts) + r")\Z") if parts else None


@lru_cache(maxsize=4096)
def _host_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """Host patterns, case-insensitive, where `*` matches any characters ("*.staging.example.com")."""
    parts = [re.escape(p.strip().lower()).replace(r"\*", ".*") for p in patterns if p.strip()]
    return re.compile("(?:" + "|".join(parts) + r")\Z") if parts else None


def path_excluded(path: str, patterns: tuple[str, ...]) -> bool:
    regex = _path_regex(tuple(patterns))
    return bool(regex and regex.match(path.split("#", 1)[0]))


def host_excluded(host: str, patterns: tuple[str, ...]) -> bool:
    regex = _host_regex(tuple(patterns))
    return bool(regex and (regex.match(host) or regex.match("www." + host)))


class Pipeline:
    """The named steps of Trail's ingestion, run in order; the first drop reason ends the run."""

    def __init__(self, site_lookup: SiteLookup, salt_for: SaltFor, sessions: Sessions, geo: Geo) -> None:
        self.site_lookup = site_lookup
        self.salt_for = salt_for
        self.sessions = sessions
        self.geo = geo
        self._salts: dict[date, bytes] = {}
        self.steps: tuple[tuple[str, Step], ...] = (
            ("drop_bot", self.drop_bot),
            ("put_site", self.put_site),
            ("drop_dnt", self.drop_dnt),
            ("drop_excluded_ip", self.drop_excluded_ip),
            ("drop_excluded_host", self.drop_excluded_host),
            ("drop_excluded_path", self.drop_excluded_path),
            ("put_page", self.put_page),
            ("put_referrer", self.put_referrer),
            ("put_user_agent", self.put_user_agent),
            ("put_geolocation", self.put_geolocation),
            ("put_session", self.put_session),
        )
        self._calls = tuple(step for _name, step in self.steps)  # what `run` iterates (no tuple unpacking per step)

    def run(self, draft: Draft) -> StepResult | Awaitable[StepResult]:
        """None when the draft's event is complete, else the drop reason; or, when a step has to wait (a site, salt
        or session this instance has not cached), an awaitable of that: a coroutine not started yet, so it runs
        wholly in the task that awaits it. An event of a cached site from a visitor seen in the last seconds makes
        no coroutine at all (the Ingestor prepares such events inline, see Ingestor.single)."""
        for step in self._calls:
            result = step(draft)
            if result is not None:
                if result.__class__ is str:
                    return result
                return self._resume(draft, self._calls.index(step), result)  # type: ignore[arg-type]
        return None

    async def _resume(self, draft: Draft, index: int, pending: Awaitable[StepResult]) -> StepResult:
        """The rest of `run` from step `index`, which turned out to need waiting for."""
        result = await pending
        if result is not None:
            return result
        for step in self._calls[index + 1:]:
            result = step(draft)  # type: ignore[assignment]
            if result is not None:
                if result.__class__ is not str:
                    result = await result  # type: ignore[misc]
                    if result is None:
                        continue
                return result
        return None

    # -- drops ---------------------------------------------------------------------------------
    @staticmethod
    def drop_bot(d: Draft) -> StepResult:
        return "bot" if bots.is_bot(d.user_agent) else None

    def put_site(self, d: Draft) -> StepResult | Awaitable[StepResult]:
        site = self.site_lookup(d.domain)
        if site is not None and hasattr(site, "__await__"):
            return self._put_site_later(d, site)  # type: ignore[arg-type]
        return self._set_site(d, site)  # type: ignore[arg-type]

    async def _put_site_later(self, d: Draft, pending: Awaitable[SiteInfo | None]) -> StepResult:
        return self._set_site(d, await pending)

    @staticmethod
    def _set_site(d: Draft, site: SiteInfo | None) -> StepResult:
        if site is None:
            return "unknown_site"
        d.site = site
        d.event.site_id = site.id
        return None

    @staticmethod
    def drop_dnt(d: Draft) -> StepResult:
        if d.site is not None and d.site.respect_dnt and (
                d.headers.get("dnt", "").strip() == "1" or d.headers.get("sec-gpc", "").strip() == "1"):
            return "dnt"
        return None

    @staticmethod
    def drop_excluded_ip(d: Draft) -> StepResult:
        if d.site is not None and d.site.exclude_ips and ip_in(d.ip, compile_networks(tuple(d.site.exclude_ips))):
            return "excluded_ip"
        return None

    @staticmethod
    def drop_excluded_host(d: Draft) -> StepResult:
        if d.site is not None and d.site.exclude_hosts and host_excluded(d.request.hostname, d.site.exclude_hosts):
            return "excluded_host"
        return None

    @staticmethod
    def drop_excluded_path(d: Draft) -> StepResult:
        if d.site is not None and d.site.exclude_paths and path_excluded(d.request.pathname, d.site.exclude_paths):
            return "excluded_path"
        return None

    # -- enrichment ----------------------------------------------------------------------------
    @staticmethod
    def put_page(d: Draft) -> StepResult:
        req, ev = d.request, d.event
        ev.hostname = req.hostname
        ev.pathname = req.pathname
        campaign = cached_campaign(req.query)
        ev.utm_source, ev.utm_medium, ev.utm_campaign, ev.utm_term, ev.utm_content, ev.click_id_param = campaign
        language = d.headers.get("accept-language", "")
        if language:
            ev.language = language.split(",", 1)[0].split(";", 1)[0].strip()[:35]
        return None

    @staticmethod
    def put_referrer(d: Draft) -> StepResult:
        ref = classify(d.request.referrer, d.request.hostname, d.event.utm_source)
        d.event.referrer, d.event.source = ref
        return None

    @staticmethod
    def put_user_agent(d: Draft) -> StepResult:
        agent = parse_agent(d.user_agent)
        ev = d.event
        ev.browser, ev.browser_version, ev.os, ev.os_version = agent.browser, agent.browser_version, agent.os, \
            agent.os_version
        width = d.request.screen_width
        ev.device = device_class(agent, width)
        ev.screen = screen_class(width)
        return None

    def put_geolocation(self, d: Draft) -> StepResult:
        d.event.country, d.event.region, d.event.city = self.geo.lookup(d.ip)
        return None

    def put_session(self, d: Draft) -> StepResult | Awaitable[StepResult]:
        """Visitor id under the event's UTC day salt, then its session (continuing one from before midnight).

        Without waiting when this instance has the day's salt and saw the visitor in the last 30 minutes (see
        `Sessions.touch_cached`; the shared cache is written behind). The first 30 minutes of a UTC day always
        take the full path, which looks for a session that began before midnight under yesterday's salt."""
        ev = d.event
        ts_ms = ev.ts_ms
        salt = self._salts.get(_utc_day(ts_ms // _DAY_MS))
        if salt is None or ts_ms % _DAY_MS < SESSION_TIMEOUT_MS:
            return self._put_session_later(d)
        visitor = visitor_id(salt, ev.site_id, d.ip, d.user_agent)
        session = self.sessions.touch_cached(ev.site_id, visitor, ts_ms)
        if session is None:
            return self._put_session_later(d)
        ev.visitor_id = visitor
        ev.session_id = session
        return None

    async def _put_session_later(self, d: Draft) -> StepResult:
        ev = d.event
        ts_ms = ev.ts_ms
        day = _utc_day(ts_ms // _DAY_MS)
        salt = self._salts.get(day)
        if salt is None:
            salt = await self.salt(day)
        ev.visitor_id = visitor_id(salt, ev.site_id, d.ip, d.user_agent)
        visitor = ev.visitor_id
        if ts_ms % _DAY_MS < SESSION_TIMEOUT_MS and (await self.sessions.find(ev.site_id, visitor, ts_ms)) is None:
            previous = visitor_id(await self.salt(day - timedelta(days=1)), ev.site_id, d.ip, d.user_agent)
            if (await self.sessions.find(ev.site_id, previous, ts_ms)) is not None:
                visitor = ev.visitor_id = previous  # the visit keeps yesterday's visitor id, as in Plausible
        ev.session_id = await self.sessions.touch(ev.site_id, visitor, ts_ms)
        return None

    async def salt(self, day: date) -> bytes:
        salt = self._salts.get(day)
        if salt is None:
            salt = await self.salt_for(day)
            # keep no salt in memory longer than the database does (today and yesterday of the newest day seen)
            newest = max(day, *self._salts) if self._salts else day
            self._salts = {d: s for d, s in self._salts.items() if d >= newest - timedelta(days=1)}
            self._salts[day] = salt
        return salt
