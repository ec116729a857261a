"""Ingestion throughput: `POST /api/event` beside a raw ASGI endpoint on the same server, in the same run.

Usage: python bench/ingest.py [--servers hypercorn,uvicorn] [--broker embedded,redis] [--duration S] [--rounds R]
                              [--connections C] [--threads T] [--visitors N] [--proto-baseline]
For each broker mode and ASGI server: a fresh data dir, a site made with the CLI, `bench/ingest_server.py` (the real
`serve` with a raw ASGI route at /__raw in front of trail.app.asgi_app) as a subprocess with one worker, then wrk
(bench/ingest.lua: a realistic pageview, text/plain, desktop UA) against /__raw and /api/event, alternating; first
with the server's live engine asleep (no live client), then with a wall display of the site watching it over its
websocket (the live engine tails the stream back, aggregates and renders), each with its own raw baseline.
embedded: the worker is `--role all` (chDB, SQLite, spool, writer, live engine in one process). redis: the worker is
`--role web` (Redis stream, MariaDB metadata, live engine) and a `--role writer` process writes to ClickHouse.
--visitors N (default 1: one visitor posting over and over, the best case for every cache): the events come from
N visitors in turn, each with its own X-Forwarded-For address (the servers trust 127.0.0.1 as a proxy), one of
eight user agents, 16 pages and 4 referrers (bench/ingest.lua), so each visitor posts every N / rate seconds and
sessions, the shared-cache writes and the LRUs work as for that many real visitors.
Every answer of the event endpoint must be 202, and after a clean stop (and, with redis, once the writer has caught
up) every accepted event must be in ClickHouse.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
DOMAIN = "bench.test"
TARGET_EVENTS_PER_S = 5000
TARGET_RATIO = 0.5
# Each server is measured twice: with its live engine asleep (no live client on the instance: it reads nothing back
# from the stream, see TRAIL_LIVE_IDLE_SECONDS), then with a wall display watching the site over a websocket.
PHASES = ("asleep", "watched")
COUNT_SQL = "SELECT count() FROM events WHERE name = 'pageview'"
EXTRA_ENV: dict[str, str] = {}  # settings every stack's processes get on top (main: --visitors)
REDIS_URL = os.environ.get("TRAIL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
MYSQL_URL = os.environ.get("TRAIL_BENCH_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306/")


@dataclass
class WrkResult:
    rps: float
    requests: int
    non202: int
    errors: int
    p50_ms: float
    p99_ms: float
    detail: str
    cpu_us: float = 0.0  # CPU (user + system) of the measured server per request
    writer_cpu_us: float = 0.0  # CPU of the separate writer process (redis mode) per request


def session_cpu_s(sid: int) -> float:
    """User + system CPU seconds of every process in session `sid` (each server runs in a session of its own)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:  # after "(comm)": state ppid pgrp session ... utime(11) stime(12)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measured(wrk: str, url: str, path: str, args: argparse.Namespace, server: int, writer: int | None) -> WrkResult:
    """One wrk run, with the CPU the server (and the writer process, when there is one) spent per request."""
    before = session_cpu_s(server), session_cpu_s(writer) if writer else 0.0
    result = run_wrk(wrk, url, path, args.duration, args.connections, args.threads)
    n = max(result.requests, 1)
    result.cpu_us = (session_cpu_s(server) - before[0]) / n * 1e6
    if writer:
        result.writer_cpu_us = (session_cpu_s(writer) - before[1]) / n * 1e6
    return result


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk is missing: installing it with apt-get")
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "/usr/bin/wrk"


def run_wrk(wrk: str, url: str, path: str, duration: float, connections: int, threads: int) -> WrkResult:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s", str(BENCH / "ingest.lua"),
           url, "--", path]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BENCH_DOMAIN": DOMAIN},
                         timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"BENCH requests=(\d+) non202=(\d+) errors=(\d+) p50_ms=([\d.]+) p99_ms=([\d.]+) detail=(\S*)", out)
    if m is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return WrkResult(rps, int(m[1]), int(m[2]), int(m[3]), float(m[4]), float(m[5]), m[6])


