"""The coupon scoring service: a FastAPI app over a trained O2O model and a feature snapshot.

Endpoints: ``POST /score`` (candidates -> probabilities, in input order), ``POST /target``
(candidates + budget -> the receipts to send), ``GET /health``, ``GET /model`` (the manifest and
the snapshot) and ``GET /openapi.json`` (the API's OpenAPI spec). Bodies are validated by
pydantic (422 with the offending field), bodies over the size limit get 413, and when a token is
configured every request, ``/health`` and ``/openapi.json`` included, needs ``Authorization:
Bearer <token>`` (401 otherwise; a health probe sends the header too). No response ever carries a stack trace. The interactive docs pages are off: they
load scripts from a CDN, and the service makes no network calls.

Example:
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app(LocalScorer(model, snapshot)))  # doctest: +SKIP
    >>> client.post("/score", json={"candidates": [...]}).json()["scores"][0]  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from couponlens import __version__
from couponlens.errors import CouponlensError
from couponlens.service.model_process import ModelProcessError
from couponlens.service.scorer import Scorer, load_local_scorer
from couponlens.service.snapshot import parse_discount_cached
from couponlens.service.timeouts import DEFAULT_REQUEST_TIMEOUT, RequestDeadline
from couponlens.service.wire import (
    ID_LIMIT,
    MAX_CANDIDATES,
    CandidateColumns,
    decode_score_body,
    encode_scores,
)
from couponlens.targeting.policy import choose_recipients, cost_if_used

log = logging.getLogger("couponlens.service")

#: Default largest request body (bytes): about 10,000 candidates.
DEFAULT_MAX_BODY_BYTES = 2_000_000


def _json_number(value: Any) -> Any:
    """A JSON number only: pydantic's lax mode would read ``true`` as 1 and ``"7"`` as 7."""
    if isinstance(value, bool | str):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    return value


#: Only JSON numbers (``1.0`` is a whole number; ``true`` and ``"1"`` are not numbers).
_NUMBER_ONLY = BeforeValidator(_json_number)
_ID = Annotated[int, Field(ge=0, lt=ID_LIMIT), _NUMBER_ONLY]


class Candidate(BaseModel):
    """One coupon receipt to score, in the Tianchi fields."""

    model_config = ConfigDict(extra="forbid")

    user_id: _ID
    merchant_id: _ID
    coupon_id: _ID
    discount_rate: str = Field(
        description="A rate in (0, 1] such as '0.95', or 'x:y' (spend x, save y) such as '150:20'.",
        max_length=32,
        examples=["150:20"],
        # The form, for clients and schema-driven tests: a rate 0.x or 1, or spend:save. The
        # validator also checks what a pattern cannot say (the saving is below the spend).
        json_schema_extra={
            "pattern": r"^(0\.[0-9]*[1-9][0-9]*|1(\.0+)?|[1-9][0-9]*(\.[0-9]+)?:[0-9]+(\.[0-9]+)?)$"
        },
    )
    distance: Annotated[int, Field(ge=0, le=10), _NUMBER_ONLY] | None = Field(
        default=None, description="0..10 in units of 500 m (10: over 5 km); null when unknown."
    )
    date_received: dt.date = Field(description="YYYY-MM-DD or YYYYMMDD.")

    @field_validator("discount_rate")
    @classmethod
    def _discount(cls, value: str) -> str:
        try:
            parse_discount_cached(value)
        except CouponlensError as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("date_received", mode="before")
    @classmethod
    def _compact_date(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) == 8 and value.isdigit():
            return f"{value[:4]}-{value[4:6]}-{value[6:]}"
        if not isinstance(value, str | dt.date):  # pydantic would read the number 0 as 1970-01-01
            raise ValueError("expected a date as text, YYYY-MM-DD or YYYYMMDD")
        return value


class ScoreRequest(BaseModel):
    """Candidates to score."""

    model_config = ConfigDict(extra="forbid")
    candidates: list[Candidate] = Field(min_length=1, max_length=MAX_CANDIDATES)


class Score(BaseModel):
    """A candidate's probability of use within the model's label window (15 days by default)."""

    user_id: int
    coupon_id: int
    date_received: dt.date
    probability: float


class ScoreResponse(BaseModel):
    """Scores in the candidates' order, and what produced them."""

    scores: list[Score]
    as_of: dt.date
    model: str
    leakage_features: bool


