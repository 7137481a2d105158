"""schemathesis against the OpenAPI document: no input gives a 500 or a reply outside the schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.api.conftest import build_app

#: Checks about requests, not replies: they flag a valid-looking request answered 404 (an unknown
#: queue is schema-valid) and extra query parameters, which the API ignores like most HTTP APIs.
NOT_OURS = [checks.positive_data_acceptance, checks.negative_data_rejection, checks.unsupported_method]

schema = schemathesis.openapi.from_asgi("/openapi.json", build_app())


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_500_and_every_reply_fits_the_schema(case, admin):  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=admin, excluded_checks=NOT_OURS)
