"""Our Dramatiq middleware, one concern per module; `actors._broker` lists them in order."""