def trail_cli(env: dict[str, str], *args: str) -> str:
    """Run `python -m trail ARGS`; its standard output."""
    done = subprocess.run([sys.executable, "-m", "trail", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"trail {' '.join(args)} exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


class WallWatcher:
    """A wall display watching the bench site over its websocket, in a thread: what keeps the server's live engine
    awake (tailing the stream, aggregating and rendering) while it is measured, as on an instance a TV watches."""

    def __init__(self, url: str, wall_path: str) -> None:
        self.ws_url = url.replace("http://", "ws://") + wall_path + "/ws"
        self.origin = url
        self.frames = 0
        self._stop = threading.Event()
        self._first = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="wall-watcher", daemon=True)

    def __enter__(self) -> "WallWatcher":
        self._thread.start()
        if not self._first.wait(30):
            raise RuntimeError(f"the wall display got no frame from {self.ws_url}: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(self.ws_url, origin=self.origin, open_timeout=30) as ws:  # type: ignore[arg-type]
                while not self._stop.is_set():
                    try:
                        ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    self.frames += 1
                    self._first.set()
        except BaseException as exc:  # reported by __enter__, or by the frame count after the run
            self._error = exc


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as res:
                if res.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server not ready in time")


def stored_count(env: dict[str, str]) -> int:
    code = ("import asyncio\n"
            "from trail.config import Settings\n"
            "from trail.store.events import open_event_store\n"
            "async def main():\n"
            "    store = open_event_store(Settings.load().clickhouse_url)\n"
            "    await store.start()\n"
            f"    _, rows = await store.query({COUNT_SQL!r})\n"
            "    await store.close()\n"
            "    print(rows[0][0])\n"
            "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean stop: the embedded writer flushes), then SIGKILL whatever is left of the process's session
    (Granian's worker outlives its SIGTERMed parent here, stuck in its signal handler)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    time.sleep(1)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # each server runs in a session of its own (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def run_mysql(sql: str) -> None:
    """One statement on the bench's MariaDB server (TRAIL_BENCH_MYSQL_URL)."""
    import pymysql

    parts = urlsplit(MYSQL_URL)
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "")
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


class EmbeddedStack:
    """The embedded default: one `serve --role all` process (chDB, SQLite, spool, writer and live engine in it)."""

    name = "embedded"

    def __init__(self, data: Path) -> None:
        self.data = data
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRAIL_")}
        self.env.update(TRAIL_DATA_DIR=str(data), TRAIL_RATE_LIMIT_PER_IP="1000000", PYTHONUNBUFFERED="1",
                        **EXTRA_ENV)
        self.web_env = self.env
        self.role = "all"
        self.procs: list[subprocess.Popen[bytes]] = []

    def prepare(self) -> None:
        """Nothing beyond the data dir: `serve` migrates."""

    def start_backend(self) -> None:
        """No separate process: the measured worker runs the writer."""

    def drain(self) -> None:
        """The measured worker's clean stop flushed its writer."""

    def stop_backend(self) -> None:
        """Nothing runs besides the measured worker."""

    def cleanup(self) -> None:
        """The data dir goes with the caller's cleanup."""


class RedisStack(EmbeddedStack):
    """Production-shaped: Redis stream + MariaDB metadata; the measured worker is `serve --role web` (ingestion and
    live engine, no writer) and a `serve --role writer` process moves the stream into ClickHouse (chDB in its own
    data dir; the web worker gets a separate, empty chDB dir, since chDB allows one process per dir)."""

    name = "redis"

    def __init__(self, data: Path) -> None:
        super().__init__(data)
        tag = data.name.replace("-", "_")
        self.database = f"trailbench_{tag}"
        self.prefix = f"trailbench:{tag}:"
        self.env.update(TRAIL_REDIS_URL=REDIS_URL, TRAIL_REDIS_PREFIX=self.prefix, TRAIL_SECRET_KEY="bench-" + "k" * 40,
                        TRAIL_DATABASE_URL=MYSQL_URL.rstrip("/") + "/" + self.database,
                        TRAIL_CLICKHOUSE_URL=f"chdb://{data / 'clickhouse'}")
        self.web_env = {**self.env, "TRAIL_CLICKHOUSE_URL": f"chdb://{data / 'web-clickhouse'}"}
        self.role = "web"

    def _redis(self) -> Any:
        import redis

        return redis.Redis.from_url(REDIS_URL)

    def prepare(self) -> None:
        run_mysql(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")
        trail_cli(self.env, "migrate")

    def start_backend(self) -> None:
        port = free_port()
        cmd = [sys.executable, "-m", "trail", "serve", "--role", "writer", "--host", "127.0.0.1", "--port", str(port)]
        with open(self.data / "writer.log", "wb") as log:
            self.procs.append(subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))
        wait_ready(f"http://127.0.0.1:{port}", self.procs[-1])

    def lag(self) -> int:
        """Stream entries the writer group has not acknowledged (-1 before the group exists)."""
        client = self._redis()
        try:
            for group in client.xinfo_groups(self.prefix + "events"):
                if group["name"] == b"writer":
                    return int(group["pending"]) + int(group.get("lag") or 0)
        finally:
            client.close()
        return -1

    def drain(self, timeout: float = 120) -> None:
        """Wait until the writer process has written and acknowledged every stream entry."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.lag() != 0:
            time.sleep(0.5)

    def stop_backend(self) -> None:
        for proc in self.procs:
            stop(proc)

    def cleanup(self) -> None:
        self.stop_backend()
        client = self._redis()
        try:
            keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
        run_mysql(f"DROP DATABASE IF EXISTS `{self.database}`")


STACKS = {"embedded": EmbeddedStack, "redis": RedisStack}


def redis_mode_problem() -> str:
    """Why the redis mode cannot run (Redis or MariaDB not answering), or ""."""
    import pymysql
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} does not answer ({exc})"
    parts = urlsplit(MYSQL_URL)
    try:
        pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306, user=parts.username or "root",
                        password=parts.password or "", connect_timeout=2).close()
    except pymysql.MySQLError as exc:
        return f"MariaDB at {parts.hostname}:{parts.port or 3306} does not answer ({exc})"
    return ""


def bench_server(server: str, broker: str, wrk: str, args: argparse.Namespace) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix=f"trail-bench-{broker}-{server}-"))
    stack = STACKS[broker](data)
    env = stack.env
    log_path = data / "server.log"
    try:
        say(f"==> {server}, {broker}: data dir {data}; creating a user and the site {DOMAIN} with the CLI")
        stack.prepare()
        trail_cli(env, "user", "add", "bench@example.com", "--password", "bench-password-123")
        trail_cli(env, "site", "add", DOMAIN, "--owner", "bench@example.com")
        wall_path = trail_cli(env, "wall", "add", DOMAIN, "--owner", "bench@example.com",
                              "--label", "bench").strip().splitlines()[-1].strip()
        stack.start_backend()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, str(BENCH / "ingest_server.py"), "--server", server,
                                     "--port", str(port), "--role", stack.role], cwd=ROOT, env=stack.web_env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_ready(url, proc)
            say(f"    serving on {url} (pid {proc.pid}, role {stack.role}); warming up")
            run_wrk(wrk, url, "/__raw", 2, args.connections, args.threads)
            run_wrk(wrk, url, "/api/event", 2, args.connections, args.threads)
            writer_pid = stack.procs[0].pid if stack.procs else None
            phases: dict[str, tuple[list[WrkResult], list[WrkResult]]] = {}
            protos: dict[str, list[WrkResult]] = {}  # --proto-baseline: /__rawproto rounds (uvicorn)
            with_proto = args.proto_baseline and server == "uvicorn"
            for phase in PHASES:
                if phase == "watched":
                    watcher = WallWatcher(url, wall_path).__enter__()
                    say(f"    a wall display now watches {DOMAIN}: the live engine tails, aggregates and renders")
                raw, event = phases[phase] = ([], [])
                proto = protos[phase] = []
                for round_no in range(1, args.rounds + 1):
                    raw.append(measured(wrk, url, "/__raw", args, proc.pid, writer_pid))
                    say(f"    {phase:>7} {round_no}/{args.rounds}: raw ASGI  {raw[-1].rps:>9,.0f} req/s "
                        f"(p50 {raw[-1].p50_ms:.1f} ms, p99 {raw[-1].p99_ms:.1f} ms; "
                        f"server CPU {raw[-1].cpu_us:.0f} us/req)")
                    if with_proto:
                        proto.append(measured(wrk, url, "/__rawproto", args, proc.pid, writer_pid))
                        say(f"    {phase:>7} {round_no}/{args.rounds}: raw proto {proto[-1].rps:>9,.0f} req/s "
                            f"(p50 {proto[-1].p50_ms:.1f} ms, p99 {proto[-1].p99_ms:.1f} ms; "
                            f"server CPU {proto[-1].cpu_us:.0f} us/req)")
                    event.append(measured(wrk, url, "/api/event", args, proc.pid, writer_pid))
                    writer_note = f", writer CPU {event[-1].writer_cpu_us:.0f} us/ev" if writer_pid else ""
                    say(f"    {phase:>7} {round_no}/{args.rounds}: /api/event {event[-1].rps:>8,.0f} events/s "
                        f"(p50 {event[-1].p50_ms:.1f} ms, p99 {event[-1].p99_ms:.1f} ms, "
                        f"non-202 {event[-1].non202}; server CPU {event[-1].cpu_us:.0f} us/ev{writer_note})")
                if phase == "watched":
                    frames = watcher.frames
                    watcher.__exit__()
                    if frames < args.rounds * args.duration:  # >= 1 frame a second while events flow (up to 4)
                        raise RuntimeError(f"the wall display got only {frames} frames while measured")
        finally:
            stop(proc)
        every_event = [r for _, event in phases.values() for r in event]
        accepted_min = sum(r.requests - r.non202 for r in every_event)  # the warm-up's events come on top
        say("    server stopped; waiting for the writer, then counting events in ClickHouse")
        stack.drain()
        stack.stop_backend()
        stored = stored_count(env)
        result: dict[str, object] = {
            "server": server, "broker": broker, "accepted": accepted_min, "stored": stored,
            "non202": sum(r.non202 for r in every_event), "errors": sum(r.errors for r in every_event),
            "detail": ",".join(r.detail for r in every_event if r.detail)}
        for phase, (raw, event) in phases.items():
            best_raw, best_event = max(r.rps for r in raw), max(r.rps for r in event)
            paired = sorted(e.rps / max(w.rps, 1e-9) for w, e in zip(raw, event))  # each round's event run / raw run
            result[phase] = {"raw": best_raw, "event": best_event, "ratio": best_event / best_raw,
                             "paired": statistics.median(paired), "paired_low": paired[0], "paired_high": paired[-1],
                             "p50": min(r.p50_ms for r in event), "p99": min(r.p99_ms for r in event),
                             "raw_cpu": min(r.cpu_us for r in raw), "event_cpu": min(r.cpu_us for r in event),
                             "writer_cpu": min(r.writer_cpu_us for r in event)}
            if protos.get(phase):
                best_proto = max(r.rps for r in protos[phase])
                result[phase].update({"proto": best_proto, "proto_ratio": best_event / best_proto,  # type: ignore
                                      "proto_cpu": min(r.cpu_us for r in protos[phase])})
        return result
    except Exception:
        for name in ("server.log", "writer.log"):
            if (data / name).exists():
                sys.stderr.write(f"--- {name}\n" + (data / name).read_text(errors="replace")[-4000:])
        raise
    finally:
        try:
            stack.cleanup()
        finally:
            if not args.keep:
                shutil.rmtree(data, ignore_errors=True)


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="hypercorn,uvicorn")
    parser.add_argument("--broker", default="embedded,redis",
                        help="embedded (one `serve --role all` worker) and/or redis (a `--role web` worker measured, "
                             "a `--role writer` process beside it; Redis and MariaDB from TRAIL_BENCH_*_URL)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2,
                        help="raw/event pairs per server: the best of each is reported, and the ratio of each pair "
                             "(its median, lowest and highest: how much the machine moved during the run)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    parser.add_argument("--proto-baseline", action="store_true",
                        help="uvicorn: also measure /__rawproto, a route that does nothing served below ASGI as "
                             "/api/event is (the like-for-like ceiling; the target ratio stays against raw ASGI)")
    parser.add_argument("--visitors", type=int, default=1,
                        help="events from N visitors in turn (own address, UA, pages, referrers); 1: one visitor")
    args = parser.parse_args()
    if args.visitors < 1:
        parser.error("--visitors must be at least 1")
    os.environ["BENCH_VISITORS"] = str(args.visitors)  # read by bench/ingest.lua through wrk's environment
    if args.visitors > 1:
        EXTRA_ENV["TRAIL_TRUSTED_PROXIES"] = "127.0.0.1/32"  # the visitors' addresses come as X-Forwarded-For
    brokers = [b.strip() for b in args.broker.split(",") if b.strip()]
    unknown = [b for b in brokers if b not in STACKS]
    if unknown:
        parser.error(f"unknown --broker {', '.join(unknown)}: expected {', '.join(STACKS)}")
    if "redis" in brokers:
        problem = redis_mode_problem()
        if problem:
            say(f"--broker redis: {problem}; start them (scripts/test.sh does) or run with --broker embedded")
            return 2
    wrk = wrk_binary()
    from trail.config import SETTINGS

    default = next(s.default for s in SETTINGS if s.name == "TRAIL_SERVER")
    say(f"machine: {machine()}")
    say(f"load: wrk -t{args.threads} -c{args.connections}, {args.rounds} x {args.duration:g} s per endpoint; "
        f"{args.visitors:,} visitor(s); one server worker; default server: {default}")
    results = [bench_server(name.strip(), broker, wrk, args) for broker in brokers
               for name in args.servers.split(",") if name.strip()]
    say("")
    say(f"{'server':<10} {'broker':<9} {'live':<8} {'raw ASGI req/s':>15} {'/api/event ev/s':>16} {'ratio':>6} "
        f"{'paired':>17} {'p99 ms':>7} {'CPU us raw/ev':>14} {'CPU ratio':>9} {'writer us/ev':>12}")
    ok = True
    for r in results:
        label = f"{r['server']} ({r['broker']})"
        for phase in PHASES:
            m: dict[str, float] = r[phase]  # type: ignore[assignment]
            say(f"{r['server']:<10} {r['broker']:<9} {phase:<8} {m['raw']:>15,.0f} {m['event']:>16,.0f} "
                f"{m['ratio']:>6.2f} {m['paired']:>5.2f} ({m['paired_low']:.2f}-{m['paired_high']:.2f}) "
                f"{m['p99']:>7.1f} {m['raw_cpu']:>6.0f}/{m['event_cpu']:<7.0f} "
                f"{m['raw_cpu'] / max(m['event_cpu'], 1e-9):>9.2f} {m['writer_cpu']:>12.0f}")
            if "proto" in m:
                say(f"{'':<10} {'':<9} {'':<8} like for like: raw route below ASGI {m['proto']:,.0f} req/s "
                    f"(CPU {m['proto_cpu']:.0f} us/req); /api/event over it {m['proto_ratio']:.2f}")
            if m["ratio"] < TARGET_RATIO:
                say(f"  MISS {label}, live {phase}: ratio {m['ratio']:.2f} < {TARGET_RATIO}")
            if r["server"] == default and m["event"] < TARGET_EVENTS_PER_S:
                say(f"  MISS {label} (default server), live {phase}: {m['event']:.0f} events/s "
                    f"< {TARGET_EVENTS_PER_S}")
        say(f"{'':<10} {'':<9} non-202 answers {r['non202']}, stored/accepted {r['stored']}/{r['accepted']}")
        if r["non202"] or r["errors"]:
            say(f"  FAIL {label}: {r['non202']} non-202 answers ({r['detail']}), {r['errors']} socket errors")
            ok = False
        if int(r["stored"]) < int(r["accepted"]):  # type: ignore[call-overload]
            say(f"  FAIL {label}: only {r['stored']} of {r['accepted']} accepted events reached ClickHouse")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
