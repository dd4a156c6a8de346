"""A small trained model and a real ``couponlens serve`` process for the hardening tests.

The server runs with a token, a 200,000-byte body limit and a 2-second request timeout, so slow
clients are cut off quickly. (``test_service.py`` keeps its own, larger fixture.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from couponlens.datasets.o2o import load_o2o
from couponlens.datasets.o2o_synthetic import generate_o2o
from couponlens.engine import connect
from couponlens.models.artifact import save_model
from couponlens.models.train import TrainOptions, train_o2o
from couponlens.service.wire import candidates_from_csv

TOKEN = "hardening-token"
REQUEST_TIMEOUT = 2


@dataclass(frozen=True)
class Service:
    """A running service: its URL, the token, and candidates that score."""

    url: str
    token: str
    candidates: list[dict[str, object]]
    log: Path
    model: Path
    history: Path
    as_of: str
    pid: int
    request_timeout: int = REQUEST_TIMEOUT

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    args: list[str], log_path: Path, env: dict[str, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``couponlens serve ARGS --port P`` on a free port, once ``/health`` answers 200: its URL
    and process. Its output goes to ``log_path``; it is stopped (SIGTERM) on leaving."""
    port = _free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "couponlens", "serve", *args, "--port", str(port)],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        token = env.get("COUPONLENS_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + 120
        try:
            while True:
                if process.poll() is not None:
                    raise AssertionError("server exited: " + log_path.read_text())
                try:
                    if httpx.get(url + "/health", headers=headers, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("server did not start within 120 s")
                time.sleep(0.3)
            yield url, process
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def hardened_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("hardened_service")
    train, test = folder / "train.csv", folder / "test.csv"
    generate_o2o(20_000, 5, train)
    generate_o2o(500, 5, test, layout="test", world_rows=20_000)
    history = load_o2o(train, connect(threads=1)).table
    save_model(train_o2o(history, TrainOptions(n_estimators=30, threads=1)).model, folder / "m")
    candidates = candidates_from_csv(test)
    first = min(str(c["date_received"]) for c in candidates)
    candidates = [c for c in candidates if c["date_received"] == first]
    log_path = folder / "server.log"
    as_of = f"{first[:4]}-{first[4:6]}-{first[6:]}"
    with running_server(
        [
            str(folder / "m"),
            "--history",
            str(train),
            "--as-of",
            as_of,
            "--max-body-bytes",
            "200000",
            "--request-timeout",
            str(REQUEST_TIMEOUT),
        ],  # fmt: skip
        log_path,
        {"COUPONLENS_API_TOKEN": TOKEN},
    ) as (url, process):
        yield Service(
            url=url,
            token=TOKEN,
            candidates=candidates,
            log=log_path,
            model=folder / "m",
            history=train,
            as_of=as_of,
            pid=process.pid,
        )
