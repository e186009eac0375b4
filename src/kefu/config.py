"""One validated Settings object, read from ``KEFU_*`` environment variables and ``.env``."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - refused outside development


class Settings(BaseSettings):
    """Everything configurable about a kefu process."""

    model_config = SettingsConfigDict(
        env_prefix="KEFU_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = DEV_SECRET
    public_url: str = ""
    default_locale: Literal["zh-CN", "en"] = "zh-CN"
    #: run the job runner and scheduler inside the web process (embedded mode)
    embedded_worker: bool = True
    #: cap on request bodies (messages themselves are capped at 4,000 characters)
    max_body_bytes: int = 256 * 1024
    #: login rate limit: failures allowed per window, per (email, client address)
    login_max_failures: int = 5
    login_window_seconds: int = 900
    session_ttl_hours: int = 12
    #: cookies carry the Secure flag; off by default for plain-HTTP development, on by
    #: default in production (set KEFU_SECURE_COOKIES=0 there only behind plain HTTP)
    secure_cookies: bool = False
    db_echo: bool = False
    #: optional dense sentence encoder for the bot's matching: a local directory holding a
    #: sentence-transformers / Hugging Face model (nothing is downloaded). Empty = lexical
    #: matching only. Needs `pip install 'kefu[dense]'`; see docs/subsystems/matching.md
    bot_encoder_path: str = ""
    #: outgoing e-mail (reminders, notices, public replies to e-mail tickets, verification
    #: links). Empty host: nothing is sent (the job logs it and finishes).
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    #: "none" | "starttls" | "ssl"
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    mail_from: str = "kefu@localhost"
    smtp_timeout_seconds: float = 10.0

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "development" and self.secret_key == DEV_SECRET:
            raise ValueError(
                "KEFU_SECRET_KEY must be set to a private random value outside development "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.env == "production" and len(self.secret_key) < 32:
            raise ValueError("KEFU_SECRET_KEY must be at least 32 characters long")
        if self.env == "production" and "secure_cookies" not in self.model_fields_set:
            self.secure_cookies = True
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kefu.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"
