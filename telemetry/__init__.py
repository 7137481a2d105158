"""What leaves the process about its jobs: structured, scrubbed logs and Sentry events."""
