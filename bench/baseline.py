"""The code before a redesign, checked out beside this one, so a run can measure both on the same machine.

`checkout(rev)` adds a detached `git worktree` of `rev` in a temporary directory and removes it
afterwards (`git worktree remove --force`); it yields None, after one line saying why, when the
clone does not hold `rev`. `tree_env(env, tree)` is the environment that makes a Python process
started with `cwd=tree` import that tree's packages (`bench.full_app`, `actors`, `settings` ...)
before this tree's, which the editable install puts on `sys.path` too. Both trees use the same
virtual environment, Redis database and PostgreSQL database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.workers import ROOT

#: `main` before issue 19's redesign (layers, one broker boundary).
DEFAULT_REV = "7f87d8a"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def resolve(rev: str) -> str | None:
    """The commit `rev` names in this clone, or None when the clone does not hold it."""
    found = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return found.stdout.strip() if found.returncode == 0 else None


@contextmanager
def checkout(rev: str) -> Iterator[Path | None]:
    """A detached worktree of `rev` for the duration of the block, or None (said in one line) without it."""
    commit = resolve(rev)
    if commit is None:
        print(f"baseline: revision {rev!r} is not in this clone ({ROOT}); the rows against it are skipped", flush=True)
        yield None
        return
    tree = Path(tempfile.mkdtemp(prefix="adjobs-baseline-"))
    added = _git("worktree", "add", "--detach", str(tree), commit)
    if added.returncode != 0:
        shutil.rmtree(tree, ignore_errors=True)
        print(f"baseline: git worktree add {rev} failed, the rows against it are skipped: {added.stderr.strip()}")
        yield None
        return
    print(f"baseline: {rev} ({commit[:12]}) checked out in {tree}", flush=True)
    try:
        yield tree
    finally:
        _git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(tree, ignore_errors=True)
        _git("worktree", "prune")


def tree_env(env: dict[str, str], tree: Path) -> dict[str, str]:
    """`env` for a process started in `tree` that imports that tree's code first."""
    paths = [str(tree), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}
