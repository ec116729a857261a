"""Live benchmark: N websocket clients on one site while events arrive at a fixed rate; prints POST->frame latency,
server CPU per second (total, and its user and system parts), RSS growth, and CPU from 1 to N clients.

    .venv/bin/python bench/live.py [--clients 1,100,1000] [--rate 1000] [--seconds 10] [--redis redis://...]

It starts its own `python -m trail serve` (embedded by default) in a temporary data dir, creates a user, a site
and an API key, then for each client count: opens the sockets, posts batches (POST /api/events, 1/10 of the rate
every 100 ms) and records, for every batch and every client, the time from the POST to the first frame whose
pageviews include that batch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
TICKS = os.sysconf("SC_CLK_TCK")
PV = re.compile(r'"pageviews_last_30m":(\d+)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of pid so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def _client_worker(url: str, key: str, n: int, ready: Any, stop: Any, out: Any) -> None:
    """A process of its own holding n sockets (one Python process cannot read 1,000 sockets and post on time)."""
    logs: list[list[tuple[float, int]]] = [[] for _ in range(n)]

    async def run_one(log: list[tuple[float, int]], first: asyncio.Event) -> None:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"},
                                      max_size=None, open_timeout=120, compression=None) as ws:
            async for message in ws:
                log.append((time.monotonic(), int(PV.search(message).group(1))))  # type: ignore[union-attr]
                first.set()

    async def main() -> None:
        firsts = [asyncio.Event() for _ in range(n)]
        tasks = [asyncio.create_task(run_one(log, f)) for log, f in zip(logs, firsts)]
        await asyncio.gather(*(f.wait() for f in firsts))
        ready.put(n)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    out.put(logs)


class Clients:
    """N sockets spread over worker processes; for each, the (arrival time, pageviews) of every frame."""

    def __init__(self) -> None:
        import multiprocessing

        self.mp = multiprocessing.get_context("spawn")
        self.frames: list[list[tuple[float, int]]] = []
        self.procs: list[Any] = []

    async def open(self, url: str, key: str, n: int) -> None:
        workers = max(1, min(4, n // 100))
        self.ready, self.stop, self.out = self.mp.Queue(), self.mp.Event(), self.mp.Queue()
        for i in range(workers):
            share = n // workers + (1 if i < n % workers else 0)
            proc = self.mp.Process(target=_client_worker, args=(url, key, share, self.ready, self.stop, self.out))
            proc.start()
            self.procs.append(proc)
        for _ in range(workers):
            await asyncio.to_thread(self.ready.get, True, 300)

    async def close(self) -> None:
        self.stop.set()
        for _ in self.procs:
            self.frames.extend(await asyncio.to_thread(self.out.get, True, 120))
        for proc in self.procs:
            await asyncio.to_thread(proc.join, 30)


async def phase(base: str, key: str, domain: str, n: int, rate: int, seconds: float, pid: int,
                sent_before: int) -> dict[str, Any]:
    clients = Clients()
    await clients.open(f"ws://{base.split('://')[1]}/api/v2/live?site_id={domain}", key, n)
    await asyncio.sleep(1.0)
    batch = max(1, rate // 10)
    posts: list[tuple[float, int]] = []  # (post start, pageviews total once this batch is in)
    total = sent_before
    (user0, sys0), t0 = cpu_split(pid), time.monotonic()
    rss_peak = rss_mb(pid)
    async with httpx.AsyncClient(timeout=30) as http:
        next_at = time.monotonic()
        while time.monotonic() - t0 < seconds:
            body = [{"name": "pageview", "url": f"https://{domain}/p{(total + i) % 50}", "domain": domain,
                     "ip": f"10.{(total + i) // 65536 % 256}.{(total + i) // 256 % 256}.{(total + i) % 256}",
                     "user_agent": UA} for i in range(batch)]
            started = time.monotonic()
            res = await http.post(f"{base}/api/events", json=body, headers={"Authorization": f"Bearer {key}"})
            if res.status_code != 202:
                raise RuntimeError(f"batch refused: {res.status_code} {res.text[:200]}")
            total += batch
            posts.append((started, total))
            rss_peak = max(rss_peak, rss_mb(pid))
            next_at += 0.1
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    (user1, sys1), elapsed = cpu_split(pid), time.monotonic() - t0
    user, system = (user1 - user0) / elapsed, (sys1 - sys0) / elapsed
    await asyncio.sleep(1.5)
    await clients.close()
    latencies = []
    for log in clients.frames:
        for started, needed in posts:
            seen = next((t for t, pv in log if pv >= needed and t >= started), None)
            if seen is not None:
                latencies.append(seen - started)
    delivered = len(latencies) / max(1, len(posts) * n)
    frames = statistics.mean(len(log) for log in clients.frames) / (seconds + 2.5)
    return {"clients": n, "events": total - sent_before, "p50_ms": pct(latencies, 0.5) * 1000,
            "p99_ms": pct(latencies, 0.99) * 1000, "cpu_per_s": user + system,
            "user_per_s": user, "sys_per_s": system, "rss_peak_mb": rss_peak,
            "delivered": delivered, "frames_per_s_per_client": frames, "total": total}


async def setup(data_dir: Path, env: dict[str, str]) -> str:
    from trail.store.meta import repo
    from trail.store.meta.db import MetaStore

    url = env.get("TRAIL_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'trail.db'}"
    meta = MetaStore(url)
    async with meta.session() as db:
        owner = await repo.create_user(db, "bench@live.test", "password123")
        await repo.add_site(db, owner, "bench.test")
        _, key = await repo.create_api_key(db, owner)
        await db.commit()
    await meta.close()
    return key


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,100,1000")
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="posting time per client count")
    parser.add_argument("--server", default="hypercorn")
    parser.add_argument("--redis", default="", help="use this Redis for the stream (else the embedded spool)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    counts = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, port = Path(tmp), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAIL_")}
        env.update({"TRAIL_DATA_DIR": tmp, "TRAIL_LOG_LEVEL": "WARNING", "TRAIL_RATE_LIMIT_PER_IP": "1000000",
                    "TRAIL_RATE_LIMIT_PER_KEY": "100000", "TRAIL_SECRET_KEY": "bench-secret-" + "x" * 32})
        if args.redis:
            env.update({"TRAIL_REDIS_URL": args.redis, "TRAIL_REDIS_PREFIX": f"benchlive:{port}:"})
        proc = subprocess.Popen([sys.executable, "-m", "trail", "serve", "--port", str(port), "--server",
                                 args.server], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    with urllib.request.urlopen(base + "/readyz", timeout=2):
                        break
                except Exception:
                    time.sleep(0.2)
            key = await setup(data_dir, env)
            # Warm-up: a few events first, so the idle figure includes chDB's one-time allocations of the first
            # INSERT (pools, the table's first parts) and RSS growth measures what the load costs.
            warmup = 10
            async with httpx.AsyncClient(timeout=30) as http:
                body = [{"name": "pageview", "url": "https://bench.test/warmup", "domain": "bench.test",
                         "ip": f"10.255.255.{i}", "user_agent": UA} for i in range(warmup)]
                res = await http.post(f"{base}/api/events", json=body, headers={"Authorization": f"Bearer {key}"})
                if res.status_code != 202:
                    raise RuntimeError(f"warm-up refused: {res.status_code} {res.text[:200]}")
            await asyncio.sleep(3.0)
            idle_rss, idle_cpu0, t0 = rss_mb(proc.pid), cpu_seconds(proc.pid), time.monotonic()
            await asyncio.sleep(3.0)
            idle_cpu = (cpu_seconds(proc.pid) - idle_cpu0) / (time.monotonic() - t0)
            mode = "redis" if args.redis else "embedded"
            print(f"server: {args.server}, {mode}; idle RSS (after {warmup} warm-up events) {idle_rss:.0f} MB, "
                  f"idle CPU {idle_cpu:.3f} s/s; "
                  f"rate {args.rate} events/s, {args.seconds:.0f} s per step")
            print(f"{'clients':>8} {'events':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU s/s':>8} {'RSS+ MB':>8} "
                  f"{'delivered':>9} {'frames/s':>8} {'user':>6} {'sys':>6}")
            results, sent = [], warmup
            for n in counts:
                r = await phase(base, key, "bench.test", n, args.rate, args.seconds, proc.pid, sent)
                sent = r["total"]
                results.append(r)
                print(f"{n:>8} {r['events']:>7} {r['p50_ms']:>7.0f} {r['p99_ms']:>7.0f} {r['cpu_per_s']:>8.3f} "
                      f"{r['rss_peak_mb'] - idle_rss:>8.0f} {r['delivered']:>9.1%} "
                      f"{r['frames_per_s_per_client']:>8.2f} {r['user_per_s']:>6.3f} {r['sys_per_s']:>6.3f}",
                      flush=True)
            if len(results) > 1:
                print(f"CPU {results[-1]['clients']} clients / {results[0]['clients']} client: "
                      f"{results[-1]['cpu_per_s'] / results[0]['cpu_per_s']:.2f}x; "
                      f"RSS growth over idle: {max(r['rss_peak_mb'] for r in results) - idle_rss:.0f} MB")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if args.redis:
                import redis

                client = redis.from_url(args.redis)
                keys = list(client.scan_iter(match=f"benchlive:{port}:*"))
                if keys:
                    client.delete(*keys)


if __name__ == "__main__":
    asyncio.run(main())
