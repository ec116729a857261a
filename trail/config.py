"""Settings: one typed registry of TRAIL_* variables that fails fast on bad values."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from dotenv import dotenv_values


class SettingsError(ValueError):
    """A setting is unknown, missing or malformed; the message names it."""


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected an integer from {lo} to {hi}, got {value}")
        return value

    return parse


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _str(raw: str) -> str:
    return raw


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {raw!r}")
        return raw

    return parse


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw == "":
            return ""
        scheme = urlsplit(raw).scheme
        if scheme not in schemes:
            raise ValueError(f"expected a URL with scheme {' or '.join(schemes)}, got {raw!r}")
        return raw

    return parse


def _cidrs(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    nets = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or CIDR range") from None
    return tuple(nets)


def _path(raw: str) -> str:
    return str(Path(raw).expanduser()) if raw else ""


@dataclass(frozen=True)
class Setting:
    """One TRAIL_* variable: its name, default, parser and the line of help the README shows."""

    name: str
    default: str
    parse: Callable[[str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("TRAIL_HOST", "127.0.0.1", _str, "Address `serve` binds to."),
    Setting("TRAIL_PORT", "8000", _int(1, 65535), "Port `serve` listens on."),
    Setting("TRAIL_DATA_DIR", "./data", _path, "Directory for embedded data: chDB, SQLite, the spool, the generated secret key."),
    Setting("TRAIL_SECRET_KEY", "", _str, "Signs session cookies and CSRF tokens. Generated into the data dir when unset in embedded mode; required when any service URL is set."),
    Setting("TRAIL_DATABASE_URL", "", _url("mysql+aiomysql", "sqlite+aiosqlite"), "Metadata store. `mysql+aiomysql://user:pw@host/trail` in production; default `sqlite+aiosqlite:///<data dir>/trail.db`."),
    Setting("TRAIL_CLICKHOUSE_URL", "", _url("clickhouse", "chdb"), "Event store. `clickhouse://user:pw@host:9000/trail` (asynch, native TCP) or `chdb:///<abs path>`; default chDB in `<data dir>/clickhouse`."),
    Setting("TRAIL_REDIS_URL", "", _url("redis", "rediss", "unix"), "Redis for the ingest stream, live feed and caches. Unset: an in-process broker with an on-disk spool (one instance only)."),
    Setting("TRAIL_REDIS_PREFIX", "trail:", _str, "Prefix of every Redis key and channel, so several deployments can share one Redis."),
    Setting("TRAIL_TRUSTED_PROXIES", "", _cidrs, "Comma-separated CIDRs whose X-Forwarded-For / X-Forwarded-Proto headers are believed."),
    Setting("TRAIL_PUBLIC_URL", "", _url("http", "https"), "Public base URL (e.g. https://trail.example.com), used in snippets, links and the websocket Origin check. Default: the request's own origin."),
    Setting("TRAIL_SIGNUP", "open", _choice("open", "closed"), "`open`: anyone may sign up; `closed`: only the first user and invited people."),
    Setting("TRAIL_SMTP_URL", "", _url("smtp", "smtps"), "Optional mail server for invitation emails, `smtp://user:pw@host:587` (STARTTLS) or `smtps://...:465`. Unset: invitation links are only shown to copy."),
    Setting("TRAIL_MAIL_FROM", "", _str, "Sender address of invitation emails (default `trail@<public host>`)."),
    Setting("TRAIL_LOG_LEVEL", "INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "Log level."),
    Setting("TRAIL_SERVER", "uvicorn", _choice("hypercorn", "uvicorn"), "ASGI server `serve` uses unless `--server` is given: `uvicorn` (default; with uvloop and httptools, and `POST /api/event` served below ASGI: several times faster at ingestion, see docs/BENCHMARKS.md) or `hypercorn`."),
    Setting("TRAIL_FLUSH_INTERVAL_MS", "1000", _int(10, 60_000), "Writer: longest time an event waits in a batch before the INSERT."),
    Setting("TRAIL_MAX_BATCH_SIZE", "20000", _int(1, 1_000_000), "Writer: most events in one ClickHouse INSERT (with `TRAIL_FLUSH_INTERVAL_MS`, whichever comes first). Each INSERT makes a part that ClickHouse merges in the background, so a few large inserts cost less than many small ones."),
    Setting("TRAIL_SPOOL_COMMIT_MS", "2", _int(0, 100), "Embedded spool: a commit delay. Under load a group commit (write + fsync, before the 202) starts at most once per this many ms, so that each fsync covers more events (less CPU per event; a 202 waits up to that much longer). Not used after a commit of one event (one client sending one event at a time), and while delayed commits gather fewer than 8 events on average (a few clients, or slow traffic) tried only once a second. 0: each commit starts as soon as the previous one ends."),
    Setting("TRAIL_MAX_LAG", "1000000", _int(1000, 100_000_000), "Backpressure: past this many unwritten events, `POST /api/event` answers 503."),
    Setting("TRAIL_LIVE_IDLE_SECONDS", "300", _int(0, 86_400), "Seconds an instance's live engine keeps tailing the stream after its last live client (dashboard, wall, live API) leaves; then it sleeps until one connects, and warms from the stream again. 0 = tail from start-up, always."),
    Setting("TRAIL_STREAM_RETENTION_MINUTES", "40", _int(35, 10_080), "Minutes of events kept in the stream after they are written (the live window needs >= 35)."),
    Setting("TRAIL_BODY_LIMIT_BYTES", "1048576", _int(1024, 1_048_576), "Largest accepted request body of the events API."),
    Setting("TRAIL_RATE_LIMIT_PER_IP", "200", _int(1, 1_000_000), "Events per second accepted from one client IP (offices share one address)."),
    Setting("TRAIL_RATE_LIMIT_PER_KEY", "60", _int(1, 1_000_000), "Stats API requests per second per API key."),
    Setting("TRAIL_GEOIP_CITY_DB", "", _path, "Optional MaxMind/DB-IP `.mmdb` city database for region and city; countries work without it."),
    Setting("TRAIL_SESSION_COOKIE_SECURE", "auto", _choice("auto", "always", "never"), "Secure flag of the session cookie; `auto` sets it when the request came over https."),
    Setting("TRAIL_ROLLUP_MIN_EVENTS", "1000000", _int(0, 10**12), "Stats: a site whose rolled-up days hold at least this many events is answered from the daily rollups (exact unique visitors; visits crossing a range's edges counted whole, `meta.approximate`) for any range the rollups cover; smaller sites read raw events (exact)."),
    Setting("TRAIL_SAMPLE_EVENTS", "1000000", _int(0, 10**12), "Stats: a query the rollups cannot answer (props filters, several values, `contains`, negations, several filters...) over a range holding more than this many events reads a uniform sample of the visitors worth about this many events and scales the counts up (`meta.sample_percent`; ratios are measured on the sample); 0 never samples."),
    Setting("TRAIL_ROLLUP_INTERVAL_S", "300", _int(0, 86_400), "Stats: seconds between runs of the rollup job (writer roles), which computes closed local days' rollups from raw events; 0 disables it."),
)

_BY_NAME = {s.name: s for s in SETTINGS}
_SERVICE_URLS = ("TRAIL_DATABASE_URL", "TRAIL_CLICKHOUSE_URL", "TRAIL_REDIS_URL")


@dataclass(frozen=True)
class Settings:
    """Parsed settings. Build with `Settings.load()`; attribute names are lower-case without the prefix."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, item: str) -> Any:
        try:
            return self.values[item]
        except KeyError:
            raise AttributeError(item) from None

    @property
    def embedded(self) -> bool:
        """True when no service is configured: chDB, SQLite and the in-process broker."""
        return not _services(self.values)

    @property
    def chdb(self) -> bool:
        return str(self.values["clickhouse_url"]).startswith("chdb:")

    def replace(self, **changes: Any) -> "Settings":
        values = dict(self.values)
        for key, value in changes.items():
            if key not in values:
                raise SettingsError(f"unknown setting {key!r}")
            values[key] = value
        return Settings(values)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, env_file: str | None = ".env",
             prepare_data_dir: bool = True) -> "Settings":
        """Read TRAIL_* from `environ` (default os.environ) over `.env`; raise SettingsError naming the culprit."""
        source: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        source.update(os.environ if environ is None else environ)
        unknown = sorted(k for k in source if k.startswith("TRAIL_") and k not in _BY_NAME
                         and not k.startswith("TRAIL_TEST_"))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]} (see the settings table in README.md)")
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = source.get(setting.name, setting.default)
            try:
                values[setting.name[6:].lower()] = setting.parse(raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{setting.name}: {exc}") from None
        return cls._finish(values, prepare_data_dir)

    @classmethod
    def _finish(cls, values: dict[str, Any], prepare_data_dir: bool) -> "Settings":
        data_dir = Path(values["data_dir"]).resolve()
        values["data_dir"] = str(data_dir)
        services = _services(values)
        if not values["database_url"]:
            values["database_url"] = f"sqlite+aiosqlite:///{data_dir / 'trail.db'}"
        if not values["clickhouse_url"]:
            values["clickhouse_url"] = f"chdb://{data_dir / 'clickhouse'}"
        if values["clickhouse_url"].startswith("chdb:"):
            parts = urlsplit(values["clickhouse_url"])
            if parts.netloc or not parts.path.startswith("/"):
                raise SettingsError("TRAIL_CLICKHOUSE_URL: a chdb URL needs an absolute path, "
                                    "like chdb:///var/lib/trail/clickhouse")
        if not values["secret_key"]:
            if services:
                raise SettingsError(f"TRAIL_SECRET_KEY is required when a service URL is set "
                                    f"({', '.join(services)}); generate one with: "
                                    "python -c 'import secrets; print(secrets.token_urlsafe(48))'")
            if prepare_data_dir:
                values["secret_key"] = _embedded_secret(data_dir)
        elif len(values["secret_key"]) < 32:
            raise SettingsError("TRAIL_SECRET_KEY: must be at least 32 characters long")
        return cls(values)


def _services(values: Mapping[str, Any]) -> list[str]:
    """The settings that point at a service (a server, not chDB/SQLite in-process)."""
    return [name for name in _SERVICE_URLS
            if values[name[6:].lower()] and not str(values[name[6:].lower()]).startswith(("chdb:", "sqlite"))]


def _embedded_secret(data_dir: Path) -> str:
    """The secret key of an embedded install: generated once into the data dir, then reused."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
