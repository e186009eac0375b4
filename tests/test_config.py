"""Settings: one validated object from KEFU_* variables and .env; no default secret in
production."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from kefu.config import DEV_SECRET, Settings

LONG_SECRET = "k" * 16 + "-0123456789-abcdefghijklmnop"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No KEFU_* variables from the outside, and a working directory without a .env file."""
    for name in list(os.environ):
        if name.upper().startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_are_for_development(tmp_path: Path):
    s = Settings()
    assert s.env == "development"
    assert s.secret_key == DEV_SECRET
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.base_url == "http://127.0.0.1:8000"


def test_default_database_is_sqlite_under_data_dir(tmp_path: Path):
    s = Settings(data_dir=tmp_path / "data")
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'data' / 'kefu.db').resolve()}"
    rel = Settings()  # "var" relative to the working directory, made absolute
    assert rel.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'var' / 'kefu.db'}"


def test_explicit_database_url_wins(tmp_path: Path):
    url = "postgresql://kefu:kefu@127.0.0.1:5432/kefu"
    assert Settings(data_dir=tmp_path, database_url=url).resolved_database_url == url


def test_production_refuses_the_default_secret():
    with pytest.raises(ValidationError) as info:
        Settings(env="production")
    message = str(info.value)
    assert "KEFU_SECRET_KEY" in message
    assert "outside development" in message


def test_production_refuses_a_short_secret():
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(env="production", secret_key="s" * 31)


def test_production_accepts_a_long_secret():
    s = Settings(env="production", secret_key=LONG_SECRET)
    assert (s.env, s.secret_key) == ("production", LONG_SECRET)


def test_production_refusal_applies_to_environment_variables(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KEFU_ENV", "production")
    with pytest.raises(ValidationError, match="KEFU_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("KEFU_SECRET_KEY", LONG_SECRET)
    assert Settings().env == "production"


def test_kefu_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("KEFU_PORT", "9100")
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("KEFU_EMBEDDED_WORKER", "0")
    monkeypatch.setenv("KEFU_PUBLIC_URL", "https://kefu.example.com/")
    monkeypatch.setenv("kefu_default_locale", "en")  # case-insensitive names
    monkeypatch.setenv("PORT", "1234")  # unprefixed variables are ignored
    s = Settings()
    assert s.port == 9100
    assert s.data_dir == tmp_path / "d"
    assert s.embedded_worker is False
    assert s.default_locale == "en"
    assert s.base_url == "https://kefu.example.com"


def test_dotenv_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / ".env").write_text(
        "KEFU_LOGIN_MAX_FAILURES=3\nKEFU_SESSION_TTL_HOURS=48\nUNRELATED=1\n", encoding="utf-8")
    s = Settings()
    assert (s.login_max_failures, s.session_ttl_hours) == (3, 48)
    monkeypatch.setenv("KEFU_SESSION_TTL_HOURS", "6")
    assert Settings().session_ttl_hours == 6


@pytest.mark.parametrize(("name", "value"), [("KEFU_PORT", "0"), ("KEFU_PORT", "http"),
                                               ("KEFU_ENV", "staging"),
                                               ("KEFU_DEFAULT_LOCALE", "fr")])
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_production_cookies_are_secure_unless_explicitly_turned_off(
        monkeypatch: pytest.MonkeyPatch):
    assert Settings().secure_cookies is False  # plain-HTTP development
    assert Settings(env="production", secret_key=LONG_SECRET).secure_cookies is True
    monkeypatch.setenv("KEFU_SECURE_COOKIES", "0")
    assert Settings(env="production", secret_key=LONG_SECRET).secure_cookies is False
    monkeypatch.setenv("KEFU_SECURE_COOKIES", "1")
    assert Settings().secure_cookies is True


def test_every_environment_but_development_refuses_the_default_secret():
    with pytest.raises(ValidationError, match="KEFU_SECRET_KEY"):
        Settings(env="test", secret_key=DEV_SECRET)
    assert Settings(env="development", secret_key=DEV_SECRET).secret_key == DEV_SECRET
