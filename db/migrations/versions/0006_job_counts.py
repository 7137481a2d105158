"""job counts per queue and state, kept by statement-level triggers (PostgreSQL)

Queue metrics counted `jobs` with a GROUP BY: fine at thousands of records, seconds at ten
million. `job_counts` holds the same numbers, changed in the same transaction as `jobs` by
statement-level triggers over the statement's transition tables (one aggregated upsert per
statement, not one per row; counter rows taken in a fixed order, so concurrent writers cannot
deadlock on them). SQLite, the embedded default, keeps counting with GROUP BY.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 19:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_APPLY = """
INSERT INTO job_counts (queue, state, n)
SELECT queue, state, sum(d) FROM ({deltas}) AS delta
GROUP BY queue, state HAVING sum(d) <> 0 ORDER BY queue, state
ON CONFLICT (queue, state) DO UPDATE SET n = job_counts.n + EXCLUDED.n
"""
_FUNCTIONS = {
    "job_counts_inserted": _APPLY.format(deltas="SELECT queue, state, 1 AS d FROM new_rows"),
    "job_counts_updated": _APPLY.format(
        deltas="SELECT queue, state, -1 AS d FROM old_rows UNION ALL SELECT queue, state, 1 FROM new_rows"
    ),
    "job_counts_deleted": _APPLY.format(deltas="SELECT queue, state, -1 AS d FROM old_rows"),
}
_TRIGGERS = {
    "job_counts_inserted": "AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows",
    "job_counts_updated": "AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "job_counts_deleted": "AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows",
}


#: The DDL, made once from the constants above.
CREATE = [
    "CREATE TABLE job_counts (queue varchar(64) NOT NULL, state varchar(16) NOT NULL,"
    " n bigint NOT NULL DEFAULT 0, PRIMARY KEY (queue, state))",
    *(
        statement
        for name, body in _FUNCTIONS.items()
        for statement in (
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$",
            f"CREATE TRIGGER {name} {_TRIGGERS[name]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        )
    ),
    "LOCK TABLE jobs IN SHARE MODE",  # no write between the count and the triggers taking over
    "INSERT INTO job_counts (queue, state, n) SELECT queue, state, count(*) FROM jobs GROUP BY 1, 2",
]
DROP = [
    *(f"DROP TRIGGER IF EXISTS {name} ON jobs" for name in _FUNCTIONS),
    *(f"DROP FUNCTION IF EXISTS {name}()" for name in _FUNCTIONS),
    "DROP TABLE IF EXISTS job_counts",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in CREATE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DROP:
        op.execute(statement)