class TargetRequest(BaseModel):
    """Candidates and the limit to choose under: a coupon budget and/or an expected-cost limit."""

    model_config = ConfigDict(extra="forbid")
    candidates: list[Candidate] = Field(min_length=1, max_length=MAX_CANDIDATES)
    budget: Annotated[int, Field(ge=0), _NUMBER_ONLY] | None = Field(
        default=None, description="Most coupons."
    )
    # Infinity is not a limit (JSON has none; Python's parser reads the text Infinity).
    max_cost: Annotated[float, Field(ge=0, allow_inf_nan=False), _NUMBER_ONLY] | None = Field(
        default=None, description="Most expected discount paid."
    )
    per_user_cap: Annotated[int, Field(ge=1), _NUMBER_ONLY] | None = None
    # Bounded: a basket of 1e307 makes costs the solver reads as infinite.
    rate_basket: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False), _NUMBER_ONLY] = Field(
        default=100.0, description="Basket a plain-rate coupon applies to, for its cost."
    )
    # Bounded like the basket: values the solver would read as infinite are not values.
    values: (
        list[Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False), _NUMBER_ONLY]] | None
    ) = Field(
        default=None,
        description="What a use of each candidate is worth, in the candidates' order: choose by "
        "expected value (probability x value) instead of expected redemptions.",
    )

    @model_validator(mode="after")
    def _needs_a_limit(self) -> TargetRequest:
        if self.budget is None and self.max_cost is None:
            raise ValueError("give budget (coupons) or max_cost (expected discount paid)")
        if self.values is not None and len(self.values) != len(self.candidates):
            raise ValueError(
                f"values: one per candidate, got {len(self.values)} for "
                f"{len(self.candidates)} candidates"
            )
        return self


class Chosen(BaseModel):
    """A receipt chosen for sending."""

    index: int = Field(description="Position of the candidate in the request.")
    user_id: int
    coupon_id: int
    date_received: dt.date
    probability: float
    cost_if_used: float


class TargetResponse(BaseModel):
    """The chosen receipts and the expected outcome beside sending at random."""

    chosen: list[Chosen]
    sent: int
    expected_redemptions: float
    expected_cost: float
    expected_value: float = Field(description="With values: sum of probability x value.")
    random_expected_redemptions: float
    random_expected_value: float
    lift_over_random: float | None
    value_lift_over_random: float | None = Field(
        description="Expected value over that of random sending (the redemption lift without "
        "values)."
    )
    method: str


class Health(BaseModel):
    """Whether the service can score, with what model, from which day."""

    status: str = Field(description="``ok``, or ``model process restarting`` (with 503).")
    model: str
    as_of: dt.date


class Refusal(BaseModel):
    """Why a request was refused."""

    detail: str


#: Refusals besides 422 (invalid fields), documented in the OpenAPI spec.
_REFUSED_TOKEN: dict[int | str, dict[str, Any]] = {
    401: {"model": Refusal, "description": "Missing or wrong token (WWW-Authenticate: Bearer)."}
}
_REFUSED_REQUEST: dict[int | str, dict[str, Any]] = {
    **_REFUSED_TOKEN,
    400: {"model": Refusal, "description": "The body is not JSON text (bytes that are not UTF-8)."},
    408: {"model": Refusal, "description": "The body did not arrive within the request timeout."},
    413: {"model": Refusal, "description": "The body is over the size limit."},
    503: {"model": Refusal, "description": "The model process stopped; it is being restarted."},
}


class _BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    await _too_large(send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after a 413 nothing else goes out
                await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not refused:
                raise


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, f"request body over the limit of {limit:,} bytes")


