"""Which kind of process this is: a worker or beat (`dramatiq` / `periodiq`), or anything else.

Apart from `wiring.service` (the start of a worker or beat: the schema check, the job-store
writer, which load the database libraries) so that `actors/__init__.py` can ask without loading
them: a process that imports an actor module to send one never needs them.
"""

from __future__ import annotations

import os
import sys


def running_as_service() -> bool:
    """True inside `dramatiq` worker or `periodiq` beat processes."""
    program = sys.argv[0] if sys.argv else ""
    return os.path.basename(program) in ("dramatiq", "periodiq") or program.endswith("dramatiq/__main__.py")
