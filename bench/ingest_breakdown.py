"""Where a web worker's CPU per event goes, without HTTP: the real Ingestor, broker, live engine and writer in-process.

Usage: python bench/ingest_breakdown.py [--mode embedded|redis] [--events N] [--callers C] [--rounds R]
Each variant runs in a fresh child process with a fresh data dir (chDB allows one data dir per process) and a site
made with the CLI; C coroutines post the bench's pageview through `Ingestor.single` (what the fast path calls)
on uvloop, and the CPU time per event is measured over N events, after a warm-up: of the event loop's thread
(`time.thread_time`: what holds up requests) and of the whole process (`time.process_time`: also chDB's and the
spool's threads, which run INSERTs and fsyncs off the loop). Variants, run in turn for R rounds (the median is
reported, with its ratio to the floor of that run):
  full          everything the role runs: `--role all` (embedded: spool, live engine, writer to chDB) or
                `--role web` (redis: Redis stream + MariaDB metadata, live engine reading the stream back), the
                live engine woken as a live client would
  no-live       the live engine stopped (nothing reads the stream back in this process)
  no-writer     embedded only: `--role web` on the embedded broker (no writer, no chDB inserts)
  floor         no-live and no-writer, and no enrichment: each request appends a fixed payload (the durable
                append, the group commit and the coroutine plumbing; no parsing, pipeline or encoding)
Embedded variants run with the spool's commit delay off (TRAIL_SPOOL_COMMIT_MS=0; see the note in prepare()), so
their figures compare with the sessions before it; bench/ingest.py measures the delay as `serve` runs it.
Redis and MariaDB come from TRAIL_BENCH_REDIS_URL / TRAIL_BENCH_MYSQL_URL (default 127.0.0.1), as in bench/ingest.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.ingest import MYSQL_URL, REDIS_URL, run_mysql  # noqa: E402

DOMAIN = "bench.test"
BODY = (b'{"n":"pageview","u":"https://bench.test/blog/why-no-cookies?utm_source=newsletter","d":"bench.test",'
        b'"r":"https://news.ycombinator.com/","w":1920}')
HEADERS = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/138.0.0.0 Safari/537.36", "content-length": str(len(BODY))}
VARIANTS = {"embedded": ("full", "no-live", "no-writer", "floor"), "redis": ("full", "no-live", "floor")}


def say(text: str) -> None:
    print(text, flush=True)


def prepare(mode: str, data: Path) -> dict[str, str]:
    """The environment of one variant's child: a fresh data dir (and database), a user and the bench site."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAIL_")}
    # the spool's commit delay off: with C callers that each wait for their answer it caps the rate at C per delay,
    # and the loop's idle time would then spread fixed costs over fewer events (the floor went 5 -> 15 us)
    env.update(TRAIL_DATA_DIR=str(data), TRAIL_RATE_LIMIT_PER_IP="1000000", PYTHONUNBUFFERED="1",
               TRAIL_SPOOL_COMMIT_MS="0")
    if mode == "redis":
        tag = data.name.replace("-", "_")
        run_mysql(f"CREATE DATABASE `bd_{tag}` CHARACTER SET utf8mb4")
        env.update(TRAIL_REDIS_URL=REDIS_URL, TRAIL_REDIS_PREFIX=f"trailbd:{tag}:", TRAIL_SECRET_KEY="bd-" + "k" * 40,
                   TRAIL_DATABASE_URL=MYSQL_URL.rstrip("/") + f"/bd_{tag}",
                   TRAIL_CLICKHOUSE_URL=f"chdb://{data / 'ch'}")
    for args in (["migrate"], ["user", "add", "bench@example.com", "--password", "bench-password-123"],
                 ["site", "add", DOMAIN, "--owner", "bench@example.com"]):
        done = subprocess.run([sys.executable, "-m", "trail", *args], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"trail {' '.join(args)}: {done.stderr.strip()[-2000:]}")
    return env


def cleanup(mode: str, data: Path) -> None:
    if mode == "redis":
        import redis

        tag = data.name.replace("-", "_")
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"trailbd:{tag}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
        run_mysql(f"DROP DATABASE IF EXISTS `bd_{tag}`")
    shutil.rmtree(data, ignore_errors=True)