async def _refuse(send: Send, status: int, detail: str) -> None:
    """Answer ``status`` with ``{"detail": detail}``."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Batcher:
    """Scores the requests that arrive together in one model call, off the event loop.

    Every request's candidates wait on a future. When the model can take a batch, the first
    request schedules a dispatch at the end of the event loop's current turn (so requests
    parsed in the same turn share a call); requests arriving while the model is busy gather
    and go together as soon as it can take more. With ``compute_async`` (a model process) two
    batches may be in flight: the second is sent while the first is scored, so the model
    process never waits for the loop between batches. Otherwise ``compute`` runs on one worker
    thread, one batch at a time, and the event loop keeps reading and answering requests
    meanwhile (the compiled forest and most of numpy release the GIL).
    """

    def __init__(
        self,
        compute: Callable[[CandidateColumns], np.ndarray],
        compute_async: Callable[[CandidateColumns], Awaitable[np.ndarray]] | None = None,
    ) -> None:
        self.compute = compute
        self.compute_async = compute_async
        self.pending: list[tuple[CandidateColumns, asyncio.Future[np.ndarray]]] = []
        # batches being scored, and how many may be: the model process queues a second one
        # while it scores the first, so it never waits for the loop between batches
        self.in_flight = 0
        self.depth = 1 if compute_async is None else 2
        self.scheduled = False
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="couponlens-model")

    async def score(self, candidates: CandidateColumns) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self.pending.append((candidates, future))
        if self.in_flight < self.depth and not self.scheduled:
            self.scheduled = True  # at the end of this loop turn: its requests go together
            loop.call_soon(self._dispatch, loop)
        return await future

    def _compute(self, parts: list[CandidateColumns]) -> np.ndarray:
        return self.compute(CandidateColumns.concat(parts))

    async def _compute_async(self, parts: list[CandidateColumns]) -> np.ndarray:
        assert self.compute_async is not None
        return await self.compute_async(CandidateColumns.concat(parts))

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        self.scheduled = False
        if not self.pending or self.in_flight >= self.depth:
            return
        self.in_flight += 1
        batch, self.pending = self.pending, []
        parts = [c for c, _ in batch]
        done: asyncio.Future[np.ndarray]
        if self.compute_async is not None:  # the model elsewhere: await it on the loop
            done = asyncio.ensure_future(self._compute_async(parts))
        else:
            done = loop.run_in_executor(self.thread, self._compute, parts)
        done.add_done_callback(lambda d: self._finish(loop, batch, d))

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[CandidateColumns, asyncio.Future[np.ndarray]]],
        done: asyncio.Future[np.ndarray],
    ) -> None:
        exc = None if done.cancelled() else done.exception()
        start = 0
        for candidates, future in batch:
            if future.done():
                pass
            elif done.cancelled():  # the loop is shutting down
                future.cancel()
            elif exc is not None:  # every waiting request gets the error
                future.set_exception(exc)
            else:
                future.set_result(done.result()[start : start + len(candidates)])
            start += len(candidates)
        self.in_flight -= 1
        if self.pending:  # never left waiting: later requests would wait forever
            self._dispatch(loop)


class _FastScore:
    """``POST /score`` with a body in the usual form, answered without FastAPI's machinery.

    The hot path of the service: no routing, dependency injection or pydantic objects; the
    body is decoded into columns (:func:`~couponlens.service.wire.decode_score_body`), scored
    through the batcher and encoded in one call. Every other request -- another path, a
    missing or wrong token, a body pydantic must judge, any error -- goes to the FastAPI app
    unchanged (the body replayed), so its answers, 401s and 422s stay the app's own.
    """

    def __init__(
        self,
        app: ASGIApp,
        score: Callable[[CandidateColumns], Awaitable[bytes]],
        token: str | None,
    ) -> None:
        self.app = app
        self.score = score
        self.token = None if token is None else token.encode()

    def _takes(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/score":
            return False
        content_type = b""
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"authorization":
                authorization = value
        if content_type.split(b";", 1)[0].strip().lower() != b"application/json":
            return False
        if self.token is None:
            return True
        scheme, _, given = authorization.partition(b" ")
        return scheme.lower() == b"bearer" and secrets.compare_digest(given, self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._takes(scope):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left, or the body limit answered 413
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        answer = None
        columns = decode_score_body(body)
        if columns is not None:
            try:
                answer = await self.score(columns)
            except ModelProcessError as exc:  # the app would only ask the model again
                log.warning("%s", exc)
                await _refuse(send, 503, str(exc))
                return
            except Exception:
                log.warning("fast /score path failed; the app answers instead", exc_info=True)
        if answer is None:
            await self.app(scope, _replay(body, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` giving ``body`` again, then whatever the client sends next."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def create_app(
    scorer: Scorer,
    *,
    manifest: dict[str, Any] | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> FastAPI:
    """The FastAPI app scoring with ``scorer``.

    Args:
        scorer: the model over its snapshot: :class:`~couponlens.service.scorer.LocalScorer`
            in this process, or :class:`~couponlens.service.model_process.ModelProcess`.
        manifest: the model's ``manifest.json`` content, served by ``GET /model``.
        token: when set, requests need ``Authorization: Bearer <token>``.
        max_body_bytes: larger request bodies get 413.
        request_timeout: a request body not complete within this many seconds gets 408.
    """
    api = FastAPI(
        title="couponlens scoring service",
        version=__version__,
        description="Scores coupon receipts with a trained O2O redemption model and chooses "
        "whom to send coupons to under a budget.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind the token like every other route
    )

    def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong token: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    guard = [Depends(authorized)]

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": errors})

    @api.exception_handler(ModelProcessError)
    async def _model_stopped(request: Request, exc: ModelProcessError) -> JSONResponse:
        log.warning("%s", exc)
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @api.exception_handler(CouponlensError)
    async def _user_error(request: Request, exc: CouponlensError) -> JSONResponse:
        # in the form of the 422s of validation (the published spec has one 422 schema)
        detail = [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]
        return JSONResponse(status_code=422, content={"detail": detail})

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    batcher = _Batcher(
        lambda candidates: scorer.probabilities(candidates),
        getattr(scorer, "probabilities_async", None),
    )

    @api.get("/openapi.json", include_in_schema=False, dependencies=guard)
    async def openapi() -> dict[str, Any]:
        return api.openapi()

    @api.get(
        "/health",
        response_model=Health,
        dependencies=guard,
        responses={
            **_REFUSED_TOKEN,
            503: {"model": Health, "description": "The model process is restarting."},
        },
    )
    async def health() -> Any:
        """Liveness: the model is loaded and its snapshot built (503 while it restarts)."""
        up = scorer.healthy()
        if not up and hasattr(scorer, "revive_soon"):
            scorer.revive_soon()  # recover without waiting for a scoring request
        answer = Health(
            status="ok" if up else "model process restarting",
            model=scorer.model_name,
            as_of=scorer.as_of,
        )
        return (
            answer if up else JSONResponse(status_code=503, content=answer.model_dump(mode="json"))
        )

    @api.get("/model", dependencies=guard, responses=_REFUSED_TOKEN)
    async def model_info() -> dict[str, Any]:
        """The model's manifest and the feature snapshot the service scores from."""
        return {
            "manifest": manifest or {},
            "snapshot": scorer.describe(),
            "predictor": scorer.predictor,
        }

    @api.post("/score", dependencies=guard, responses=_REFUSED_REQUEST)
    async def score(request: ScoreRequest) -> ScoreResponse:
        """Probability of use of each candidate, in the request's order."""
        p = await batcher.score(CandidateColumns.of(request.candidates))
        return ScoreResponse(
            scores=[
                Score(
                    user_id=c.user_id,
                    coupon_id=c.coupon_id,
                    date_received=c.date_received,
                    probability=float(v),
                )
                for c, v in zip(request.candidates, p, strict=True)
            ],
            as_of=scorer.as_of,
            model=scorer.model_name,
            leakage_features=scorer.leakage_features,
        )

    @api.post("/target", dependencies=guard, responses=_REFUSED_REQUEST)
    async def target(request: TargetRequest) -> TargetResponse:
        """The receipts maximising expected redemptions (or, with values, expected value) under
        the budget and caps."""
        p = await batcher.score(CandidateColumns.of(request.candidates))
        parsed = [parse_discount_cached(c.discount_rate) for c in request.candidates]
        cost = cost_if_used(
            [k for k, *_ in parsed],
            [r for _, r, _, _ in parsed],
            [np.nan if a is None else a for *_, a in parsed],
            rate_basket=request.rate_basket,
        )
        choice = choose_recipients(
            p,
            user=np.fromiter((c.user_id for c in request.candidates), np.int64),
            cost=cost,
            value=request.values,
            budget=request.budget,
            max_cost=request.max_cost,
            per_user_cap=request.per_user_cap,
            time_limit=5.0,
        )
        chosen = [
            Chosen(
                index=int(i),
                user_id=request.candidates[i].user_id,
                coupon_id=request.candidates[i].coupon_id,
                date_received=request.candidates[i].date_received,
                probability=float(p[i]),
                cost_if_used=float(cost[i]),
            )
            for i in choice.selected
        ]
        return TargetResponse(
            chosen=chosen,
            sent=choice.sent,
            expected_redemptions=choice.expected_redemptions,
            expected_cost=choice.expected_cost,
            expected_value=choice.expected_value,
            random_expected_redemptions=choice.random_expected_redemptions,
            random_expected_value=choice.random_expected_value,
            lift_over_random=choice.lift_over_random,
            value_lift_over_random=choice.value_lift_over_random,
            method=choice.method,
        )

    async def fast_score(candidates: CandidateColumns) -> bytes:
        p = await batcher.score(candidates)
        return encode_scores(
            candidates,
            p,
            as_of=scorer.as_of.isoformat(),
            model=scorer.model_name,
            leakage=scorer.leakage_features,
        )

    api.add_middleware(_FastScore, score=fast_score, token=token)
    api.add_middleware(_BodyLimit, limit=max_body_bytes)  # the outer one: it sees bodies first
    api.add_middleware(RequestDeadline, seconds=request_timeout)  # outermost: times the body
    return api


