"""Slow clients get 408 and lose their connection; they never hold the service's resources.

Two deadlines, both ``request_timeout`` seconds (``couponlens serve --request-timeout``):

- **Headers.** A connection must send a complete request line and headers within the deadline
  of opening, or of its previous response. uvicorn closes an idle kept-alive connection, but a
  new connection that says nothing, or stops half-way through its headers, was held open
  forever (the Slowloris attack): :func:`protocol_class` adds the deadline to uvicorn's own
  HTTP protocol, answering 408 and closing.
- **Body.** Once the headers are in, the whole body must arrive within the deadline: a client
  that declares a length and then trickles or stalls gets 408 from :class:`RequestDeadline`
  instead of a request handler waiting forever.

Other requests are served meanwhile either way: every connection is a coroutine.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Seconds a client has for its headers, and then for its body.
DEFAULT_REQUEST_TIMEOUT = 30.0


def _timeout_body(seconds: float, what: str) -> bytes:
    return json.dumps({"detail": f"{what} not received within {seconds:g} s"}).encode()


class RequestDeadline:
    """ASGI middleware: the request body must arrive within ``seconds`` of the request, else 408.

    Only the body is timed: once it is complete, the app's later ``receive()`` calls (waiting
    for a disconnect while streaming) pass straight through.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = False
        timed_out = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            if timed_out:
                return {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                timed_out = True
                if not started:
                    await _send_408(send, _timeout_body(self.seconds, "request body"))
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:  # the 408 went out; nothing else does
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise


async def _send_408(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


try:  # uvicorn's faster parser when installed, as uvicorn itself chooses
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _UvicornProtocol
except ImportError:  # pragma: no cover - depends on the environment
    from uvicorn.protocols.http.h11_impl import (  # type: ignore[assignment]
        H11Protocol as _UvicornProtocol,
    )


class HeaderDeadlineProtocol(_UvicornProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol, answering 408 and closing when a client's request line and
    headers do not arrive within ``timeout_keep_alive`` seconds of connecting or of its previous
    response. Give it to ``uvicorn.run(http=HeaderDeadlineProtocol)``."""

    _header_timer: asyncio.TimerHandle | None = None

    def _arm_header_deadline(self) -> None:
        waiting_for = self.cycle  # a new request replaces it once its headers are in
        seconds = float(self.timeout_keep_alive)

        def expire() -> None:
            if self.cycle is not waiting_for or self.transport.is_closing():
                return
            body = _timeout_body(seconds, "request headers")
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            self.transport.close()

        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(seconds, expire)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)
