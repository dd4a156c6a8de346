"""A bounded schemathesis run against the published OpenAPI spec (docs/openapi.json).

Schemathesis generates requests from the spec, valid ones and invalid ones, and sends them to a
real ``couponlens serve`` process on loopback. Every response must be free of server errors and
conform to the spec: a documented status code, the documented content type, a body matching the
documented schema, and invalid data refused. The run is bounded (a fixed number of examples per
operation, derandomized, about half a minute) so CI can afford it on every build.

One check is left out: "schema-valid data is accepted". The spec gives the discount's form
(``0.95`` or ``150:20``) but cannot say that a rate is at most 1 or that the saving is below
the spend, so a schema-valid ``150:200`` is rightly refused with 422; nor that ``/target``'s
``values`` hold one value per candidate.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig

SPEC = Path(__file__).parents[2] / "docs" / "openapi.json"
EXAMPLES_PER_OPERATION = 40

#: Invalid data may be refused with 413 too: a list over maxItems is also over the body limit.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {"expected-statuses": ["400", "401", "405", "413", "422"]}
        }
    }
)
#: The spec users read (test_service.py keeps it equal to the app's /openapi.json).
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_response_conforms_to_the_published_spec(case: Any, hardened_service: Any) -> None:
    response = case.call_and_validate(
        base_url=hardened_service.url,
        headers=hardened_service.auth,
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
        timeout=30,
    )
    assert response.status_code < 500
    assert "Traceback" not in response.text and 'File "' not in response.text


@pytest.mark.parametrize("path", ["/score", "/target"])
def test_schema_valid_requests_reach_the_scoring_code(hardened_service: Any, path: str) -> None:
    """The run above is not vacuous: requests drawn from the spec are often scored (200), and
    the ones the spec's form allows but the ranges do not (a rate of 5) get 422, never 5xx."""
    seen: Counter[int] = Counter()

    @given(case=schema[path]["POST"].as_strategy())
    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    def send(case: Any) -> None:
        body = case.body if isinstance(case.body, dict) else {}
        if isinstance(body.get("values"), list) and isinstance(body.get("candidates"), list):
            # one value per candidate, as the spec's description says (its schema cannot)
            body["values"] = (body["values"] * len(body["candidates"]) or [1.0] * 10**4)[
                : len(body["candidates"])
            ]
        response = case.call(
            base_url=hardened_service.url, headers=hardened_service.auth, timeout=30
        )
        seen[response.status_code] += 1

    send()
    assert seen[200] > 0, seen
    assert set(seen) <= {200, 413, 422}, seen
