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
