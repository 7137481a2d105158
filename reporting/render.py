"""A report's files: an HTML page (Jinja2, autoescaped) and a CSV of the same figures.

Files are `<REPORT_DIR>/<publisher>/<type>-<period start>.html|.csv`; a rerun for the same
period writes the same files again (through a temporary file renamed into place).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from reporting.figures import RATIOS, TOTALS
from settings import get_settings

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
_environment = Environment(loader=PackageLoader("reporting", "templates"), autoescape=select_autoescape(["html"]))


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
    return _environment.get_template("report.html").render(
        report=report,
        title=title(report),
        fmt=fmt,
        cards=[(name, _LABELS[name]) for name in ("revenue", "impressions", "ctr", "ecpm")],
        metrics=[(name, _LABELS[name]) for name in (*TOTALS, *RATIOS)],
    )


def render_csv(report: dict[str, Any]) -> str:
    """One table: the period's totals, the previous period's, the change, then the top ad units."""
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
    buffer = io.StringIO()
    pd.DataFrame(rows, columns=["section", "name", *columns]).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def report_paths(report: dict[str, Any]) -> tuple[Path, Path]:
    directory = get_settings().report_dir.resolve() / _SAFE.sub("_", report["publisher_id"])
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{report['report_type']}-{report['period_start']}"
    return directory / f"{stem}.html", directory / f"{stem}.csv"


def _write(path: Path, content: str) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(content, encoding="utf-8")
    os.replace(part, path)


def write_files(report: dict[str, Any]) -> tuple[Path, Path]:
    html_path, csv_path = report_paths(report)
    _write(html_path, render_html(report))
    _write(csv_path, render_csv(report))
    return html_path, csv_path
