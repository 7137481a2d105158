"""The API's routers: system (health, metrics), queues and jobs, operations, exports."""
