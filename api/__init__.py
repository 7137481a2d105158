"""The admin HTTP API and the dashboard (FastAPI)."""
