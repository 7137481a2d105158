"""docker/compose.yml, read by the real `docker compose config`, against CONTRACT.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from settings import Settings
from tests.deploy import compose

APP_SERVICES = ("migrate", "worker", "beat-1", "beat-2", "api")
LONG_RUNNING = ("redis", "postgres", "worker", "beat-1", "beat-2", "api")


@pytest.fixture(scope="module")
def command(tmp_path_factory: pytest.TempPathFactory) -> compose.Compose:
    try:
        return compose.find_compose(tmp_path_factory.mktemp("compose"))
    except compose.ComposeMissing as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def config(command: compose.Compose) -> dict[str, Any]:
    return compose.compose_config(command)


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["services"]


def _settings_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_the_kept_excerpt_of_the_contract_matches_contract_md():
    if not compose.CONTRACT.exists():
        pytest.skip(f"CONTRACT.md is not beside the checkout ({compose.CONTRACT}): the excerpt stands in for it")
    for title in ("Processes", "Settings", "CLI"):
        kept = compose.contract_section(title, compose.CONTRACT_EXCERPT)
        assert kept.strip() == compose.contract_section(title, compose.CONTRACT).strip(), title


def test_compose_declares_the_servers_the_migration_the_workers_two_beats_and_the_api(services):
    assert set(services) == {"redis", "postgres", "migrate", "worker", "beat-1", "beat-2", "api"}


def test_each_process_runs_the_command_contract_md_names(services):
    # Given the contract's commands for each process
    workers = compose.contract_commands("worker")
    beats = compose.contract_commands("scheduler")
    apis = compose.contract_commands("admin API")
    # Then the services run them (flags after the contract's words are allowed)
    assert services["worker"]["command"][:2] in workers
    for beat in ("beat-1", "beat-2"):
        assert services[beat]["command"] in beats
    assert services["api"]["command"][:2] in apis
    assert services["api"]["command"][2:] == ["--host", "0.0.0.0", "--port", "8000"]
    assert "migrate" in compose.contract_cli()
    assert services["migrate"]["command"] == ["jobsctl", "migrate"]
    # And running jobs get time to finish on `docker stop`
    worker_command = services["worker"]["command"]
    shutdown_ms = int(worker_command[worker_command.index("--worker-shutdown-timeout") + 1])
    assert _seconds(services["worker"]["stop_grace_period"]) > shutdown_ms / 1000


def test_every_adjobs_process_gets_every_setting_of_the_contract_and_only_real_settings(services):
    contract = compose.contract_settings()
    assert {"REDIS_URL", "DATABASE_URL", "BROKER_URL", "ALERT_WEBHOOK_URL"} <= contract  # the parse found the table
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert contract <= set(environment), f"{name} lacks {sorted(contract - set(environment))}"
        unknown = set(environment) - _settings_names()
        assert not unknown, f"{name} sets names no setting reads: {sorted(unknown)}"


def test_by_default_the_processes_use_the_bundled_servers_and_leave_optional_settings_unset(services):
    secrets = _env_file(compose.TEST_ENV)
    environment = services["worker"]["environment"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    password = secrets["POSTGRES_PASSWORD"]
    assert environment["DATABASE_URL"] == f"postgresql+psycopg://adjobs:{password}@postgres:5432/adjobs"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == secrets["POSTGRES_PASSWORD"]
    assert environment["API_ADMIN_TOKENS"] == secrets["API_ADMIN_TOKENS"]
    for optional in ("BROKER_URL", "SENTRY_DSN", "ALERT_WEBHOOK_URL", "API_READ_TOKENS"):
        assert environment[optional] is None, optional  # unset in the container, not an empty string


def test_without_the_secrets_in_docker_env_compose_refuses_and_names_the_missing_one(command, tmp_path):
    # Given a docker/.env without the database password (nothing in compose.yml stands in for it)
    bare = tmp_path / "bare.env"
    bare.write_text("API_ADMIN_TOKENS=an-admin-token\n")
    # When compose resolves the stack
    result = compose.run_config(command, bare)
    # Then it refuses, naming the variable and where to set it
    assert result.returncode != 0, result.stdout
    assert "required variable POSTGRES_PASSWORD is missing a value: set it in docker/.env" in result.stderr
    # And an empty password is refused the same way
    bare.write_text("POSTGRES_PASSWORD=\nAPI_ADMIN_TOKENS=an-admin-token\n")
    assert "required variable POSTGRES_PASSWORD" in compose.run_config(command, bare).stderr
    # And no default password is left in the file
    assert not re.search(r"POSTGRES_PASSWORD:?-", compose.COMPOSE_FILE.read_text())


def test_the_admin_token_line_is_required_but_may_be_empty_to_use_only_table_tokens(command, tmp_path):
    # Given a docker/.env with the password but no API_ADMIN_TOKENS line
    env_file = tmp_path / "no-admin.env"
    env_file.write_text("POSTGRES_PASSWORD=a-password\n")
    # Then compose refuses, naming it
    refused = compose.run_config(command, env_file)
    assert refused.returncode != 0 and "required variable API_ADMIN_TOKENS" in refused.stderr, refused.stderr
    # When the line is there but empty (every token made with `jobsctl tokens create`)
    env_file.write_text("POSTGRES_PASSWORD=a-password\nAPI_ADMIN_TOKENS=\n")
    config = compose.compose_config(command, env_file)
    # Then the stack resolves and the processes get no settings token
    for name in APP_SERVICES:
        assert config["services"][name]["environment"]["API_ADMIN_TOKENS"] == "", name


def test_the_example_env_file_reaches_every_process_and_names_only_known_variables(command):
    # Given docker/.env.example as the stack's .env
    config = compose.compose_config(command, compose.ENV_EXAMPLE)
    example = _env_file(compose.ENV_EXAMPLE)
    # Then its values are what the processes get
    for name in APP_SERVICES:
        environment = config["services"][name]["environment"]
        assert environment["API_ADMIN_TOKENS"] == example["API_ADMIN_TOKENS"]
        assert environment["SENTRY_ENVIRONMENT"] == example["SENTRY_ENVIRONMENT"]
        assert f":{example['POSTGRES_PASSWORD']}@postgres:" in environment["DATABASE_URL"]
    assert config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == example["POSTGRES_PASSWORD"]
    assert config["services"]["worker"]["deploy"]["replicas"] == int(example["WORKER_REPLICAS"])
    # And every name it mentions, commented out or not, is a setting or a variable of compose.yml
    mentioned = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", compose.ENV_EXAMPLE.read_text(), flags=re.M))
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose.COMPOSE_FILE.read_text()))
    nested = {name for name in mentioned if "__" in name and name.split("__")[0].lower() in Settings.model_fields}
    assert mentioned - nested <= _settings_names() | interpolated
    assert compose.contract_settings() <= mentioned


def test_adjobs_processes_start_after_healthy_servers_and_a_successful_migration(services):
    for name in ("worker", "beat-1", "beat-2", "api"):
        depends = services[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"


def test_long_running_services_have_health_checks_and_restart(services):
    for name in LONG_RUNNING:
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        assert services[name]["restart"] == "unless-stopped"
    for role, name in (("worker", "worker"), ("beat", "beat-1"), ("api", "api")):
        assert services[name]["healthcheck"]["test"][-1] == role


def test_redis_keeps_its_data_and_never_evicts_and_workers_scale_out(services):
    redis = services["redis"]
    words = redis["command"]
    assert words[words.index("--appendonly") + 1] == "yes"
    assert words[words.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume["target"] == "/data" and volume["type"] == "volume" for volume in redis["volumes"])
    assert any(v["target"] == "/var/lib/postgresql/data" for v in services["postgres"]["volumes"])
    assert services["worker"]["deploy"]["replicas"] >= 2
    # The API serves the exports the workers write: both mount the same volume.
    exports = {
        name: {v["source"] for v in services[name]["volumes"] if v["target"] == "/app/var/exports"}
        for name in ("worker", "api")
    }
    assert exports["worker"] == exports["api"] == {"exports"}


def test_the_image_is_multi_stage_and_runs_as_an_unprivileged_user():
    text = compose.DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.M | re.I)
    assert len(stages) >= 2 and all("slim" in image for image, _ in stages)
    final = text[text.rfind("\nFROM ") :]
    users = re.findall(r"^USER\s+(\S+)", final, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "COPY --from=build /opt/venv /opt/venv" in final  # only the virtualenv crosses over
    assert "COPY docker/healthcheck.py /app/healthcheck.py" in final
    ignored = (compose.ROOT / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "**/.env", "**/.env.*"} <= set(ignored)


def test_the_ha_profile_adds_a_replica_and_three_sentinels_that_the_processes_ask_for_the_primary(command, tmp_path):
    # Given a docker/.env naming the profile's Sentinels
    sentinels = "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"
    env_file = tmp_path / "ha.env"
    env_file.write_text(compose.TEST_ENV.read_text() + f"REDIS_SENTINELS={sentinels}\n")
    # When compose resolves the stack with the `ha` profile
    config = compose.compose_config(command, env_file, profiles=("ha",))
    services = config["services"]
    # Then a replica of `redis` and three Sentinels join it
    assert set(services) >= {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 : replica.index("--replicaof") + 3] == ["redis", "6379"]
    assert "noeviction" in replica and replica[replica.index("--appendonly") + 1] == "yes"
    # And each Sentinel watches `redis` under the name the processes ask for, a quorum of 2 of the 3
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        script = " ".join(services[name]["command"])
        assert "sentinel monitor adjobs redis 6379 2" in script and "--sentinel" in script, script
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    # And every adjobs process asks those Sentinels, a setting the settings object reads
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["REDIS_SENTINELS"] == sentinels and environment["REDIS_SENTINEL_MASTER"] == "adjobs"
    assert Settings(redis_sentinels=sentinels, redis_sentinel_master="adjobs").redis_sentinels == [
        (f"sentinel-{k}", 26379) for k in (1, 2, 3)
    ]


def test_without_the_ha_profile_no_sentinel_runs_and_the_processes_use_redis_directly(services):
    assert not {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"} & set(services)
    for name in APP_SERVICES:
        assert services[name]["environment"]["REDIS_SENTINELS"] == ""
    assert Settings(redis_sentinels="", redis_sentinel_master="adjobs").redis_sentinels == []


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def _seconds(duration: str | int) -> float:
    if isinstance(duration, int):
        return duration / 1e9  # compose prints nanoseconds in JSON
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match, duration
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
