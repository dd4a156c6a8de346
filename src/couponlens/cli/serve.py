"""``couponlens serve``: the coupon scoring service over a trained O2O model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from couponlens.cli._app import app, console
from couponlens.cli._options import date_option
from couponlens.service.app import DEFAULT_MAX_BODY_BYTES, SETTINGS_ENV
from couponlens.service.timeouts import DEFAULT_REQUEST_TIMEOUT


@app.command("serve")
def serve_command(
    model: Annotated[Path, typer.Argument(help="Model folder from `couponlens o2o train`.")],
    history: Annotated[
        Path, typer.Option(help="The O2O log the features come from (train layout).")
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="First day scored (YYYY-MM-DD); default: the day after the history."
        ),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, help="Larger request bodies get 413.")
    ] = DEFAULT_MAX_BODY_BYTES,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Worker processes (each holds its own snapshot in memory)."),
    ] = 1,
    request_timeout: Annotated[
        int,
        typer.Option(
            min=1,
            help="Seconds a client has to send its request headers, and then its body; "
            "a slower client gets 408 and is disconnected.",
        ),
    ] = int(DEFAULT_REQUEST_TIMEOUT),
    compile_model: Annotated[
        bool,
        typer.Option(
            help="Compile the model's trees with the system C compiler (same scores, about 3x "
            "faster; cached). Without a compiler the service uses LightGBM's predictor."
        ),
    ] = True,
    model_process: Annotated[
        bool,
        typer.Option(
            help="Score in a process of its own (one per worker), so the model and the HTTP "
            "side each have a core; --no-model-process scores in the worker itself."
        ),
    ] = True,
) -> None:
    """Serve POST /score and POST /target over HTTP (token from COUPONLENS_API_TOKEN, if set)."""
    import uvicorn

    from couponlens.service.app import build_service, settle_memory
    from couponlens.service.timeouts import HeaderDeadlineProtocol

    day = date_option("--as-of", as_of)
    token = os.environ.get("COUPONLENS_API_TOKEN") or None
    with console.status("loading the model and building the feature snapshot"):
        api, scorer = build_service(
            model,
            history,
            as_of=day,
            token=token,
            max_body_bytes=max_body_bytes,
            request_timeout=request_timeout,
            compile_model=compile_model,
            model_process=model_process,
        )
    held = scorer.describe()
    window, entities = held["feature_window"], held["entities"]
    console.print(
        f"snapshot as of {scorer.as_of} (features {window['feature_start']}..{window['feature_end']}, "  # type: ignore[index]
        f"{entities['u']:,} users, built in {held['build_seconds']:.1f} s); "  # type: ignore[index]
        f"trees scored by {'native code' if scorer.predictor == 'compiled' else 'LightGBM'}"
        f"{' in a model process' if model_process else ''}; "
        f"token {'required' if token else 'not required (set COUPONLENS_API_TOKEN)'}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"serving on http://{host}:{port} with {workers} worker(s) (OpenAPI spec at /openapi.json)"
    )
    # The header deadline is uvicorn's keep-alive timeout, extended to new connections.
    if workers == 1:
        settle_memory()
        uvicorn.run(
            api,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            http=HeaderDeadlineProtocol,
            timeout_keep_alive=request_timeout,
        )
        return
    del api  # each worker process builds its own app, and model process
    scorer.close()
    os.environ[SETTINGS_ENV] = json.dumps(
        {
            "model": str(model),
            "history": str(history),
            "as_of": None if day is None else day.isoformat(),
            "max_body_bytes": max_body_bytes,
            "request_timeout": request_timeout,
            "compile_model": compile_model,
            "model_process": model_process,
        }
    )
    uvicorn.run(
        "couponlens.service.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        http=HeaderDeadlineProtocol,
        timeout_keep_alive=request_timeout,
    )
