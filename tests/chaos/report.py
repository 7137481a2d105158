"""Put the fault tests' rows (test-artifacts/reliability/*.json) into RELIABILITY.md's table.

python -m tests.chaos.report        (make chaos runs it after the suite)
"""

from __future__ import annotations

import json
import sys

from tests.chaos.reliability import ARTIFACTS
from tests.support.processes import ROOT

DOCUMENT = ROOT / "RELIABILITY.md"
BEGIN, END = "<!-- table: begin -->", "<!-- table: end -->"
#: The full runs, in the table's order; a small run stands in where its full run is missing.
ORDER = [("sigkill-10000", "sigkill-1500"), ("sigterm-10000", "sigterm-1500"), ("postgres-outage",),
         ("redis-restart",), ("redis-sentinel-failover-nowait",), ("redis-sentinel-failover-wait",),
         ("rabbitmq-quorum-node-killed",), ("bad-input",)]  # fmt: skip


def table() -> str:
    lines = [
        "| fault | jobs sent | completed | lost | ran twice (redelivered) | applied twice | job records | seconds |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for keys in ORDER:
        path = next((ARTIFACTS / f"{key}.json" for key in keys if (ARTIFACTS / f"{key}.json").exists()), None)
        if path is None:
            continue
        row = json.loads(path.read_text())
        store = ", ".join(f"{count:,} {state}" for state, count in row["store"].items())
        fault = row["fault"] + (f" ({row['note']})" if row.get("note") else "")
        lines.append(
            f"| {fault} | {row['sent']:,} | {row['completed']:,} | {row['lost']} | {row['ran_twice']} | "
            f"{row['applied_twice']} | {store} | {row.get('seconds', '')} |"
        )
    return "\n".join(lines)


def main() -> int:
    text = DOCUMENT.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCUMENT.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
