"""Runtime state of the processes: queue flags, heartbeats, the metrics recorder, the job-store buffer."""
