"""The error tree: every error of the project carries the HTTP status and exit code its kind documents."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

import errors
from errors import JobsError

ROOT = Path(__file__).resolve().parents[2]
#: The packages and modules of the product (not tests, benchmarks or migrations).
SOURCES = ("actors", "api", "brokers", "control", "db", "errors", "jobsctl", "middleware", "observability",
           "pipelines", "reporting", "scheduling", "schedules.py", "settings.py")  # fmt: skip

#: README / CONTRACT.md: kind -> (HTTP status, `jobsctl` exit code, the envelope's `error.code`).
KINDS = {
    errors.JobsError: (500, 1, "internal_error"),
    errors.NotFound: (404, 3, "not_found"),
    errors.InvalidInput: (422, 2, "invalid_request"),
    errors.Conflict: (409, 1, "invalid_state"),
    errors.Unauthorized: (401, 1, "unauthorized"),
    errors.Forbidden: (403, 1, "forbidden"),
    errors.ServiceUnavailable: (503, 4, "unavailable"),
    errors.Misconfigured: (500, 2, "misconfigured"),
}

#: Every error class the product defines -> (HTTP status, exit code).
PROJECT_ERRORS = {
    "settings.SettingsError": (500, 2),
    "reporting.mail.MailSettingsError": (500, 2),
    "reporting.mail.MailDeliveryError": (503, 4),
    "core.file_writes.UnsafePath": (422, 2),
    "wiring.service.BrokerUnavailable": (503, 4),
    "core.payloads.JobError": (500, 1),
    "core.payloads.PermanentJobError": (500, 1),
    "core.payloads.InvalidPayload": (422, 2),
    "actors.aggregation.UnknownPublisher": (500, 1),
    "actors.exports.ExportIdTaken": (422, 2),
    "actors.ingest.OutsideIngestDir": (422, 2),
    "scheduling.clock.InvalidCron": (422, 2),
    "scheduling.registry.UnknownSchedule": (404, 3),
    "brokers.priority_redis.MessageTooLarge": (422, 2),
    "brokers.operations.BrokerOperationUnsupported": (409, 1),
    "brokers.rabbitmq.QueueTypeMismatch": (503, 4),
    "brokers.operations.DeadLetterGone": (404, 3),
    "brokers.encoding.UnencodableValue": (422, 2),
    "control.dead_letters.DeadLetterNotFound": (404, 3),
    "control.service.UnknownQueue": (404, 3),
    "control.service.JobNotFound": (404, 3),
    "control.service.InvalidJobState": (409, 1),
    "control.service.InvalidRequest": (422, 2),
    "db.export_files.ExportNotFound": (404, 3),
    "db.export_files.UnsafeExportPath": (422, 2),
    "db.event_files.RefusedFile": (422, 2),
    "db.store_records.RecordRejected": (422, 2),
    "db.schema_check.SchemaNotReady": (503, 4),
    "db.schema_check.SchemaMissing": (503, 4),
    "db.schema_check.SchemaOutdated": (503, 4),
    "db.publishers.InvalidTimezone": (422, 2),
    "db.publisher_metrics.InvalidPeriod": (422, 2),
    "db.cache.UnknownCacheKey": (422, 2),
    "db.api_tokens.UnknownToken": (404, 3),
    "pipelines.steps.UnknownRun": (404, 3),
    "pipelines.steps.RunNotFailed": (409, 1),
    "api.errors.Unprocessable": (422, 2),
}

#: Exceptions the product defines outside the tree on purpose, with the reason.
OUTSIDE_THE_TREE = {
    "api.body_limit.BodyTooLarge",  # a Starlette HTTPException raised in ASGI middleware: the 413 handler answers it
}


def _load(dotted: str) -> type[BaseException]:
    module, _, name = dotted.rpartition(".")
    found = getattr(importlib.import_module(module), name)
    assert isinstance(found, type) and issubclass(found, BaseException), dotted
    return found


def _subclasses(kind: type[JobsError]) -> set[type[JobsError]]:
    found = set()
    for child in kind.__subclasses__():
        found |= {child, *_subclasses(child)}
    return found


def _exception_classes_in_sources() -> set[str]:
    """Dotted names of classes in the product's sources with a built-in exception among their bases."""
    exceptions = {
        name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
    }
    found = set()
    for source in SOURCES:
        path = ROOT / source
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if "migrations" in file.parts:
                continue
            module = ".".join(file.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.ClassDef) and any(
                    isinstance(base, ast.Name) and base.id in exceptions for base in node.bases
                ):
                    found.add(f"{module}.{node.name}")
    return found


@pytest.mark.parametrize("kind", list(KINDS), ids=lambda kind: kind.__name__)
def test_each_error_kind_carries_its_documented_status_exit_code_and_api_code(kind):
    # Given an error kind of the tree
    # When its class attributes are read
    # Then they are the status, exit code and code the README and CONTRACT.md document
    assert (kind.http_status, kind.exit_code, kind.code) == KINDS[kind]
    assert issubclass(kind, JobsError)


@pytest.mark.parametrize("dotted", sorted(PROJECT_ERRORS))
def test_every_project_error_maps_to_the_status_and_exit_code_of_its_kind(dotted):
    # Given one of the product's own error classes
    error_class = _load(dotted)
    # When it is seen by the API's and jobsctl's mappings (both read these attributes)
    # Then it is a JobsError with the documented status and exit code, and its kind's code
    assert issubclass(error_class, JobsError), f"{dotted} does not derive from errors.JobsError"
    assert (error_class.http_status, error_class.exit_code) == PROJECT_ERRORS[dotted]


def test_no_exception_class_of_the_product_is_left_outside_the_error_root():
    # Given every class of the product's sources that subclasses a built-in exception
    candidates = _exception_classes_in_sources() - OUTSIDE_THE_TREE
    # When each is imported
    outside = sorted(dotted for dotted in candidates if not issubclass(_load(dotted), JobsError))
    # Then each derives from errors.JobsError, and every JobsError of the product is in the table above
    assert outside == []
    for dotted in PROJECT_ERRORS:
        _load(dotted)
    ours = {
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _subclasses(JobsError)
        if cls.__module__.split(".")[0] in {source.removesuffix(".py") for source in SOURCES}
        and cls.__module__ != "errors"
    }
    assert ours - set(PROJECT_ERRORS) == set(), "add the new error classes to PROJECT_ERRORS"
