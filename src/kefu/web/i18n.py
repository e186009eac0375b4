"""UI text in zh-CN and en, and how a request's locale is chosen.

Catalogs are flat JSON files (``{"key": "text with {param}"}``): ``web/locales/<locale>.json``
plus one fragment per subsystem in ``web/locales/<locale>/*.json`` (e.g. ``zh-CN/qa.json``),
merged; a key defined twice is an error. Both locales carry the same keys. The locale of a
page is, in order: ``?lang=`` (then remembered
in the ``kefu_lang`` cookie), the cookie, the user's own ``locale``, the browser's
``Accept-Language``, and finally zh-CN.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import HTTPConnection

SUPPORTED: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
LANG_COOKIE = "kefu_lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
LOCALES_DIR = Path(__file__).parent / "locales"


def normalise(tag: str | None) -> str | None:
    """Map a language tag (``zh``, ``zh_cn``, ``zh-Hans-CN``, ``en-GB`` …) to a supported one."""
    if not tag:
        return None
    low = tag.strip().replace("_", "-").lower()
    if not low:
        return None
    primary = low.split("-", 1)[0]
    if primary == "zh":
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best supported locale of an ``Accept-Language`` header (by q value, then order)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        locale = normalise(tag)
        if locale is not None and quality > 0:
            ranked.append((-quality, index, locale))
    return min(ranked)[2] if ranked else None


def negotiate(*, query: str | None, cookie: str | None, user_locale: str | None,
              accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    for candidate in (normalise(query), normalise(cookie), normalise(user_locale),
                      from_accept_language(accept_language)):
        if candidate is not None:
            return candidate
    return default


@dataclass(frozen=True)
class LocaleChoice:
    locale: str
    #: set when ``?lang=`` picked a locale: the value to remember in the cookie
    remember: str | None = None


def choose_locale(conn: HTTPConnection, user_locale: str | None = None) -> LocaleChoice:
    query = normalise(conn.query_params.get("lang"))
    locale = negotiate(query=query, cookie=conn.cookies.get(LANG_COOKIE),
                       user_locale=user_locale,
                       accept_language=conn.headers.get("accept-language"),
                       default=conn.app.state.services.settings.default_locale)
    remember = query if query is not None and query != conn.cookies.get(LANG_COOKIE) else None
    return LocaleChoice(locale=locale, remember=remember)


@cache
def catalog(locale: str) -> dict[str, str]:
    """The strings of one locale (read once per process)."""
    if locale not in SUPPORTED:
        locale = DEFAULT_LOCALE
    merged: dict[str, str] = {}
    for path in (LOCALES_DIR / f"{locale}.json", *sorted((LOCALES_DIR / locale).glob("*.json"))):
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError(f"locale catalog {path.name} is not a JSON object")
        twice = sorted(set(raw) & set(merged))
        if twice:
            raise ValueError(f"locale catalog {path}: keys defined twice: {', '.join(twice[:5])}")
        merged.update({str(k): str(v) for k, v in raw.items()})
    return merged


def translate(locale: str, key: str, **params: object) -> str:
    """The text for ``key``; falls back to the other catalog, then to the key itself."""
    text = catalog(locale).get(key)
    if text is None:
        text = catalog(DEFAULT_LOCALE).get(key) or catalog("en").get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def localize_message(message: str, locale: str) -> str:
    """Pick one half of a bilingual domain message ``"中文 / English"``."""
    parts = message.split(" / ")
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        return message
    return parts[1].strip() if locale == "en" else parts[0].strip()


class Translator:
    """``t("key", name=...)`` bound to one locale, for templates."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def __call__(self, key: str, **params: object) -> str:
        return translate(self.locale, key, **params)

    def message(self, message: str) -> str:
        return localize_message(message, self.locale)

    def strings(self, *prefixes: str) -> dict[str, str]:
        """The catalog entries whose keys start with one of ``prefixes`` (for page JS)."""
        items = catalog(self.locale)
        return {k: v for k, v in items.items() if k.startswith(prefixes)}
