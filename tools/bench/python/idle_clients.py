#!/usr/bin/env python3
"""Opens N TCP connections to HOST:PORT (an echo server), exchanges one small message on each, and keeps
them all open and idle. Commands on stdin, one per line, answered with one JSON line on stdout:

  (at start)  {"opened": N, "failed": F, "seconds": S}   once every connection was tried
  check       {"ok": K, "failed": F}                     another round trip on every open connection
  close       {"closed": N}                               closes them all, then exits

Usage: idle_clients.py HOST PORT N [CONCURRENCY]. Raises its open-file limit to the hard limit.
"""
import asyncio
import json
import resource
import sys
import time

PING = b"idle-memory-ping"  # 16 bytes


async def round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(PING)
    await writer.drain()
    if await reader.readexactly(len(PING)) != PING:
        raise ValueError("echo returned other bytes")


async def open_one(host: str, port: int, gate: asyncio.Semaphore, conns: list, errors: list) -> None:
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
            await asyncio.wait_for(round_trip(reader, writer), 30)
            conns.append((reader, writer))
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors.append(repr(e))


def say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(host: str, port: int, n: int, concurrency: int) -> None:
    conns: list = []
    errors: list = []
    gate = asyncio.Semaphore(concurrency)
    t0 = time.monotonic()
    await asyncio.gather(*(open_one(host, port, gate, conns, errors) for _ in range(n)))
    say({"opened": len(conns), "failed": len(errors), "seconds": round(time.monotonic() - t0, 1),
         "errors": sorted(set(errors))[:5]})
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := (await stdin.readline()).decode().strip():
        if line == "check":
            results = await asyncio.gather(
                *(asyncio.wait_for(round_trip(r, w), 30) for r, w in conns), return_exceptions=True)
            bad = [r for r in results if r is not None]
            say({"ok": len(results) - len(bad), "failed": len(bad)})
        elif line == "close":
            for _, w in conns:
                w.close()
            say({"closed": len(conns)})
            return


if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    args = sys.argv[1:]
    asyncio.run(main(args[0], int(args[1]), int(args[2]), int(args[3]) if len(args) > 3 else 64))
