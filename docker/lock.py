"""Write requirements.lock: pyproject's dependencies and all they pull in, at the versions installed in .venv.

The image installs exactly these (`pip install --no-deps -r requirements.lock`, docker/Dockerfile) and
`make install` uses the file as constraints, so the image runs the versions the tests ran. Requirement
markers are read for the image: Linux, this interpreter's Python (the image's, 3.11). To move a version:

    .venv/bin/pip install 'sqlalchemy==2.1.10'    # or change pyproject.toml, then `make install`
    .venv/bin/python docker/lock.py               # then commit requirements.lock
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
HEADER = """\
# The image's dependencies, pinned: pyproject.toml's [project] dependencies and everything they need,
# at the versions the test suite runs (docker/lock.py writes this file from .venv; do not edit by hand).
# docker/Dockerfile installs it with `pip install --no-deps -r requirements.lock`; `make install` uses it
# as constraints. Markers were read for Linux, Python {python}.
"""


def image_environment() -> dict[str, str]:
    """The marker environment of the image: this interpreter, on Linux."""
    environment = dict(default_environment())
    environment.update(sys_platform="linux", platform_system="Linux", os_name="posix")
    return environment


def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    return [Requirement(line) for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]]


def _applies(requirement: Requirement, extras: set[str], environment: dict[str, str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**environment, "extra": extra}) for extra in (extras or {""}))


def resolve(requirements: list[Requirement], environment: dict[str, str] | None = None) -> dict[str, str]:
    """{canonical name: installed version} of `requirements` and their requirements, transitively.

    Raises LookupError for a requirement that is not installed, ValueError for one whose installed
    version does not satisfy what asks for it.
    """
    environment = environment or image_environment()
    pinned: dict[str, str] = {}
    extras_of: dict[str, set[str]] = {}
    applying = [requirement for requirement in requirements if _applies(requirement, set(), environment)]
    pending = [(requirement, "pyproject.toml") for requirement in applying]
    while pending:
        requirement, wanted_by = pending.pop()
        name = canonicalize_name(requirement.name)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise LookupError(f"{requirement} (wanted by {wanted_by}) is not installed: run `make install`") from None
        version = distribution.version
        if not requirement.specifier.contains(version, prereleases=True):
            raise ValueError(f"{name} {version} is installed but {wanted_by} wants {requirement}")
        known = extras_of.get(name)
        extras = {canonicalize_name(extra) for extra in requirement.extras}
        if known is not None and extras <= known:
            continue
        extras_of[name] = (known or set()) | extras
        pinned[name] = version
        for line in distribution.requires or []:
            child = Requirement(line)
            if _applies(child, extras_of[name], environment):
                pending.append((child, f"{name} {version}"))
    return pinned


def render(pinned: dict[str, str], environment: dict[str, str] | None = None) -> str:
    environment = environment or image_environment()
    lines = [f"{name}=={version}" for name, version in sorted(pinned.items())]
    return HEADER.format(python=environment["python_version"]) + "\n".join(lines) + "\n"


def main() -> None:
    text = render(resolve(project_requirements()))
    LOCK.write_text(text)
    print(f"wrote {LOCK.relative_to(ROOT)}: {text.count('==')} packages", file=sys.stderr)


if __name__ == "__main__":
    main()
