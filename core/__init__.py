"""What every layer stands on: the Redis client, the job contract, scrubbing, queue naming, lanes, file writes."""
