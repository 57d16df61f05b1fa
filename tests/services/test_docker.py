"""docker/compose.yml is valid and starts exactly the commands `make run` starts."""

import shutil
import subprocess

import pytest
import yaml

from hotline.settings import ROOT, Settings
from hotline.stack import process_specs

COMPOSE = ROOT / "docker" / "compose.yml"


def test_compose_file_is_valid_for_docker_compose():
    exe = shutil.which("docker-compose")
    if exe is None:  # .ci/run installs Debian's docker-compose; a dev box may lack it
        pytest.fail("docker-compose is not installed (apt-get install docker-compose)")
    out = subprocess.run([exe, "-f", str(COMPOSE), "config"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    assert {"postgres", "redis", "rasa", "actions", "services", "worker"} <= set(config["services"])
    for name in ("postgres", "redis", "rasa", "actions", "services"):
        assert "healthcheck" in config["services"][name], name


def test_compose_commands_match_make_run():
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    real = Settings.from_env({"DATABASE_URL": "postgresql://u@db/x", "REDIS_URL": "redis://r:6379/0"})
    for spec in process_specs(real):
        assert compose[spec.name]["command"] == spec.argv, spec.name


def test_images_put_the_venvs_where_the_commands_expect_them():
    bot = (ROOT / "docker" / "Dockerfile.bot").read_text()
    services = (ROOT / "docker" / "Dockerfile.services").read_text()
    assert "python -m venv .venv-bot" in bot and "WORKDIR /app" in bot
    assert "python -m venv .venv" in services and "WORKDIR /app" in services


def test_the_bot_image_holds_every_file_of_the_services_tree_the_actions_read():
    """The actions read referral/ data; an image without it fails at the first help request."""
    from actions import regions, vocabulary

    bot = (ROOT / "docker" / "Dockerfile.bot").read_text()
    copied = {part for line in bot.splitlines() if line.startswith("COPY ")
              for part in line.split()[1:-1]}
    for path in (vocabulary.ROUTING, vocabulary.CASE_TEXTS, regions.UNITS):
        assert str(path.relative_to(ROOT)) in copied, path


def test_compose_keeps_no_secret_and_runs_as_production():
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in compose.items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")):
                assert str(value).startswith("${"), (name, key)  # from docker/.env only
    services = compose["services"]["environment"]
    assert services["HOTLINE_ENV"] == "production" and services["COOKIE_SECURE"] == "true"
    assert "${POSTGRES_PASSWORD" in services["DATABASE_URL"] and "${REDIS_PASSWORD" in services["REDIS_URL"]
    assert "requirepass" in " ".join(compose["redis"]["command"])


def test_compose_runs_replicas_behind_one_balancer():
    """The app, the worker and the bot run as replicas on the same servers; only the balancer
    publishes a port (a replica with a host port could not be scaled)."""
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("services", "worker", "rasa", "actions"):
        assert "replicas" in compose[name].get("deploy", {}), name
        assert "ports" not in compose[name], name
    assert compose["proxy"]["ports"] == ["8000:8000"]
    nginx = (ROOT / "docker" / "nginx.conf").read_text()
    assert "server services:8000 resolve" in nginx and "proxy_buffering off" in nginx
    assert compose["services"]["environment"]["PROXIES_COUNT"].startswith("${PROXIES_COUNT:-1")
    assert "probe=ready" in " ".join(compose["services"]["healthcheck"]["test"])