def build_service(
    model_dir: str | Path,
    history: str | Path,
    *,
    as_of: dt.date | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    compile_model: bool = True,
    model_process: bool = True,
) -> tuple[FastAPI, Scorer]:
    """Load the model (checksums verified), build its snapshot, and the app over them.

    With ``model_process`` (the default) the model, its snapshot and its compiled trees live
    in a process of their own (:class:`~couponlens.service.model_process.ModelProcess`), so
    the model's work and the HTTP event loop each have a core and a GIL; without it, in this
    process (:func:`~couponlens.service.scorer.load_local_scorer`). With ``compile_model`` the
    trees are compiled to native code (cached); when that is not possible LightGBM's predictor
    scores, and the scorer's ``predictor`` says which.
    """
    from couponlens.models.artifact import read_manifest

    manifest = read_manifest(model_dir)  # a bad folder is refused before anything starts
    scorer: Scorer
    if model_process:
        from couponlens.service.model_process import ModelProcess

        scorer = ModelProcess(model_dir, history, as_of=as_of, compile_model=compile_model)
    else:
        scorer = load_local_scorer(model_dir, history, as_of=as_of, compile_model=compile_model)
    app = create_app(
        scorer,
        manifest=manifest,
        token=token,
        max_body_bytes=max_body_bytes,
        request_timeout=request_timeout,
    )
    return app, scorer


