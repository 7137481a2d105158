"""`jobsctl publishers tier|tiers`: a publisher's tier (its jobs' default priority and limit factor).

`tier PUBLISHER TIER` sets it in `publishers.tier` and in the map senders and workers read from
Redis (`control.publisher_tiers`); `tiers` lists the registered publishers' tiers and the figures of
each tier, and with `--sync` rewrites the Redis map from the table. Exit 0 done, 2 an unknown tier,
4 a server away.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from control import publisher_tiers
from jobsctl.common import JsonOption, app, console, emit_json, report
from jobsctl.operator_commands import operation
from settings import get_settings

publishers_app = typer.Typer(help="Publishers' tiers: set one, list them.", no_args_is_help=True)
app.add_typer(publishers_app, name="publishers")


@publishers_app.command("tier")
def set_tier(
    publisher: Annotated[str, typer.Argument(help="The publisher's id.")],
    tier: Annotated[str, typer.Argument(help="standard, premium, or a tier named by TIERS__<TIER>__...")],
    as_json: JsonOption = False,
) -> None:
    """Set a publisher's tier: its next jobs get the tier's priority and limit factor."""
    with operation():
        result = publisher_tiers.set_publisher_tier(publisher, tier)
    priority = "the send's" if result["priority"] is None else result["priority"]
    report(
        result,
        as_json,
        f"publisher {result['publisherId']}: tier [bold]{result['tier']}[/] "
        f"(priority {priority}, limits x{result['limitFactor']})",
    )


@publishers_app.command("tiers")
def list_tiers(
    sync: Annotated[bool, typer.Option("--sync", help="Rewrite the map in Redis from the publishers table.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Every registered publisher's tier, and each tier's figures."""
    with operation():
        table = publisher_tiers.list_tiers()
        synced = publisher_tiers.sync_tiers() if sync else None
    settings = get_settings()
    figures = {name: settings.tier(name).model_dump(exclude={"name"}) for name in settings.tiers.names()}
    if as_json:
        emit_json({"publishers": table, "tiers": figures, "synced": synced})
        return
    tiers = Table(title="Tiers")
    for column in ("tier", "priority", "limit factor", "publishers"):
        tiers.add_column(column)
    for name, values in figures.items():
        count = sum(1 for tier in table.values() if tier == name)
        tiers.add_row(name, str(values["priority"] or "(the send's)"), f"x{values['limit_factor']}", f"{count:,}")
    console.print(tiers)
    if synced is not None:
        console.print(f"Redis map rewritten: {synced:,} publishers outside the standard tier")
