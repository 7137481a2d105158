"""publishers: time zone and tier; rollup freshness per publisher and local day

`publishers.timezone` is an IANA name (default 'UTC'): day, week and month rollups follow
the publisher's local calendar. On PostgreSQL a CHECK refuses a name the server's time zone
database does not know (or a POSIX offset string such as 'UTC+3'); the application checks
names against Python's IANA database too (`db.publishers.validate_timezone`). SQLite, the
embedded default, keeps UTC calendars and only the application's check.

`rollup_freshness` holds, per publisher and publisher-local day, when that day's rollups
were last brought up to date (`db.rollups.aggregate_window` writes it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: True for a time zone name PostgreSQL knows, written as an IANA name (Area/City, UTC, EST5EDT ...).
#: Fast (no scan of pg_timezone_names): a CHECK runs for every publisher a loader registers.
CREATE_CHECK_FUNCTION = """
CREATE FUNCTION is_iana_timezone(tz text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF tz = 'UTC' THEN
        RETURN true;
    END IF;
    IF tz !~ '^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z0-9_+-]+)*$' THEN
        RETURN false;
    END IF;
    PERFORM now() AT TIME ZONE tz;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END $$
"""
ADD_CHECK = "ALTER TABLE publishers ADD CONSTRAINT ck_publishers_timezone CHECK (is_iana_timezone(timezone))"
DROP_CHECK = "ALTER TABLE publishers DROP CONSTRAINT IF EXISTS ck_publishers_timezone"
DROP_CHECK_FUNCTION = "DROP FUNCTION IF EXISTS is_iana_timezone(text)"


def upgrade() -> None:
    op.add_column("publishers", sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
    op.add_column("publishers", sa.Column("tier", sa.String(32), nullable=False, server_default="standard"))
    op.create_table(
        "rollup_freshness",
        sa.Column("publisher_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("publisher_id", "day", name=op.f("pk_rollup_freshness")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_CHECK_FUNCTION)
        op.execute(ADD_CHECK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_CHECK)
        op.execute(DROP_CHECK_FUNCTION)
    op.drop_table("rollup_freshness")
    with op.batch_alter_table("publishers") as batch:
        batch.drop_column("tier")
        batch.drop_column("timezone")
