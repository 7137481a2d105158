"""The README's table of HTTP endpoints names only routes the app serves, with their methods (read from the
app's OpenAPI document, which lists every route but the dashboard's and the docs' pages)."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _readme_routes() -> set[tuple[str, str]]:
    """(method, full path) of every `METHOD path` in the first column of the README's endpoint table."""
    section = README.split("### HTTP endpoints", 1)[1].split("\n## ", 1)[0]
    found = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        for method, path in re.findall(r"`(GET|POST|DELETE|PUT|PATCH) ([^`?]+)", line.split("|")[1]):
            found.add((method, path if path.startswith("/") else f"/api/v1/{path}"))
    return found


def test_every_endpoint_the_readme_lists_is_served_with_its_method(api_app):
    # Given the README's endpoint table (paths under /api/v1 written without the prefix)
    listed = _readme_routes()
    assert ("GET", "/health") in listed and ("POST", "/api/v1/queues/{queue}/jobs") in listed
    # When the app's routes are read
    paths = api_app.openapi()["paths"]
    served = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    # Then each listed one is served
    assert sorted(listed - served) == []
