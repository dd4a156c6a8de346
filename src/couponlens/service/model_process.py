"""The model and its snapshot in a process of their own, scoring for the service over a socket.

In one Python process the service's two halves take turns on one GIL: the event loop (HTTP,
decoding bodies, encoding answers) and the model (feature look-ups, the logistic part, the
trees' Python side). Under load that turn-taking, not the cores, capped the throughput. A
:class:`ModelProcess` starts ``python -m couponlens.service.model_process`` fresh (not forked:
a fork would copy the locks of the parent's other threads), which loads the model, builds its
snapshot and compiles its trees itself, then answers score requests on a socket pair. The
service process keeps only the HTTP side, so each half has a core and a GIL.

The wire format is private to this module and carries no pickle: a frame is one kind byte, a
4-byte big-endian length and the payload; candidates go as msgpack (ids, distances and day
numbers as raw little-endian arrays), probabilities come back as raw float64.

The model process ignores Ctrl-C (the service decides when it stops) and exits when its socket
closes, so it never outlives the service, however the service ends. If it dies, the next
request starts a new one; ``healthy()`` is False meanwhile.

Example:
    >>> scorer = ModelProcess("model/", "history.csv")  # doctest: +SKIP
    >>> scorer.predictor, scorer.as_of  # doctest: +SKIP
    ('compiled', datetime.date(2016, 7, 1))
    >>> scorer.probabilities(decode_score_body(body))  # doctest: +SKIP
    array([0.031, 0.402, ...])
    >>> scorer.close()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import datetime as dt
import json
import logging
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from couponlens.errors import CouponlensError
from couponlens.service.wire import CandidateColumns

log = logging.getLogger("couponlens.service")

_HEADER = struct.Struct("!cI")
#: Frame kinds.
_SETTINGS, _READY, _SCORE, _SCORES, _USER_ERROR, _FAILURE = b"J", b"R", b"S", b"P", b"U", b"E"
#: Longest a score request may take in the model process before it is given up for stuck.
SCORE_TIMEOUT = 120.0


class ModelProcessError(RuntimeError):
    """The model process failed a request, or stopped."""


class _Batch(msgspec.Struct, array_like=True):
    user_id: bytes
    merchant_id: bytes
    coupon_id: bytes
    discount_text: list[str]
    distance: bytes
    day: bytes


_batch_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(_Batch)


def _encode_batch(candidates: CandidateColumns) -> bytes:
    def raw(values: np.ndarray, dtype: str) -> bytes:
        return np.ascontiguousarray(values, dtype=dtype).tobytes()

    return _batch_encoder.encode(
        _Batch(
            user_id=raw(candidates.user_id, "<i8"),
            merchant_id=raw(candidates.merchant_id, "<i8"),
            coupon_id=raw(candidates.coupon_id, "<i8"),
            discount_text=list(candidates.discount_text),
            distance=raw(candidates.distance, "<f8"),
            day=raw(candidates.day, "<i8"),
        )
    )


def _decode_batch(payload: bytes) -> CandidateColumns:
    batch = _batch_decoder.decode(payload)
    day = np.frombuffer(batch.day, "<i8")
    return CandidateColumns(
        user_id=np.frombuffer(batch.user_id, "<i8"),
        merchant_id=np.frombuffer(batch.merchant_id, "<i8"),
        coupon_id=np.frombuffer(batch.coupon_id, "<i8"),
        discount_text=batch.discount_text,
        distance=np.frombuffer(batch.distance, "<f8"),
        date_text=[],  # answers are written by the service process, which has the texts
        day=day,
    )


def _send(sock: socket.socket, kind: bytes, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(kind, len(payload)) + payload)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise EOFError("the other side closed the socket")
        got += n
    return bytes(buffer)


def _answer(kind: bytes, payload: bytes) -> np.ndarray:
    if kind == _SCORES:
        return np.frombuffer(payload, "<f8").astype(np.float64)
    if kind == _USER_ERROR:
        raise CouponlensError(payload.decode())
    raise ModelProcessError(payload.decode())


def _receive(sock: socket.socket) -> tuple[bytes, bytes]:
    kind, size = _HEADER.unpack(_receive_exactly(sock, _HEADER.size))
    return kind, _receive_exactly(sock, size) if size else b""


class ModelProcess:
    """A :class:`~couponlens.service.scorer.Scorer` whose model runs in a process of its own.

    Starting it returns once the model process has loaded the model and built its snapshot,
    or raises :class:`~couponlens.errors.CouponlensError` with the model process's reason.
    """

    def __init__(
        self,
        model_dir: str | Path,
        history: str | Path,
        *,
        as_of: dt.date | None = None,
        compile_model: bool = True,
    ) -> None:
        self._settings = {
            "model": str(model_dir),
            "history": str(history),
            "as_of": None if as_of is None else as_of.isoformat(),
            "compile_model": compile_model,
        }
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        # the socket as an asyncio stream, once an event loop scores (probabilities_async)
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._stream_lock: asyncio.Lock | None = None
        self._stream_loop: asyncio.AbstractEventLoop | None = None
        self._stream_socket: socket.socket | None = None
        self._waiting: collections.deque[asyncio.Future[tuple[bytes, bytes]]] = collections.deque()
        self._reading: asyncio.Future[None] | None = None
        self._reviving: asyncio.Future[None] | None = None
        self._killed = False  # killed, perhaps not yet reapable (its threads still ending)
        self.restarts = 0
        info = self._start()
        self.model_name: str = info["model_name"]
        self.leakage_features: bool = info["leakage_features"]
        self.predictor: str = info["predictor"]
        self.as_of = dt.date.fromisoformat(info["as_of"])
        self._describe: dict[str, object] = info["snapshot"]
        atexit.register(self.close)

    def _start(self) -> dict[str, Any]:
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "couponlens.service.model_process", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            _send(ours, _SETTINGS, json.dumps(self._settings).encode())
            kind, payload = _receive(ours)
        except (EOFError, OSError):  # it died: the socket ends, or is reset
            ours.close()
            code = process.wait()
            raise CouponlensError(
                f"the model process stopped while starting (exit code {code}); "
                "its messages are above"
            ) from None
        except BaseException:  # Ctrl-C while it builds: it must not go on alone
            ours.close()
            process.kill()
            process.wait()
            raise
        if kind != _READY:
            ours.close()
            process.wait()
            raise CouponlensError(payload.decode())
        self._process, self._socket, self._killed = process, ours, False
        info: dict[str, Any] = json.loads(payload)
        return info

    def _stop_process(self) -> None:
        """Close this end of the socket and reap the model process (blocking: not on a loop)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)  # it exits when every end of its socket closes
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def healthy(self) -> bool:
        """Whether the model process is running (a stopped one restarts on the next request,
        or after :meth:`revive_soon`)."""
        process = self._process
        return process is not None and not self._killed and process.poll() is None

    def describe(self) -> dict[str, object]:
        """What the model process's snapshot holds."""
        return dict(self._describe)

    def probabilities(self, candidates: CandidateColumns) -> np.ndarray:
        """Probability of use of each candidate, scored in the model process."""
        payload = _encode_batch(candidates)
        with self._lock:
            if self._stream is not None and self._stream_loop is not None:
                if not self._stream_loop.is_closed():
                    raise ModelProcessError("the model process is scored from an event loop now")
                self._abandon_stream()
            if not self.healthy():
                self._stop_process()
                log.warning("the model process had stopped; starting a new one")
                self._start()
                self.restarts += 1
            sock = self._socket
            if sock is None:
                raise ModelProcessError("the model process is not running")
            try:
                sock.settimeout(SCORE_TIMEOUT)
                _send(sock, _SCORE, payload)
                kind, answer = _receive(sock)
            except (OSError, EOFError) as exc:  # died, or stuck: the stream is out of step
                if self._process is not None:
                    self._process.kill()
                self._stop_process()
                raise ModelProcessError(f"the model process stopped: {exc}") from None
        return _answer(kind, answer)

    def _restart(self) -> None:
        """Reap the stopped model process and start a new one (blocking: run in an executor)."""
        with self._lock:
            self._stop_process()
            log.warning("the model process had stopped; starting a new one")
            self._start()
            self.restarts += 1

    async def _ready_stream(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The stream to the model process, after restarting it if it has stopped."""
        assert self._stream_lock is not None
        async with self._stream_lock:  # only (re)starting waits here; sending does not
            if not self.healthy():
                self._drop_stream("the model process stopped")
                try:
                    await loop.run_in_executor(None, self._restart)
                except CouponlensError as exc:  # a server fault, not the request's
                    raise ModelProcessError(f"the model process could not restart: {exc}") from None
            if self._stream is None:
                if self._socket is None:
                    raise ModelProcessError("the model process is not running")
                # a duplicate of the socket for the transport to own and close
                self._stream_socket = self._socket.dup()
                stream = await asyncio.open_connection(sock=self._stream_socket)
                self._stream = stream
                self._reading = asyncio.ensure_future(self._read_answers(stream))
            return self._stream

    async def probabilities_async(self, candidates: CandidateColumns) -> np.ndarray:
        """:meth:`probabilities` from an event loop, without a thread.

        The model process's answer wakes the loop directly (a thread waiting on the socket
        would then wait for the busy loop's GIL before it could hand the answer over), and
        calls may overlap: a second batch is sent while the first is scored, and the answers,
        which come back in the order sent, go to their callers in that order. A call that
        gets no answer within :data:`SCORE_TIMEOUT` seconds (a restart included) fails with
        :class:`ModelProcessError`.
        """
        body = _encode_batch(candidates)
        loop = asyncio.get_running_loop()
        if self._stream_loop is not loop:  # a stream and a lock serve one event loop
            self._abandon_stream()
            self._stream_lock, self._stream_loop = asyncio.Lock(), loop
        sent_on = None
        try:
            async with asyncio.timeout(SCORE_TIMEOUT):
                stream = await self._ready_stream(loop)
                answer: asyncio.Future[tuple[bytes, bytes]] = loop.create_future()
                self._waiting.append(answer)
                stream[1].write(_HEADER.pack(_SCORE, len(body)) + body)
                sent_on = stream
                kind, payload = await answer
        except TimeoutError:
            if sent_on is not None:  # stuck: the answers are out of step from here on
                self._fail_stream(sent_on, f"no answer within {SCORE_TIMEOUT:.0f} s")
            raise ModelProcessError(
                f"the model process gave no answer in {SCORE_TIMEOUT:.0f} s"
            ) from None
        return _answer(kind, payload)

    async def _read_answers(
        self, stream: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    ) -> None:
        """Hand each answer frame to the oldest waiting call, until the stream ends."""
        reader = stream[0]
        try:
            while True:
                kind, size = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                payload = await reader.readexactly(size) if size else b""
                if self._stream is stream and self._waiting:
                    waiter = self._waiting.popleft()
                    if not waiter.done():  # a caller that timed out has gone
                        waiter.set_result((kind, payload))
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._fail_stream(stream, f"the model process stopped: {exc!r}")

    def _fail_stream(
        self, stream: tuple[asyncio.StreamReader, asyncio.StreamWriter], reason: str
    ) -> None:
        """The model process behind ``stream`` died or is stuck: kill it, fail the waiting
        calls, and start a new one in the background. Nothing here blocks the loop; a stream
        already replaced (a restart came first) is left alone."""
        if self._stream is not stream:
            return
        if self._process is not None:
            self._process.kill()  # reaped by the restart, off the loop
            self._killed = True
        self._drop_stream(reason)
        self.revive_soon()

    def _drop_stream(self, reason: str) -> None:
        """Fail every waiting call with ``reason`` and close the stream (on its loop)."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ModelProcessError(reason))
        reading = self._reading
        if reading is not None and not reading.done() and reading is not asyncio.current_task():
            reading.cancel()
        self._reading = None
        if self._stream is not None:
            self._stream[1].transport.abort()  # closes the socket it owns
            self._stream = None
        self._stream_socket = None

    def revive_soon(self) -> None:
        """From the event loop: when the model process has stopped, start a new one in the
        background (so ``/health`` recovers without waiting for a scoring request)."""
        if self.healthy() or self._stream_lock is None or self._stream_lock.locked():
            return
        if self._reviving is not None and not self._reviving.done():
            return
        loop = self._stream_loop
        if loop is None or loop.is_closed():
            return

        async def revive() -> None:
            try:
                await self._ready_stream(loop)
            except ModelProcessError as exc:
                log.warning("%s", exc)

        self._reviving = asyncio.ensure_future(revive())

    def _abandon_stream(self) -> None:
        """Drop the stream of an event loop that has ended (``asyncio.run`` called again): its
        socket is closed directly, the model process keeps the connection."""
        if self._stream is not None and self._waiting and self._process is not None:
            self._process.kill()  # answers were in flight: the stream is out of step
        self._waiting.clear()
        self._stream = None
        self._reading = None
        if self._stream_socket is not None:
            self._stream_socket.close()
            self._stream_socket = None

    def close(self) -> None:
        """Stop the model process (it exits when its socket closes)."""
        with self._lock:
            if self._stream_loop is None or self._stream_loop.is_closed():
                self._abandon_stream()
            elif self._process is not None:  # its loop still runs: the stream stays open
                self._process.kill()
            self._stop_process()


def _serve(sock: socket.socket) -> None:
    """The model process: read the settings, build, say ready, then score until the socket closes."""
    from couponlens.service.app import settle_memory
    from couponlens.service.scorer import load_local_scorer

    kind, payload = _receive(sock)
    if kind != _SETTINGS:
        raise ModelProcessError(f"expected settings, got a {kind!r} frame")
    settings = json.loads(payload)
    try:
        scorer = load_local_scorer(
            settings["model"],
            settings["history"],
            as_of=None if settings["as_of"] is None else dt.date.fromisoformat(settings["as_of"]),
            compile_model=settings["compile_model"],
        )
    except CouponlensError as exc:
        _send(sock, _USER_ERROR, str(exc).encode())
        return
    except Exception as exc:  # reported by the service, as its own error
        log.debug("start-up failed", exc_info=True)
        _send(
            sock, _FAILURE, f"the model could not be loaded: {type(exc).__name__}: {exc}".encode()
        )
        return
    info = {
        "model_name": scorer.model_name,
        "leakage_features": scorer.leakage_features,
        "predictor": scorer.predictor,
        "as_of": scorer.as_of.isoformat(),
        "snapshot": scorer.describe(),
    }
    settle_memory()
    _send(sock, _READY, json.dumps(info).encode())
    while True:
        try:
            kind, payload = _receive(sock)
        except (EOFError, ConnectionError):
            return  # the service has gone
        try:
            p = scorer.probabilities(_decode_batch(payload))
        except CouponlensError as exc:
            _send(sock, _USER_ERROR, str(exc).encode())
        except Exception as exc:
            log.exception("scoring failed")
            _send(sock, _FAILURE, f"scoring failed: {type(exc).__name__}: {exc}".encode())
        else:
            _send(sock, _SCORES, np.ascontiguousarray(p, dtype="<f8").tobytes())


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m couponlens.service.model_process FD``."""
    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle
    logging.basicConfig(level=logging.WARNING, format="couponlens model process: %(message)s")
    sock = socket.socket(fileno=int(args[0]))
    try:
        _serve(sock)
    except (BrokenPipeError, ConnectionError, EOFError):
        return 0  # the service went away first
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
