"""Queue control: the library service that the HTTP API and the CLI both call."""