#: Environment variable holding the settings of :func:`app_from_environment` (JSON).
SETTINGS_ENV = "COUPONLENS_SERVE_SETTINGS"


def app_from_environment() -> FastAPI:
    """The app for one uvicorn worker process, built from :data:`SETTINGS_ENV`.

    ``couponlens serve --workers N`` sets the variable and lets uvicorn start N processes; each
    loads the model and builds its own snapshot.
    """
    settings = json.loads(os.environ[SETTINGS_ENV])
    as_of = settings.get("as_of")
    api, _ = build_service(
        settings["model"],
        settings["history"],
        as_of=None if as_of is None else dt.date.fromisoformat(as_of),
        token=os.environ.get("COUPONLENS_API_TOKEN") or None,
        max_body_bytes=int(settings["max_body_bytes"]),
        request_timeout=float(settings.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)),
        compile_model=bool(settings.get("compile_model", True)),
        model_process=bool(settings.get("model_process", True)),
    )
    settle_memory()
    return api


def settle_memory() -> None:
    """After start-up: keep the start-up objects out of garbage collections, and freed arrays.

    Building the snapshot leaves hundreds of thousands of long-lived objects; without
    ``gc.freeze`` each full collection walks them all, a pause that lands on some request.
    With glibc, arrays up to 32 MB (a batch's feature matrix and its temporaries) come from the
    heap and freed memory is kept, so each batch reuses pages instead of mapping fresh ones
    and faulting them in (that was about a third of the logistic model's time).
    """
    import ctypes
    import gc
    import sys

    gc.collect()
    gc.freeze()
    if sys.platform.startswith("linux"):
        try:
            mallopt = ctypes.CDLL("libc.so.6").mallopt
        except (OSError, AttributeError):  # not glibc
            return
        mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
        mallopt(-1, 256 * 2**20)  # M_TRIM_THRESHOLD
