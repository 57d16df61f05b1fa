import pytest

from hotline.settings import Settings
from hotline.stack import endpoints_file, process_specs


def test_embedded_default_without_configuration(tmp_path):
    s = Settings.from_env({"HOTLINE_VAR_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    assert s.redis_url is None and not s.uses_real_servers
    assert endpoints_file(s) == "bot/endpoints.yml"


def test_real_servers_switch_rasa_stores_too():
    s = Settings.from_env({"DATABASE_URL": "postgres://alice:pw@db.local:6543/hot",
                           "REDIS_URL": "redis://cache:6380/2"})
    assert s.database_url == "postgresql+asyncpg://alice:pw@db.local:6543/hot"
    rasa = next(p for p in process_specs(s) if p.name == "rasa")
    assert "bot/endpoints.production.yml" in rasa.argv
    assert rasa.env["DB_HOST"] == "db.local" and rasa.env["DB_PORT"] == "6543"
    assert rasa.env["DB_NAME"] == "hot" and rasa.env["DB_PASSWORD"] == "pw"
    assert rasa.env["REDIS_HOST"] == "cache" and rasa.env["REDIS_DB"] == "2"


def test_half_configured_servers_are_refused():
    s = Settings.from_env({"DATABASE_URL": "postgresql://u@h/db"})
    with pytest.raises(SystemExit, match="both DATABASE_URL and REDIS_URL"):
        endpoints_file(s)


def test_unsupported_database_is_a_clear_error():
    with pytest.raises(ValueError, match="unsupported database"):
        Settings.from_env({"DATABASE_URL": "mysql://u@h/db"})


SAFE = {"HOTLINE_ENV": "production", "DATABASE_URL": "postgresql://hotline:pw-123@db:5432/hotline",
        "REDIS_URL": "redis://:pw-456@redis:6379/0", "COOKIE_SECURE": "true",
        "SERVICES_API_TOKEN": "s" * 32, "RASA_AUTH_TOKEN": "r" * 32}


def test_production_refuses_each_insecure_setting():
    assert Settings.from_env(SAFE).production_problems() == []
    assert Settings.from_env({**SAFE, "HOTLINE_ENV": "development", "COOKIE_SECURE": "false"}) \
        .production_problems() == []
    for change, word in ((("COOKIE_SECURE", "false"), "COOKIE_SECURE"),
                         (("DATABASE_URL", "postgresql://hotline@db/hotline"), "DATABASE_URL"),
                         (("DATABASE_URL", "sqlite:///x.db"), "DATABASE_URL"),
                         (("REDIS_URL", "redis://redis:6379/0"), "REDIS_URL"),
                         (("SERVICES_API_TOKEN", ""), "SERVICES_API_TOKEN"),
                         (("RASA_AUTH_TOKEN", "short"), "RASA_AUTH_TOKEN"),
                         (("HOTLINE_SEED_DEMO_USERS", "1"), "HOTLINE_SEED_DEMO_USERS")):
        problems = Settings.from_env({**SAFE, change[0]: change[1]}).production_problems()
        assert len(problems) == 1 and word in problems[0], (change, problems)


def test_the_app_does_not_start_in_production_with_an_insecure_setting(tmp_path):
    import os
    import subprocess
    import sys

    from hotline.settings import ROOT

    env = {**os.environ, **SAFE, "COOKIE_SECURE": "false", "HOTLINE_VAR_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "hotline", "serve"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "COOKIE_SECURE" in out.stderr
