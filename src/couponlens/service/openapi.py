"""The service's OpenAPI spec, without a model: ``python -m couponlens.service.openapi``.

The spec depends only on the request and response schemas, so it is built from an app whose
model and snapshot are never called. ``docs/openapi.json`` is its output (a test keeps it in
sync).

Example:
    >>> spec = openapi_spec()
    >>> sorted(p for p in spec["paths"])
    ['/health', '/model', '/score', '/target']
"""

from __future__ import annotations

import json
from typing import Any, cast


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI document of :func:`couponlens.service.app.create_app`."""
    from couponlens.service.app import create_app

    app = create_app(cast(Any, None))
    return app.openapi()


def main() -> None:
    """Print the spec as indented JSON."""
    print(json.dumps(openapi_spec(), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
