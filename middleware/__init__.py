"""Our Dramatiq middleware, one concern per module; `wiring.broker` lists them in order."""
