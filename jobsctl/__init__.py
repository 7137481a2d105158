"""`jobsctl`: the operator CLI (typer + rich)."""
