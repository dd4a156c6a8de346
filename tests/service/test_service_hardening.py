"""The scoring service against slow clients and bad requests, through a real uvicorn process.

Slow clients (a connection that says nothing, headers sent half-way, a body that stalls or
trickles) get 408 and are disconnected after the request timeout, and never hold up anyone
else. Bad requests get the right 4xx, and no response body carries a stack trace.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest

#: The server's --request-timeout (tests/service/conftest.py).
REQUEST_TIMEOUT = 2
#: A slow client must be answered within this many seconds (the timeout plus a margin for
#: a busy machine).
ANSWERED_WITHIN = REQUEST_TIMEOUT + 8

#: The running service of tests/service/conftest.py (url, token, candidates, auth, address).
Service = Any


_OPENED: dict[int, float] = {}


def _connect(service: Service, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(service.address, timeout=ANSWERED_WITHIN)
    _OPENED[sock.fileno()] = time.monotonic()
    if data:
        sock.sendall(data)
    return sock


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and the seconds from
    opening the connection until then."""
    start = _OPENED.pop(sock.fileno(), time.monotonic())
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return received, time.monotonic() - start


def _headers(service: Service, length: int) -> bytes:
    return (
        f"POST /score HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {service.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _score_works(service: Service) -> float:
    """Score a few candidates; return the seconds it took."""
    start = time.monotonic()
    response = httpx.post(
        service.url + "/score",
        json={"candidates": service.candidates[:5]},
        headers=service.auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return time.monotonic() - start


def _assert_408(answer: bytes, seconds: float) -> None:
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"not received within" in answer
    assert REQUEST_TIMEOUT - 0.5 <= seconds <= ANSWERED_WITHIN, seconds


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /score HTTP/1.1\r\nHost: test\r\n", b"GET /heal"],
    ids=["nothing", "half the headers", "half the request line"],
)
def test_a_client_slow_to_send_its_headers_gets_408(hardened_service: Service, sent: bytes) -> None:
    assert hardened_service.request_timeout == REQUEST_TIMEOUT
    slow = _connect(hardened_service, sent)
    assert _score_works(hardened_service) < REQUEST_TIMEOUT  # not held up meanwhile
    answer, seconds = _read_until_closed(slow)
    _assert_408(answer, seconds)


def test_a_stalled_body_gets_408_and_does_not_hold_up_others(hardened_service: Service) -> None:
    body = json.dumps({"candidates": hardened_service.candidates[:3]}).encode()
    slow = _connect(hardened_service, _headers(hardened_service, len(body)) + body[:20])
    assert _score_works(hardened_service) < REQUEST_TIMEOUT
    answer, seconds = _read_until_closed(slow)
    _assert_408(answer, seconds)


def test_a_trickled_body_gets_408(hardened_service: Service) -> None:
    body = json.dumps({"candidates": hardened_service.candidates[:3]}).encode()
    slow = _connect(hardened_service, _headers(hardened_service, len(body)))
    stop = threading.Event()

    def trickle() -> None:  # one byte every 0.3 s: the body would take minutes
        for byte in body:
            if stop.wait(0.3):
                return
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        answer, seconds = _read_until_closed(slow)
    finally:
        stop.set()
        sender.join(timeout=5)
    _assert_408(answer, seconds)


def test_a_kept_alive_connection_that_stalls_on_its_next_request_gets_408(
    hardened_service: Service,
) -> None:
    token = f"Authorization: Bearer {hardened_service.token}\r\n".encode()
    sock = _connect(hardened_service, b"GET /health HTTP/1.1\r\nHost: test\r\n" + token + b"\r\n")
    first = b""
    while b"}" not in first:  # the whole first response: headers, then its JSON body
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: te")
    answer, seconds = _read_until_closed(sock)
    _assert_408(answer, seconds)


def test_many_slow_clients_at_once_do_not_starve_the_service(hardened_service: Service) -> None:
    body = json.dumps({"candidates": hardened_service.candidates[:3]}).encode()
    silent = [_connect(hardened_service) for _ in range(40)]
    stalled = [
        _connect(hardened_service, _headers(hardened_service, len(body)) + body[:10])
        for _ in range(20)
    ]
    took = [_score_works(hardened_service) for _ in range(10)]
    assert max(took) < REQUEST_TIMEOUT, took
    answers = [_read_until_closed(sock)[0] for sock in silent + stalled]
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
    assert (
        httpx.get(
            hardened_service.url + "/health", headers=hardened_service.auth, timeout=10
        ).status_code
        == 200
    )


def _candidate(**changes: object) -> dict[str, object]:
    good = {"user_id": 1, "merchant_id": 2, "coupon_id": 3, "discount_rate": "0.9",
            "distance": 1, "date_received": "2016-07-01"}  # fmt: skip
    return {**good, **changes}


def _body(**fields: object) -> bytes:
    return json.dumps({"candidates": [_candidate()], **fields}).encode()


GOOD = json.dumps(_candidate())
#: name -> (method, path, body, with the token?, expected status)
BAD_REQUESTS: dict[str, tuple[str, str, bytes, bool, int]] = {
    "malformed JSON": ("POST", "/score", b'{"candidates": [', True, 422),
    "bytes that are not UTF-8": ("POST", "/score", b'{"candidates": "\xff\xfe"}', True, 400),
    "JSON nested 100,000 deep": ("POST", "/score", b"[" * 100_000 + b"]" * 100_000, True, 400),
    "JSON null": ("POST", "/score", b"null", True, 422),
    "an empty body": ("POST", "/score", b"", True, 422),
    "candidates not a list": ("POST", "/score", b'{"candidates": {"a": 1}}', True, 422),
    "an id as text": ("POST", "/score", _body().replace(b'"user_id": 1', b'"user_id": "x"'), True, 422),
    "an id with a fraction": ("POST", "/score", json.dumps({"candidates": [_candidate(user_id=1.5)]}).encode(), True, 422),
    "an id beyond 32 bits": ("POST", "/score", json.dumps({"candidates": [_candidate(user_id=2**40)]}).encode(), True, 422),
    "a negative id": ("POST", "/score", json.dumps({"candidates": [_candidate(coupon_id=-1)]}).encode(), True, 422),
    "a discount as a number": ("POST", "/score", json.dumps({"candidates": [_candidate(discount_rate=0.9)]}).encode(), True, 422),
    "a date as a number": ("POST", "/score", json.dumps({"candidates": [_candidate(date_received=20160701)]}).encode(), True, 422),
    "a budget as text": ("POST", "/target", _body(budget="ten"), True, 422),
    "max_cost NaN": ("POST", "/target", b'{"candidates": [' + GOOD.encode() + b'], "max_cost": NaN}', True, 422),
    "max_cost Infinity": ("POST", "/target", b'{"candidates": [' + GOOD.encode() + b'], "max_cost": Infinity}', True, 422),
    "rate_basket Infinity": ("POST", "/target", b'{"candidates": [' + GOOD.encode() + b'], "budget": 1, "rate_basket": Infinity}', True, 422),
    "an oversized body": ("POST", "/score", json.dumps({"candidates": [_candidate()] * 3000}).encode(), True, 413),
    "no token": ("POST", "/score", _body(), False, 401),
    "GET on /score": ("GET", "/score", b"", True, 405),
    "an unknown path": ("GET", "/admin", b"", True, 404),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_a_bad_request_gets_the_right_4xx_without_a_trace(
    hardened_service: Service, case: str
) -> None:
    method, path, body, with_token, status = BAD_REQUESTS[case]
    headers = {"Content-Type": "application/json", **(hardened_service.auth if with_token else {})}
    response = httpx.request(
        method, hardened_service.url + path, content=body, headers=headers, timeout=30
    )
    assert response.status_code == status, response.text[:300]
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert (
        httpx.get(
            hardened_service.url + "/health", headers=hardened_service.auth, timeout=10
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /score HTTP/1.1\r\nHost: test\r\nContent-Length: abc\r\n\r\n{}",
        b"\x00\x01GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ],
    ids=["a Content-Length that is not a number", "binary garbage", "an unknown HTTP version"],
)
def test_a_broken_http_request_gets_400(hardened_service: Service, request_bytes: bytes) -> None:
    answer, _ = _read_until_closed(_connect(hardened_service, request_bytes))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"Traceback" not in answer
    assert _score_works(hardened_service) < REQUEST_TIMEOUT
