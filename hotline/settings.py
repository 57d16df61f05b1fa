"""Settings from environment variables (see the table in README.md).

No configuration means the embedded default: a SQLite file, an in-process Redis
substitute (fakeredis) and Rasa's in-memory stores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def _async_database_url(url: str) -> str:
    """Accept the usual spellings (postgresql://, postgres://, sqlite:///) and pick async drivers."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"DATABASE_URL is not a URL: {url!r}")
    base = scheme.split("+", 1)[0]
    if base in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"DATABASE_URL: unsupported database {scheme!r} (use postgresql or sqlite)")


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    rasa_url: str
    actions_url: str
    services_url: str
    host: str
    port: int
    rasa_port: int
    actions_port: int
    log_level: str
    log_json: bool
    max_body_bytes: int
    rasa_timeout_s: float
    worker_interval_s: float
    model_dir: Path
    var_dir: Path
    cookie_secure: bool = False
    seed_demo_users: bool = False

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    @property
    def uses_real_servers(self) -> bool:
        return not self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("HOTLINE_VAR_DIR", ROOT / "var"))
        host = env.get("HOTLINE_HOST", "127.0.0.1")
        port = int(env.get("HOTLINE_PORT", "8000"))
        rasa_port = int(env.get("RASA_PORT", "5005"))
        actions_port = int(env.get("ACTIONS_PORT", "5055"))
        raw_db = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'hotline.db'}"
        return cls(
            database_url=_async_database_url(raw_db),
            redis_url=env.get("REDIS_URL") or None,
            rasa_url=env.get("RASA_URL", f"http://127.0.0.1:{rasa_port}").rstrip("/"),
            actions_url=env.get("ACTIONS_URL", f"http://127.0.0.1:{actions_port}").rstrip("/"),
            services_url=env.get("SERVICES_URL", f"http://{host}:{port}").rstrip("/"),
            host=host,
            port=port,
            rasa_port=rasa_port,
            actions_port=actions_port,
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            log_json=env.get("LOG_FORMAT", "json") == "json",
            max_body_bytes=int(env.get("MAX_BODY_BYTES", str(256 * 1024))),
            rasa_timeout_s=float(env.get("RASA_TIMEOUT_S", "30")),
            worker_interval_s=float(env.get("WORKER_INTERVAL_S", "30")),
            model_dir=Path(env.get("RASA_MODEL_DIR", ROOT / "models")),
            var_dir=var_dir,
            cookie_secure=env.get("COOKIE_SECURE", "false").lower() in ("1", "true", "yes"),
            seed_demo_users=env.get("HOTLINE_SEED_DEMO_USERS", "") == "1",
        )

    def database_parts(self) -> dict[str, str]:
        """Host/port/name/user/password of a PostgreSQL URL, for Rasa's SQL tracker store."""
        parts = urlsplit(self.database_url.replace("+asyncpg", ""))
        return {
            "DB_HOST": parts.hostname or "127.0.0.1",
            "DB_PORT": str(parts.port or 5432),
            "DB_NAME": parts.path.lstrip("/") or "postgres",
            "DB_USER": parts.username or "postgres",
            "DB_PASSWORD": parts.password or "",
        }

    def redis_parts(self) -> dict[str, str]:
        """Host/port/db of REDIS_URL, for Rasa's Redis lock store."""
        parts = urlsplit(self.redis_url or "redis://127.0.0.1:6379/0")
        return {
            "REDIS_HOST": parts.hostname or "127.0.0.1",
            "REDIS_PORT": str(parts.port or 6379),
            "REDIS_DB": (parts.path.lstrip("/") or "0"),
            "REDIS_PASSWORD": parts.password or "",
        }
