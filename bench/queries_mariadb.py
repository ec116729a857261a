"""The dashboard reports as plain SQL over a relational events table on MariaDB (the comparison point)."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

from bench.queries import COUNTRIES, DAYS, DEVICES, PATHS, SOURCES, START

HOST, PORT, USER = "127.0.0.1", 3306, "root"

TABLE = """CREATE TABLE events (
  id BIGINT PRIMARY KEY, site_id INT NOT NULL, ts DATETIME(3) NOT NULL, name VARCHAR(64) NOT NULL,
  visitor_id BIGINT NOT NULL, session_id BIGINT NOT NULL, pathname VARCHAR(255) NOT NULL,
  source VARCHAR(64) NOT NULL, country CHAR(2) NOT NULL, device VARCHAR(16) NOT NULL,
  KEY site_ts (site_id, ts)) ENGINE=InnoDB"""


def _case(expr: str, values: list[str]) -> str:
    return "ELT(1 + " + expr + f" % {len(values)}, " + ", ".join("'" + v + "'" for v in values) + ")"


def _load(cur: Any, n: int) -> None:
    span = DAYS * 86400
    visitors = max(1, n // 24)
    step = 200_000
    for offset in range(0, n, step):
        cur.execute(f"""INSERT INTO events SELECT seq, 1,
            TIMESTAMPADD(MICROSECOND, (seq % 4) * 40000000, TIMESTAMPADD(SECOND, CRC32(seq DIV 4) % {span},
                '{START.strftime('%Y-%m-%d %H:%M:%S')}')),
            CASE WHEN seq % 4 = 3 THEN 'engagement' WHEN CRC32(seq * 7) % 20 = 0 THEN 'Signup' ELSE 'pageview' END,
            CRC32(CONCAT((seq DIV 4) % {visitors}, '-', (CRC32(seq DIV 4) % {span}) DIV 86400)), seq DIV 4,
            {_case('CRC32(seq * 3)', PATHS)},
            {_case('CRC32((seq DIV 4) * 5)', SOURCES)}, {_case('CRC32((seq DIV 4) * 11)', COUNTRIES)},
            {_case('CRC32((seq DIV 4) * 13)', DEVICES)}
            FROM seq_{offset}_to_{min(n, offset + step) - 1}""")
        print(f"  MariaDB loaded {min(n, offset + step):,} / {n:,}", flush=True)


def _queries() -> dict[str, str]:
    rng = (f"site_id = 1 AND ts >= '{START.strftime('%Y-%m-%d %H:%M:%S')}' "
           f"AND ts < '{(START + timedelta(days=DAYS)).strftime('%Y-%m-%d %H:%M:%S')}'")
    sessions = (f"SELECT session_id, MIN(visitor_id) v, MIN(ts) st, SUM(name = 'pageview') pv, "
                f"SUM(name != 'engagement') ev, TIMESTAMPDIFF(SECOND, MIN(ts), MAX(ts)) dur, "
                f"MIN(source) src, MIN(country) cc, MIN(device) dev FROM events WHERE {rng} GROUP BY session_id "
                f"HAVING ev > 0")
    return {
        "top_stats": f"SELECT COUNT(DISTINCT v), COUNT(*), SUM(pv), AVG(pv <= 1), AVG(dur) FROM ({sessions}) s",
        "timeseries": f"SELECT DATE(st) d, COUNT(DISTINCT v) FROM ({sessions}) s GROUP BY d ORDER BY d",
        "top_pages": f"SELECT pathname, COUNT(DISTINCT visitor_id) u, SUM(name = 'pageview') FROM events "
                     f"WHERE {rng} AND name != 'engagement' GROUP BY pathname ORDER BY u DESC LIMIT 9",
        "sources": f"SELECT src, COUNT(DISTINCT v) u FROM ({sessions}) s GROUP BY src ORDER BY u DESC LIMIT 9",
        "countries": f"SELECT cc, COUNT(DISTINCT v) u FROM ({sessions}) s GROUP BY cc ORDER BY u DESC LIMIT 9",
        "devices": f"SELECT dev, COUNT(DISTINCT v) u FROM ({sessions}) s GROUP BY dev ORDER BY u DESC LIMIT 9",
    }


def bench_mariadb(events: int, runs: int) -> dict[str, float]:
    """Load `events` rows into a fresh database, time each report; return p50 ms by report name."""
    import pymysql

    name = f"trail_bench_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(host=HOST, port=PORT, user=USER, password="", autocommit=True)
    out: dict[str, float] = {}
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"USE `{name}`")
            cur.execute(TABLE)
            _load(cur, events)
            print(f"\nMariaDB, {events:,} events, {runs} runs each")
            for report, sql in _queries().items():
                cur.execute(sql)
                cur.fetchall()
                ms = []
                for _ in range(runs):
                    t = time.perf_counter()
                    cur.execute(sql)
                    cur.fetchall()
                    ms.append((time.perf_counter() - t) * 1000)
                out[report] = statistics.median(ms)
                print(f"{report:<28}{out[report]:>10.1f}", flush=True)
            out["dashboard"] = sum(v for k, v in out.items())  # one connection: the reports run one after another
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
    return out
