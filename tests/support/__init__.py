"""Test helpers: real servers, polling the job store, worker processes."""
