"""The database: typed models, per-process engines, SQL for each concern, Alembic migrations."""