async def measure(mode: str, variant: str, events: int, callers: int) -> tuple[float, float]:
    """Loop-thread and whole-process CPU µs per event for one variant (runs in the child)."""
    from trail.app import start_services, stop_services
    from trail.config import Settings
    from trail.ingest.handler import ACCEPTED

    role = "all" if mode == "embedded" and variant in ("full", "no-live") else "web"
    services = await start_services(Settings.load(), role)
    try:
        ingestor = services.extras["ingestor"]
        if variant in ("no-live", "floor"):
            await services.extras["live"].close()
        else:  # as with a live client on the instance (without one the engine sleeps: TRAIL_LIVE_IDLE_SECONDS)
            await services.extras["live"].wake()
        single = ingestor.single
        if variant == "floor":
            async def single(body: bytes, headers: Any, ip: str) -> Any:  # noqa: ARG001
                await ingestor.batcher.submit([BODY])
                return ACCEPTED

        async def caller(count: int) -> None:
            for _ in range(count):
                answer = await single(BODY, HEADERS, "127.0.0.1")
                if answer.status != 202:
                    raise RuntimeError(f"answer {answer.status}: {answer.body!r}")

        await asyncio.gather(*(caller(200) for _ in range(callers)))  # warm-up: caches, salts, the site
        await asyncio.sleep(1.0)
        per_caller = max(1, events // callers)
        started, process = time.thread_time(), time.process_time()
        await asyncio.gather(*(caller(per_caller) for _ in range(callers)))
        n = per_caller * callers
        return (time.thread_time() - started) / n * 1e6, (time.process_time() - process) / n * 1e6
    finally:
        await stop_services(services)


def child(args: argparse.Namespace) -> int:
    import uvloop

    import trail.app  # noqa: F401  (imported before the collector is tuned, as `serve` has it)
    from trail.gctune import tune_for_serving

    tune_for_serving()  # as `serve` does before serving
    loop_us, process_us = uvloop.run(measure(args.mode, args.variant, args.events, args.callers))
    print(json.dumps({"loop": loop_us, "process": process_us}))
    return 0


def run_variant(mode: str, variant: str, args: argparse.Namespace) -> tuple[float, float]:
    data = Path(tempfile.mkdtemp(prefix="trail-breakdown-"))
    try:
        env = prepare(mode, data)
        cmd = [sys.executable, __file__, "--child", "--mode", mode, "--variant", variant, "--events", str(args.events),
               "--callers", str(args.callers)]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode:
            raise RuntimeError(f"{variant}: exited with {done.returncode}: {done.stderr.strip()[-3000:]}")
        out = json.loads(done.stdout.strip().splitlines()[-1])
        return float(out["loop"]), float(out["process"])
    finally:
        cleanup(mode, data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=tuple(VARIANTS), default="embedded")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="full", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    variants = VARIANTS[args.mode]
    say(f"mode {args.mode}: {args.events:,} events per variant, {args.callers} concurrent callers, "
        f"{args.rounds} round(s) of {', '.join(variants)}")
    results: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    for round_no in range(1, args.rounds + 1):
        for variant in variants:
            results[variant].append(run_variant(args.mode, variant, args))
            loop_us, process_us = results[variant][-1]
            say(f"  round {round_no}/{args.rounds}: {variant:<10} loop thread {loop_us:7.1f} us/event, "
                f"process {process_us:7.1f} us/event")
    medians = {v: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
               for v, runs in results.items()}
    floor, full = medians["floor"], medians["full"]
    say("")
    say(f"{'variant':<10} {'loop us/ev':>11} {'x floor':>8} {'of full':>8} {'process us/ev':>14} {'x floor':>8}")
    for variant, (loop_us, process_us) in medians.items():
        say(f"{variant:<10} {loop_us:>11.1f} {loop_us / floor[0]:>8.2f} {loop_us / full[0]:>8.0%} "
            f"{process_us:>14.1f} {process_us / floor[1]:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
