"""The readers behind `/health`, `/metrics`, the alerts monitor and the queues at a glance."""
