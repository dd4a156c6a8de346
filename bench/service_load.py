"""A bounded load test of the scoring service: 100-candidate batches from 50 concurrent clients.

It generates an O2O history (``--rows``, default 1x the real size) and next month's
candidates, trains a model, starts ``couponlens serve`` as a real uvicorn process on loopback
and, after a warm-up, has ``--clients`` asyncio clients each send ``--requests`` POST /score
requests of ``--batch`` candidates back to back. It prints the throughput and the p50/p99/max
latency seen by the clients. The load generator runs on the same 2 cores as the server, so the
figures are pessimistic. Target: p99 under 50 ms.

Run: ``python -m bench.service_load [--rows 1754884] [--clients 50] [--requests 40]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out" / "service"


def _prepare(rows: int, seed: int) -> tuple[Path, Path, Path]:
    from couponlens.datasets.o2o import load_o2o
    from couponlens.datasets.o2o_synthetic import generate_o2o
    from couponlens.engine import connect
    from couponlens.models.artifact import save_model
    from couponlens.models.train import TrainOptions, train_o2o

    OUT.mkdir(parents=True, exist_ok=True)
    train, test, model = OUT / f"train_{rows}.csv", OUT / f"test_{rows}.csv", OUT / f"model_{rows}"
    if not model.exists():
        generate_o2o(rows, seed, train)
        generate_o2o(max(1000, rows // 15), seed, test, layout="test", world_rows=rows)
        start = time.perf_counter()
        result = train_o2o(load_o2o(train, connect()).table, TrainOptions(seed=seed))
        save_model(result.model, model)
        print(f"trained a {result.chosen} model in {time.perf_counter() - start:.1f} s")
    return train, test, model


def _batches(test: Path, batch: int, count: int, seed: int) -> list[bytes]:
    frame = pd.read_csv(test, dtype=str, keep_default_na=False)
    records = [
        {
            "user_id": int(r.User_id),
            "merchant_id": int(r.Merchant_id),
            "coupon_id": int(r.Coupon_id),
            "discount_rate": r.Discount_rate,
            "distance": None if r.Distance == "null" else int(r.Distance),
            "date_received": r.Date_received,
        }
        for r in frame.itertuples()
    ]
    rng = np.random.default_rng(seed)
    return [
        json.dumps(
            {"candidates": [records[i] for i in rng.integers(0, len(records), batch)]}
        ).encode()
        for _ in range(count)
    ]


async def _client(
    port: int, bodies: list[bytes], latencies: list[float], errors: list[int]
) -> None:
    """One keep-alive HTTP/1.1 connection sending pre-encoded requests back to back.

    A bare asyncio client: the load generator shares the 2 cores with the server, so it must
    cost as little CPU per request as possible (an httpx client costs about as much as the
    server's own work).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for body in bodies:
            head = (
                "POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            start = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            response_head = await reader.readuntil(b"\r\n\r\n")
            lines = response_head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _load(
    port: int, clients: int, per_client: list[list[bytes]]
) -> tuple[list[float], list[int], float]:
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(port, per_client[i], latencies, errors) for i in range(clients)))
    return latencies, errors, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_754_884)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="Requests per client.")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="Server worker processes.")
    options = parser.parse_args()

    train, test, model = _prepare(options.rows, options.seed)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "couponlens",
            "serve",
            str(model),
            "--history",
            str(train),
            "--port",
            str(port),
        ],  # fmt: skip
        env={k: v for k, v in os.environ.items() if k != "COUPONLENS_API_TOKEN"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while True:
            if server.poll() is not None:
                raise SystemExit("the server exited during start-up")
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        print(
            f"server ready in {time.perf_counter() - started:.1f} s (history {options.rows:,} rows)"
        )
        bodies = _batches(
            test, options.batch, options.clients * (options.requests + 2), options.seed
        )
        warm = [bodies[i :: options.clients][:2] for i in range(options.clients)]
        asyncio.run(_load(port, options.clients, warm))
        timed = [bodies[i :: options.clients][2:] for i in range(options.clients)]
        latencies, errors, seconds = asyncio.run(_load(port, options.clients, timed))
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = np.array(latencies) * 1000
    total = len(latencies)
    print(
        f"\n| workers | clients | batch | requests | errors | requests/s | candidates/s | p50 ms | p99 ms | max ms |\n"
        f"|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {options.workers} | {options.clients} | {options.batch} | {total:,} | {len(errors)} | {total / seconds:,.0f} "
        f"| {total * options.batch / seconds:,.0f} | {np.percentile(ms, 50):.1f} "
        f"| {np.percentile(ms, 99):.1f} | {ms.max():.1f} |"
    )


if __name__ == "__main__":
    main()
