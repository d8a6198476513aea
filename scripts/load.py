"""Load benchmark of the web app on loopback (not a test: it prints numbers for docs/benchmarks.md).

Starts ``rigfit serve`` in its own process, then drives it from this process with keep-alive
HTTP/1.1 connections for a fixed time per endpoint, and prints requests per second, p50 and
p99 latency and the error count. The client is a few lines of asyncio on raw sockets so that
it costs the server's CPU as little as possible (both share this machine's cores).

    python scripts/load.py [--seconds 10] [--connections 8] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

# A spread of real questions: the cache holds each answer once it has been asked.
QUERIES = [
    {"model": m, "gpu": g, "gpus": n, "quant": q, "ctx": c}
    for m, q in [
        ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "Q4_K_M"),
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "Q8_0"),
        ("deepseek-ai/DeepSeek-R1", "FP8-BLOCK"),
        ("Qwen/Qwen3-30B-A3B", "Q4_K_M"),
        ("meta-llama/Llama-3.1-8B-Instruct", "BF16"),
    ]
    for g, n in [("rtx-4090", 1), ("rtx-4090", 2), ("h100-sxm", 8), ("m4-max-128gb", 1)]
    for c in ("8192", "32768")
]


async def _worker(
    host: str, port: int, paths: itertools.cycle[str], until: float, lat: list[float]
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    while time.perf_counter() < until:
        path = next(paths)
        t0 = time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        lat.append(time.perf_counter() - t0)
        if b" 200 " not in status_line:
            errors += 1
    writer.close()
    return errors


async def _run(host: str, port: int, paths: list[str], seconds: float, conns: int) -> None:
    cycle = itertools.cycle(paths)
    lat: list[float] = []
    until = time.perf_counter() + seconds
    t0 = time.perf_counter()
    errors = sum(
        await asyncio.gather(*(_worker(host, port, cycle, until, lat) for _ in range(conns)))
    )
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100)
    print(
        f"  {len(lat):,} requests in {wall:.1f} s: {len(lat) / wall:,.0f} req/s,"
        f" p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, errors {errors}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("rigfit")
    server = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--workers", str(args.workers)],
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/api/v1/gpus/h100-sxm", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        api = [f"/api/v1/estimate?{urlencode(q)}" for q in QUERIES]
        pages = [f"/?{urlencode(q)}" for q in QUERIES]
        for path in api + pages:  # warm the caches once, as a running server would be
            urllib.request.urlopen(base + path, timeout=30).read()
        print(
            f"rigfit serve --workers {args.workers}; {args.connections} keep-alive connections;"
            f" {len(QUERIES)} distinct inputs; {os.cpu_count()} CPU cores shared with the client"
        )
        for name, paths in (("GET /api/v1/estimate", api), ("GET / (calculator page)", pages)):
            print(name)
            asyncio.run(_run("127.0.0.1", port, paths, args.seconds, args.connections))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
