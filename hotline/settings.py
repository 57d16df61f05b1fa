"""Settings from environment variables (see the table in README.md).

No configuration means the embedded default: a SQLite file, an in-process Redis
substitute (fakeredis) and Rasa's in-memory stores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hotline.hours import Spans, parse_spans

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


# AGENT_HOURS=always (or 00:00-24:00): a desk staffed day and night, every day, holidays too.
ALWAYS = parse_spans("00:00-24:00", "AGENT_HOURS")


def _hours(spec: str) -> Spans:
    """"08:30-12:00,13:30-17:30" -> the spans of working days agents are on duty; "always"."""
    return ALWAYS if spec.strip().lower() == "always" else parse_spans(spec, "AGENT_HOURS")


@dataclass(frozen=True)
class ChannelSettings:
    """The channel settings of ARCHITECTURE.md §4.3 (names fixed) and a few of our own. A channel
    whose credentials are unset is disabled: its webhook answers 404."""

    public_base_url: str  # the URL providers call; Twilio signs it
    wechat_token: str | None = None
    wechat_appid: str | None = None
    wechat_secret: str | None = None
    wechat_aes_key: str | None = None  # set: safe mode (encrypt_type=aes)
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_original_id: str | None = None  # gh_…: messages to another account are refused
    wechat_subscribe_template: str | None = None  # 订阅通知 template id, outside the 48 h window
    wechat_window_h: float = 48
    wechat_window_quota: int = 5  # customer-service messages per citizen message
    wechat_passive_budget_s: float = 4.0  # WeChat drops the request after 5 s
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_sms_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    twilio_budget_s: float = 10.0  # Twilio drops a webhook after 15 s
    voice_agent_queue: str = "12349-agents"
    voice_agent_number: str | None = None  # set: <Dial> this number instead of <Enqueue>
    voice_say_voice: str = "Polly.Zhiyu"
    voice_say_language: str = "zh-CN"
    voice_gather_language: str = "cmn-Hans-CN"
    max_body_bytes: int = 64 * 1024
    agent_hours: Spans = (("08:30", "17:30"),)  # of working days; strings are parsed at start
    agent_expected_wait_min: int = 10

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token)

    @property
    def wechat_can_send(self) -> bool:
        return bool(self.wechat_appid and self.wechat_secret)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def sms_enabled(self) -> bool:
        return self.twilio_enabled and bool(self.twilio_sms_from)

    @classmethod
    def from_env(cls, env: dict[str, str], services_url: str) -> ChannelSettings:
        def opt(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        return cls(
            public_base_url=(opt("PUBLIC_BASE_URL") or services_url).rstrip("/"),
            wechat_token=opt("WECHAT_TOKEN"), wechat_appid=opt("WECHAT_APPID"),
            wechat_secret=opt("WECHAT_SECRET"), wechat_aes_key=opt("WECHAT_AES_KEY"),
            wechat_api_base=(opt("WECHAT_API_BASE") or cls.wechat_api_base).rstrip("/"),
            wechat_original_id=opt("WECHAT_ORIGINAL_ID"),
            wechat_subscribe_template=opt("WECHAT_SUBSCRIBE_TEMPLATE"),
            wechat_window_quota=int(env.get("WECHAT_WINDOW_QUOTA", "5")),
            wechat_passive_budget_s=float(env.get("WECHAT_PASSIVE_BUDGET_S", "4.0")),
            twilio_account_sid=opt("TWILIO_ACCOUNT_SID"), twilio_auth_token=opt("TWILIO_AUTH_TOKEN"),
            twilio_sms_from=opt("TWILIO_SMS_FROM"),
            twilio_api_base=(opt("TWILIO_API_BASE") or cls.twilio_api_base).rstrip("/"),
            twilio_budget_s=float(env.get("TWILIO_BUDGET_S", "10.0")),
            voice_agent_queue=opt("VOICE_AGENT_QUEUE") or cls.voice_agent_queue,
            voice_agent_number=opt("VOICE_AGENT_NUMBER"),
            voice_say_voice=opt("VOICE_SAY_VOICE") or cls.voice_say_voice,
            voice_say_language=opt("VOICE_SAY_LANGUAGE") or cls.voice_say_language,
            voice_gather_language=opt("VOICE_GATHER_LANGUAGE") or cls.voice_gather_language,
            max_body_bytes=int(env.get("CHANNEL_MAX_BODY_BYTES", str(64 * 1024))),
            agent_hours=_hours(env.get("AGENT_HOURS", "08:30-17:30")),
            agent_expected_wait_min=int(env.get("AGENT_EXPECTED_WAIT_MIN", "10")),
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "agent_hours", parse_spans(self.agent_hours, "AGENT_HOURS"))
        # The provider's deadline wins: an answer later than it is dropped and the request
        # retried (WeChat after 5 s, Twilio after 15 s), so the passive answer's budget must end
        # before, with room for the response to travel.
        for name, budget, deadline in (("WECHAT_PASSIVE_BUDGET_S", self.wechat_passive_budget_s, 5.0),
                                       ("TWILIO_BUDGET_S", self.twilio_budget_s, 15.0)):
            if not 0 < budget <= deadline - 0.5:
                raise ValueError(f"{name}={budget}: must be above 0 and at most {deadline - 0.5} s "
                                 f"(the provider gives up after {deadline:.0f} s)")


@dataclass(frozen=True)
class Retention:
    """How long personal data is kept (hotline/retention.py; README "What is kept")."""

    transcript_days: int = 180
    ticket_days: int = 3 * 365
    idempotency_days: int = 7
    audit_days: int = 3 * 365
    batch: int = 500

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Retention:
        values = {name: int(env[f"RETENTION_{name.upper()}"])
                  for name in ("transcript_days", "ticket_days", "idempotency_days", "audit_days")
                  if env.get(f"RETENTION_{name.upper()}")}
        for name, days in values.items():
            if days < 1:
                raise ValueError(f"RETENTION_{name.upper()} must be 1 or more days")
        return cls(**values)


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
    environment: str = "development"  # HOTLINE_ENV; "production" refuses insecure settings
    # The bot runtime's servers (bot/servers.py): where they listen and the tokens they require.
    bot_interface: str = "127.0.0.1"
    # Behind a reverse proxy: how many proxies append to X-Forwarded-For (or the header one sets
    # to the client's address), so limits and the audit log see the client, not the proxy.
    proxies_count: int = 0
    services_api_token: str | None = None  # internal routes (hotline/callers.py)
    real_ip_header: str | None = None
    rasa_token: str | None = None
    actions_token: str | None = None
    channels: ChannelSettings = ChannelSettings(public_base_url="http://127.0.0.1:8000")
    delivery_interval_s: float = 2.0
    delivery_max_attempts: int = 8
    desk_claim_timeout_min: float = 15.0  # of agent hours, before a call-back ticket is filed
    # Per-client requests a minute on the public routes (hotline/auth.py `public(limit=…)`).
    rate_limit_chat_per_min: int = 30
    rate_limit_read_per_min: int = 120
    retention: Retention = Retention()

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
        services_url = env.get("SERVICES_URL", f"http://{host}:{port}").rstrip("/")
        return cls(
            database_url=_async_database_url(raw_db),
            redis_url=env.get("REDIS_URL") or None,
            rasa_url=env.get("RASA_URL", f"http://127.0.0.1:{rasa_port}").rstrip("/"),
            actions_url=env.get("ACTIONS_URL", f"http://127.0.0.1:{actions_port}").rstrip("/"),
            services_url=services_url,
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
            environment=env.get("HOTLINE_ENV", "development").strip().lower(),
            bot_interface=env.get("BOT_INTERFACE", "127.0.0.1"),
            proxies_count=int(env.get("PROXIES_COUNT", "0")),
            services_api_token=env.get("SERVICES_API_TOKEN") or None,
            real_ip_header=env.get("REAL_IP_HEADER") or None,
            rasa_token=env.get("RASA_AUTH_TOKEN") or None,
            actions_token=env.get("ACTIONS_TOKEN") or None,
            channels=ChannelSettings.from_env(env, services_url),
            delivery_interval_s=float(env.get("DELIVERY_INTERVAL_S", "2")),
            delivery_max_attempts=int(env.get("DELIVERY_MAX_ATTEMPTS", "8")),
            desk_claim_timeout_min=float(env.get("DESK_CLAIM_TIMEOUT_MIN", "15")),
            rate_limit_chat_per_min=int(env.get("RATE_LIMIT_CHAT_PER_MIN", "30")),
            rate_limit_read_per_min=int(env.get("RATE_LIMIT_READ_PER_MIN", "120")),
            retention=Retention.from_env(env),
        )

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for HOTLINE_ENV=production (empty when fit)."""
        if self.environment != "production":
            return []
        checks = [
            (self.uses_real_servers, "DATABASE_URL must be a PostgreSQL URL (not the embedded SQLite)"),
            (not self.uses_real_servers or bool(urlsplit(self.database_url).password),
             "DATABASE_URL must carry a password"),
            (self.redis_url is not None, "REDIS_URL must be set (not the in-process fakeredis)"),
            (self.redis_url is None or bool(urlsplit(self.redis_url).password),
             "REDIS_URL must carry a password (redis://:PASSWORD@host:6379/0)"),
            (self.cookie_secure, "COOKIE_SECURE must be true (the console over HTTPS)"),
            (self.services_api_token is not None and len(self.services_api_token) >= 16,
             "SERVICES_API_TOKEN must be set (16 characters or more)"),
            (self.rasa_token is not None and len(self.rasa_token) >= 16,
             "RASA_AUTH_TOKEN must be set (16 characters or more)"),
            (not self.seed_demo_users, "HOTLINE_SEED_DEMO_USERS must be off"),
        ]
        return [problem for ok, problem in checks if not ok]

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
