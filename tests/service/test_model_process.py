"""The model process of ``couponlens serve``: same scores as in-process, restarts, never outlives
the service, and start-up errors reach the user without a traceback."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import numpy as np
import psutil
import pytest

from couponlens.errors import CouponlensError
from couponlens.service.model_process import ModelProcess, ModelProcessError
from couponlens.service.scorer import load_local_scorer
from couponlens.service.wire import CandidateColumns, decode_score_body

from .conftest import running_server

Service = Any  # tests/service/conftest.py


def _columns(service: Service, n: int) -> CandidateColumns:
    import json

    rows = (service.candidates * (n // len(service.candidates) + 1))[:n]
    columns = decode_score_body(json.dumps({"candidates": rows}).encode())
    assert columns is not None
    return columns


def _model_processes(pid: int) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(pid).children(recursive=True)
        if "couponlens.service.model_process" in " ".join(p.cmdline())
    ]


def _wait_gone(pid: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_the_model_process_scores_like_the_model_in_process_and_restarts(
    hardened_service: Service,
) -> None:
    as_of = dt.date.fromisoformat(hardened_service.as_of)
    local = load_local_scorer(hardened_service.model, hardened_service.history, as_of=as_of)
    remote = ModelProcess(hardened_service.model, hardened_service.history, as_of=as_of)
    try:
        assert (remote.model_name, remote.as_of, remote.predictor) == (
            local.model_name,
            local.as_of,
            local.predictor,
        )
        assert remote.describe()["entities"] == local.describe()["entities"]
        one, two = _columns(hardened_service, 300), _columns(hardened_service, 7)
        expected_one, expected_two = local.probabilities(one), local.probabilities(two)
        assert np.array_equal(remote.probabilities(one), expected_one)

        # killed between calls: the next call starts a new one and answers
        pid = remote._process.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20  # its threads end, then it can be waited for
        while remote.healthy() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not remote.healthy()
        assert np.array_equal(remote.probabilities(two), expected_two)
        assert remote.restarts == 1 and remote.healthy()

        async def overlapping() -> list[np.ndarray]:
            # sent back to back, answered in order, each caller gets its own
            scored = await asyncio.gather(
                remote.probabilities_async(one),
                remote.probabilities_async(two),
                remote.probabilities_async(one),
            )
            with pytest.raises(ModelProcessError, match="event loop"):
                remote.probabilities(one)  # the socket is the running loop's stream's now
            return list(scored)

        first, second, third = asyncio.run(overlapping())
        assert np.array_equal(first, expected_one) and np.array_equal(third, expected_one)
        assert np.array_equal(second, expected_two)
        assert np.array_equal(remote.probabilities(two), expected_two)  # that loop has ended

        async def killed_then_again() -> np.ndarray:
            await remote.probabilities_async(two)
            pid = remote._process.pid  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
            await asyncio.to_thread(_wait_gone, pid)
            await asyncio.sleep(0.2)  # the reader sees the end of the stream
            return await remote.probabilities_async(two)

        assert np.array_equal(asyncio.run(killed_then_again()), expected_two)
        assert remote.restarts == 2

        async def killed_while_the_loop_is_busy() -> np.ndarray:
            # the next call comes before the reader has seen the end of the stream: the
            # restart and the old reader must not undo each other
            await remote.probabilities_async(two)
            os.kill(remote._process.pid, signal.SIGKILL)  # type: ignore[union-attr]
            time.sleep(1.0)  # the loop busy: nothing read meanwhile
            return await remote.probabilities_async(two)

        busy_loop_started = time.perf_counter()
        assert np.array_equal(asyncio.run(killed_while_the_loop_is_busy()), expected_two)
        assert remote.restarts == 3 and remote.healthy()
        assert time.perf_counter() - busy_loop_started < 60
    finally:
        remote.close()
    assert remote._process is None


def test_a_model_process_that_cannot_start_says_why(hardened_service: Service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CouponlensError, match="no such file"):
        ModelProcess(hardened_service.model, tmp_path / "missing.csv")
    # through the CLI: the message, exit code 2, no traceback
    done = subprocess.run(
        [sys.executable, "-m", "couponlens", "serve", str(hardened_service.model)]
        + ["--history", str(tmp_path / "missing.csv"), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "missing.csv: no such file" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_model_process_that_cannot_restart_gets_503_until_it_can(
    hardened_service: Service, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    history = tmp_path / "history.csv"
    shutil.copy(hardened_service.history, history)
    body = {"candidates": hardened_service.candidates}
    with running_server(
        [str(hardened_service.model), "--history", str(history)]
        + ["--as-of", hardened_service.as_of],
        tmp_path / "server.log",
        {},
    ) as (url, process):
        assert httpx.post(url + "/score", json=body, timeout=60).status_code == 200
        history.rename(tmp_path / "moved.csv")  # a restart cannot read it now
        (child,) = _model_processes(process.pid)
        child.kill()
        deadline = time.monotonic() + 30
        # a request in flight when it died is told it stopped; the next ones, that it could not
        # be restarted, and why
        while (
            "could not restart"
            not in (scored := httpx.post(url + "/score", json=body, timeout=60)).text
        ):
            assert scored.status_code in (200, 503), scored.text
            assert time.monotonic() < deadline, "no 503 saying the restart failed"
            time.sleep(0.1)
        assert scored.status_code == 503 and "history.csv" in scored.json()["detail"]
        assert httpx.get(url + "/health", timeout=10).status_code == 503
        (tmp_path / "moved.csv").rename(history)
        deadline = time.monotonic() + 60  # /health itself starts a new one in the background
        while httpx.get(url + "/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "/health did not recover"
            time.sleep(0.3)
        assert httpx.post(url + "/score", json=body, timeout=60).status_code == 200
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log


def test_the_service_restarts_a_killed_model_process(hardened_service: Service) -> None:
    (child,) = _model_processes(hardened_service.pid)
    child.kill()
    deadline = time.monotonic() + 20  # once its threads have ended and the service sees it
    while (
        health := httpx.get(
            hardened_service.url + "/health", headers=hardened_service.auth, timeout=10
        )
    ).status_code == 200:
        assert time.monotonic() < deadline, "/health still says ok"
        time.sleep(0.1)
    assert health.status_code == 503
    assert health.json()["status"] == "model process restarting"
    body = {"candidates": hardened_service.candidates}
    scored = httpx.post(
        hardened_service.url + "/score", json=body, headers=hardened_service.auth, timeout=120
    )
    assert scored.status_code == 200
    assert len(scored.json()["scores"]) == len(hardened_service.candidates)
    assert (
        httpx.get(
            hardened_service.url + "/health", headers=hardened_service.auth, timeout=10
        ).status_code
        == 200
    )
    (again,) = _model_processes(hardened_service.pid)
    assert again.pid != child.pid


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_the_model_process_ends_with_the_service(
    hardened_service: Service, tmp_path, how: signal.Signals
) -> None:  # type: ignore[no-untyped-def]
    with running_server(
        [str(hardened_service.model), "--history", str(hardened_service.history)]
        + ["--as-of", hardened_service.as_of],
        tmp_path / "server.log",
        {},
    ) as (url, process):
        (child,) = _model_processes(process.pid)
        assert httpx.post(
            url + "/score", json={"candidates": hardened_service.candidates[:5]}, timeout=60
        ).is_success
        process.send_signal(how)
        process.wait(timeout=30)
        assert _wait_gone(child.pid), "the model process outlived the service"
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_without_a_model_process_the_service_scores_the_same(
    hardened_service: Service, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    body = {"candidates": hardened_service.candidates}
    with running_server(
        [str(hardened_service.model), "--history", str(hardened_service.history)]
        + ["--as-of", hardened_service.as_of, "--no-model-process"],
        tmp_path / "server.log",
        {},
    ) as (url, process):
        assert _model_processes(process.pid) == []
        alone = httpx.post(url + "/score", json=body, timeout=60).json()
    split = httpx.post(
        hardened_service.url + "/score", json=body, headers=hardened_service.auth, timeout=60
    ).json()
    assert alone == split
