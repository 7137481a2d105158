"""The README's checkable claims about the code: its payload table is the one the payload models
make and documents the contract's fields, its examples carry no fixed dates, and every Markdown
file it names is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

from api import payload_docs

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

#: The contract's payload fields of each actor (CONTRACT.md's "Actors and their payloads"), written out here.
CONTRACT_FIELDS = {
    "aggregate_analytics": {"publisher_id", "start_date", "end_date", "granularity"},
    "export_data": {"export_id", "publisher_id", "format", "start_date", "end_date", "granularity", "filters"},
    "generate_report": {"publisher_id", "report_type", "date", "recipients"},
    "calculate_metrics": {"publisher_id", "metric_type", "period"},
    "warm_cache": {"cache_keys", "priority"},
    "cleanup": {"type", "older_than", "dry_run"},
}


def _documented_fields() -> dict[str, set[str]]:
    """Actor -> the field names of its rows in the README's table (read from the Markdown, not from the generator)."""
    table = payload_docs.readme_table(README)
    assert table is not None, "README.md has lost its payload-fields markers"
    fields: dict[str, set[str]] = {}
    actor = ""
    for line in table.splitlines()[2:]:
        first, field = (cell.strip() for cell in line.strip("|").split("|")[:2])
        if first:
            actor = re.match(r"`(\w+)`", first).group(1)  # type: ignore[union-attr]
            fields[actor] = set()
        named = re.match(r"`([\w.]+)`", field)
        if named:
            fields[actor].add(named.group(1))
    return fields


def test_the_readme_payload_table_is_the_one_the_payload_models_make():
    # Given the table between the README's markers
    written = payload_docs.readme_table(README)
    # When the payload models make it again
    made = payload_docs.payload_table()
    # Then nothing drifted (to fix: `python -m api.payload_docs --write README.md`)
    assert written == made


def test_the_readme_documents_every_field_of_every_actor_and_the_contracts_fields():
    # Given the actors every worker declares, and the fields the README's table names for each
    documented = _documented_fields()
    actors = {actor.actor_name: actor.payload_model for actor in payload_docs.job_actors()}
    # Then every actor has its rows, naming each field of its model (a nested model's as `parent.child`)
    assert set(documented) == set(actors)
    for name, model in actors.items():
        assert set(model.model_fields) <= documented[name], name
    assert {"filters.country", "filters.device", "filters.ad_unit_id"} <= documented["export_data"]
    # And the contract's six actors carry at least the contract's fields
    for name, fields in CONTRACT_FIELDS.items():
        assert fields <= documented[name], name


def test_the_readme_examples_compute_their_dates_instead_of_naming_a_day():
    # Given the README's Python and shell examples
    blocks = re.findall(r"```(?:python|sh)\n(.*?)```", README, flags=re.DOTALL)
    assert blocks
    # Then none names a fixed day, which `jobsctl seed` (the days ending today) may not have filled
    fixed = [line for block in blocks for line in block.splitlines() if re.search(r"\d{4}-\d{2}-\d{2}", line)]
    assert fixed == []


def test_every_markdown_file_the_readme_names_is_in_the_repository():
    named = set(re.findall(r"(?<![\w/.-])([\w/.-]+\.md)\b", README))
    assert "README.md" in named and "BENCHMARKS.md" in named  # the pattern finds what it should
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert missing == []
