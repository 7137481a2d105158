"""Writing report and export files so that nothing planted in their directory is followed.

`replacing(path)` writes into a new temporary file that `tempfile.mkstemp` makes in the
target's own directory (`O_CREAT | O_EXCL | O_NOFOLLOW`, a random name: never a file or a
symlink someone put there), flushes it to disk and renames it over `path`. The rename
replaces a symlink at `path` instead of writing through it, and readers never see half a
file. Temporary files end in `.part`, which the `temp_files` cleanup removes when stale.
`inside(directory, path)` refuses a path that resolves outside its directory.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from errors import InvalidInput

#: Permissions of a written file (the API and operators read what the worker writes).
FILE_MODE = 0o644
#: Write buffer of a file being written.
BUFFER_BYTES = 1 << 20


class UnsafePath(InvalidInput):
    """Raised when a file would be written outside the directory it belongs in."""


def inside(directory: Path, path: Path) -> Path:
    """`path` with its symlinks and `..` resolved, if that stays strictly inside `directory`."""
    root = directory.resolve()
    resolved = path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnsafePath(f"{path} resolves to {resolved}, outside {root}")
    return resolved


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that becomes `path` when the block ends without an error (removed if not)."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb", buffering=BUFFER_BYTES) as out:
            os.fchmod(out.fileno(), FILE_MODE)
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
