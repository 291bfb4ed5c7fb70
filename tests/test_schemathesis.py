"""The contract matches the server: schemathesis generates requests from ``/openapi.json`` and
checks that none is a server error, every status code is documented, and every response body
fits its documented schema. Bounded (a few dozen cases per operation), over the real engine."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from retriever.api import create_app

#: Cases per operation: the suite's time budget, not a search for every bug (the hand-made
#: hostile inputs in test_api and test_limits cover the rest).
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def check_contract(app: Any, max_examples: int = MAX_EXAMPLES) -> list[str]:
    """Run schemathesis over every operation of ``app``; the operations checked."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        run()
        checked.append(f"{operation.method.upper()} {operation.path}")
    return checked


@pytest.mark.slow
def test_openapi_contract(real_searcher: Any) -> None:
    checked = check_contract(create_app(real_searcher, mount_ui=False))
    assert {"POST /v1/search", "POST /v1/embeddings", "GET /v1/clauses/{clause_id}", "GET /healthz"} <= set(checked)


def test_openapi_contract_fake_engine() -> None:
    """The same checks over the fake engine: fast, for the shapes (the real engine is the slow test)."""
    from .test_api import FakeSearcher

    fake = FakeSearcher()
    checked = check_contract(create_app(fake, mount_ui=False), max_examples=15)  # type: ignore[arg-type]
    assert "POST /v1/search" in checked
    assert fake.calls  # the generated searches reached the engine
