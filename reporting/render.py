"""A report's files: an HTML page (Jinja2, autoescaped) and a CSV of the same figures.

Files are `<REPORT_DIR>/<publisher>/<type>-<period start>.html|.csv`; a rerun for the same
period writes the same files again (through a new temporary file in that directory, renamed
into place: a symlink planted there is never written through). A publisher directory that
would resolve outside REPORT_DIR (an id like `..`) is refused. The CSV is meant for
spreadsheets: its text cells that start like a formula get a leading `'`; it is written in
the exports' CSV dialect (`db.copy_csv`). pandas and Jinja2 load on the first report written, not
when the actors are imported (every `send()` from a service would pay for them).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.csv_escape import escape_text_columns
from core.file_writes import inside, replacing
from db import copy_csv
from reporting.figures import RATIOS, TOTALS
from settings import get_settings

if TYPE_CHECKING:
    from jinja2 import Environment

_LABELS = {
    "ad_requests": "Ad requests",
    "impressions": "Impressions",
    "clicks": "Clicks",
    "revenue": "Revenue",
    "ctr": "CTR",
    "fill_rate": "Fill rate",
    "ecpm": "eCPM",
}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
#: The CSV's text columns (the rest are figures, never altered).
CSV_TEXT_COLUMNS = ("section", "name")


@cache
def _templates() -> Environment:
    """The report templates (autoescaped HTML), made on first use."""
    from jinja2 import Environment, PackageLoader, select_autoescape  # heavy: only when a report is rendered

    return Environment(loader=PackageLoader("reporting", "templates"), autoescape=select_autoescape(["html"]))


def fmt(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if name in ("ctr", "fill_rate"):
        return f"{value * 100:.2f} %"
    if name in ("revenue", "ecpm"):
        return f"{value:,.2f}"
    return f"{int(value):,}"


def title(report: dict[str, Any]) -> str:
    return f"{report['report_type'].capitalize()} report for {report['publisher_id']}"


def render_html(report: dict[str, Any]) -> str:
    template = _templates().get_template("report.html")
    return template.render(
        report=report,
        title=title(report),
        fmt=fmt,
        cards=[(name, _LABELS[name]) for name in ("revenue", "impressions", "ctr", "ecpm")],
        metrics=[(name, _LABELS[name]) for name in (*TOTALS, *RATIOS)],
    )


def render_csv(report: dict[str, Any]) -> str:
    """One table: the period's totals, the previous period's, the change, then the top ad units."""
    import pandas as pd  # heavy (about 0.3 s): loaded when a report is written, not when actors are imported

    columns = [*TOTALS, *RATIOS]
    rows = [
        {"section": "total", "name": "this period", **report["totals"]},
        {"section": "total", "name": "previous period", **report["previous"]},
        {"section": "change_pct", "name": "change %", **report["change_pct"]},
        *(
            {"section": "ad_unit", "name": unit["ad_unit_id"], **{c: unit[c] for c in columns}}
            for unit in report["top_ad_units"]
        ),
    ]
    frame = escape_text_columns(pd.DataFrame(rows, columns=["section", "name", *columns]), CSV_TEXT_COLUMNS)
    # The exports' dialect (quotes a bare carriage return, which `DataFrame.to_csv` does not).
    return copy_csv.header_line(frame.columns) + copy_csv.csv_lines(frame)


def report_paths(report: dict[str, Any]) -> tuple[Path, Path]:
    """The report's HTML and CSV paths; `UnsafePath` when its directory would leave REPORT_DIR."""
    root = get_settings().report_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    directory = root / _SAFE.sub("_", report["publisher_id"])
    directory.mkdir(exist_ok=True)
    directory = inside(root, directory)  # `..`, `.`, or a symlink planted in its place: refused
    stem = f"{report['report_type']}-{report['period_start']}"
    return directory / f"{stem}.html", directory / f"{stem}.csv"


def _write(path: Path, content: str) -> None:
    with replacing(path) as out:
        out.write(content.encode("utf-8"))


def write_files(report: dict[str, Any]) -> tuple[Path, Path]:
    html_path, csv_path = report_paths(report)
    _write(html_path, render_html(report))
    _write(csv_path, render_csv(report))
    return html_path, csv_path
