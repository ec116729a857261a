"""A child process for the spool durability tests: it works on a spool until it gets SIGKILLed."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trail.live.memory_broker import MemoryBroker  # noqa: E402


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def burst(broker: MemoryBroker, writers: int) -> None:
    """`writers` concurrent appenders, forever; each id is printed only after its append returned."""

    async def writer(w: int) -> None:
        n = 0
        while True:
            payloads = [f"{w}:{n}:{k}".encode() for k in range(1 + n % 3)]
            ids = await broker.append(payloads)
            for entry_id, payload in zip(ids, payloads):
                say(f"{entry_id} {payload.decode()}")
            n += 1

    await asyncio.gather(*(writer(w) for w in range(writers)))


async def consume(broker: MemoryBroker) -> None:
    await broker.ensure_group("g")
    ids = await broker.append([f"e{i}".encode() for i in range(10)])
    first = await broker.read_group("g", "c1", 6, 0)
    await broker.ack("g", [e.id for e in first[:3]])
    await broker.read_group("g", "c2", 2, 0)
    say(json.dumps(ids))
    await asyncio.sleep(3600)


async def main(mode: str, spool: str) -> None:
    broker = MemoryBroker(spool, segment_bytes=16 << 10)
    await broker.start()
    if mode == "burst":
        say("ready")
        await burst(broker, int(sys.argv[3]))
    elif mode == "consume":
        await consume(broker)
    else:  # hold the lock
        say("ready")
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
