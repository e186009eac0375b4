"""Bot pages in the knowledge center: overview (resolution, handoff reasons, feedback), 命中测试
(hit testing), the learning loop (unanswered questions → new entries or phrasings) and the
per-inbox bot settings (thresholds, texts, handoff keywords, business hours, holidays)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from kefu.bot import actions as bot_actions
from kefu.bot import queries as bot_queries
from kefu.bot.schemas import BotConfig
from kefu.core.calendar import WEEKDAYS
from kefu.core.errors import DomainError
from kefu.inbox import actions as inbox_actions
from kefu.inbox import queries as inbox_queries
from kefu.inbox.access import access_inbox
from kefu.inbox.schemas import InboxUpdate, WebchatSettings
from kefu.kb import actions as kb_actions
from kefu.web.deps import Auth, check_csrf, services
from kefu.web.i18n import Translator
from kefu.web.ui.render import (
    Form,
    error_page,
    field,
    fields,
    locale_of,
    page_gate,
    read_form,
    redirect,
    render,
    validation_message,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
NOTICES = frozenset({"saved", "learned"})


def _csrf(request: Request, auth: Auth, form: Form) -> bool:
    try:
        check_csrf(request, auth, field(form, "csrf_token"))
    except DomainError:
        return False
    return True


def _gate(request: Request, permission: str) -> tuple[Auth, str] | Response:
    return page_gate(request, permission)


def _page(request: Request, auth: Auth, locale: str, template: str, *, tab: str,
          status: int = 200, error: str | None = None, **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    key = request.query_params.get("notice")
    notice = t(f"bot.notice.{key}") if key in NOTICES and not error else None
    with services(request).uows(readonly=True) as uow:
        from kefu.accounts.queries import get_workspace

        ws = get_workspace(uow.session, auth.actor.workspace_id)
    return render(request, template, locale=locale, auth=auth, status=status, remember=remember,
                  section="kb", tab=tab, error=error, notice=notice,
                  workspace_name=ws.name if ws else "",
                  can_write=auth.actor.can("kb.write"),
                  can_manage=auth.actor.can("bot.manage"),
                  bot_inboxes=_inboxes(request, auth), **context)


def _inboxes(request: Request, auth: Auth) -> list[Any]:
    with services(request).uows(readonly=True) as uow:
        return list(inbox_queries.list_inboxes(uow.session, auth.actor))


# -- overview, hit testing, learning --------------------------------------------------------

@router.get("/app/bot")
def overview(request: Request) -> Response:
    gate = _gate(request, "kb.read")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    svc = services(request)
    inboxes = _inboxes(request, auth)
    inbox_id = request.query_params.get("inbox") or (inboxes[0].id if inboxes else "")
    q = (request.query_params.get("q") or "").strip()[:1000]
    try:
        days = min(max(int(request.query_params.get("days", "30")), 1), 366)
    except ValueError:
        days = 30
    result: dict[str, Any] | None = None
    error: str | None = None
    with svc.uows(readonly=True) as uow:
        now = uow.clock.now()
        stats = bot_queries.bot_stats(uow.session, auth.actor, svc.kb, now=now, days=days)
        clusters = bot_queries.unanswered_clusters(uow.session, auth.actor, svc.kb, now=now,
                                                   days=days)
        if q and inbox_id:
            try:
                result = bot_queries.hit_test(uow.session, auth.actor, svc.kb, inbox_id, q,
                                              now=now)
            except DomainError as exc:
                error = exc.message
        turns = bot_queries.list_turns(uow.session, auth.actor, limit=20)
    if error is None and request.query_params.get("error") == "learn":
        error = Translator(locale)("bot.error.learn")
    reasons = sorted(stats.handoff_reasons.items(), key=lambda kv: -kv[1])
    top_reason = max((n for _, n in reasons), default=0)
    return _page(request, auth, locale, "bot/overview.html", tab="bot", error=error,
                 stats=stats, reasons=reasons, top_reason=top_reason, clusters=clusters,
                 inboxes=inboxes, inbox_id=inbox_id, q=q, result=result, days=days,
                 turns=turns)


@router.post("/app/bot/learn")
async def learn(request: Request) -> Response:
    """One click from the learning loop: add unanswered questions as phrasings of an entry."""
    gate = _gate(request, "kb.write")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not _csrf(request, auth, form):
        t = Translator(locale)
        return error_page(request, locale=locale, auth=auth, status=403,
                          title_key="error.csrf.title", message=t("error.csrf.body"))
    entry_id = field(form, "entry_id")
    texts = [x for x in fields(form, "texts") if x.strip()]

    def run() -> str | None:
        try:
            with services(request).uows() as uow:
                kb_actions.do_add_phrasings(uow, auth.actor, entry_id, texts)
        except DomainError as exc:
            return exc.message
        return None

    problem = await run_in_threadpool(run)
    if problem:
        log.info("learning-loop phrasings refused: %s", problem)
        return redirect("/app/bot?error=learn")
    return redirect("/app/bot?notice=learned")


# -- per-inbox settings ---------------------------------------------------------------------

def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace("\r", "").split("\n") if x.strip()]


def _config_from_form(form: Form) -> dict[str, Any]:
    """The settings form as the dict BotConfig validates (every field is in the form)."""
    def num(name: str) -> Any:
        raw = field(form, name).strip()
        try:
            return float(raw) if "." in raw else int(raw)
        except ValueError:
            return raw  # BotConfig names the field

    weekly = {}
    for d in WEEKDAYS:
        spans = [s.strip() for s in field(form, f"hours_{d}").replace("，", ",").split(",")]
        if any(spans):
            weekly[d] = [s for s in spans if s]
    return {
        "name": field(form, "name").strip(),
        "greeting": field(form, "greeting").strip(),
        "answer_threshold": num("answer_threshold"),
        "clarify_threshold": num("clarify_threshold"),
        "max_misses": num("max_misses"),
        "suggest_count": num("suggest_count"),
        "clarify_text": field(form, "clarify_text").strip(),
        "fallback_text": field(form, "fallback_text").strip(),
        "handoff_text": field(form, "handoff_text").strip(),
        "handoff_keywords": _lines(field(form, "handoff_keywords")),
        "handoff_on_anger": field(form, "handoff_on_anger") == "on",
        "handoff_on_unhelpful": field(form, "handoff_on_unhelpful") == "on",
        "use_documents": field(form, "use_documents") == "on",
        "leave_message_text": field(form, "leave_message_text").strip(),
        "leave_message_thanks": field(form, "leave_message_thanks").strip(),
        "hours": {
            "enabled": field(form, "hours_enabled") == "on",
            "timezone": field(form, "timezone").strip() or "Asia/Shanghai",
            "weekly": weekly,
            "holidays": _lines(field(form, "holidays")),
            "workdays": _lines(field(form, "workdays")),
        },
    }


def _settings_page(request: Request, auth: Auth, locale: str, inbox_id: str, *,
                   config: BotConfig | None = None, raw: dict[str, Any] | None = None,
                   enabled: bool | None = None, status: int = 200,
                   error: str | None = None) -> Response:
    with services(request).uows(readonly=True) as uow:
        inbox = access_inbox(auth.actor, inbox_id, session=uow.session)
        saved = bot_queries.inbox_config(uow.session, auth.actor, inbox.id)
        inbox_name = inbox.name
        bot_on = bool((inbox.settings or {}).get("bot_enabled"))
    shown = raw if raw is not None else (config or saved).model_dump(mode="json")
    return _page(request, auth, locale, "bot/settings.html", tab=f"bot-{inbox_id}",
                 status=status, error=error, c=shown, inbox_id=inbox_id,
                 inbox_name=inbox_name, bot_on=bot_on if enabled is None else enabled,
                 weekdays=WEEKDAYS, inboxes=_inboxes(request, auth))


@router.get("/app/bot/inboxes/{inbox_id}")
def settings_page(inbox_id: str, request: Request) -> Response:
    gate = _gate(request, "kb.read")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        return _settings_page(request, auth, locale, inbox_id)
    except DomainError as exc:
        return error_page(request, locale=locale, auth=auth, status=exc.status,
                          title_key="error.404.title", message=exc.message)


@router.post("/app/bot/inboxes/{inbox_id}")
async def save_settings(inbox_id: str, request: Request) -> Response:
    gate = _gate(request, "bot.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    t = Translator(locale)
    form = await read_form(request)
    if not _csrf(request, auth, form):
        return error_page(request, locale=locale, auth=auth, status=403,
                          title_key="error.csrf.title", message=t("error.csrf.body"))
    raw = _config_from_form(form)
    enabled = field(form, "bot_enabled") == "on"

    def run() -> Response:
        try:
            with services(request).uows(readonly=True) as uow:
                access_inbox(auth.actor, inbox_id, session=uow.session)
                saved = bot_queries.inbox_config(uow.session, auth.actor, inbox_id)
        except DomainError as exc:  # another workspace's inbox is simply not there
            return error_page(request, locale=locale, auth=auth, status=exc.status,
                              title_key="error.404.title", message=exc.message)
        # the form shows only some settings: the others (猜你想问 rules, …) stay as saved
        stored = saved.model_dump(mode="json")
        merged = {**stored, **raw, "hours": {**stored["hours"], **raw["hours"]}}
        try:
            config = BotConfig.model_validate(merged)
        except ValidationError as exc:
            return _settings_page(request, auth, locale, inbox_id, raw=raw, enabled=enabled,
                                  status=422, error=validation_message(exc, t))
        try:
            with services(request).uows() as uow:
                inbox = access_inbox(auth.actor, inbox_id, session=uow.session)
                # switching the inbox's bot on or off is an inbox setting: admins only
                if auth.actor.can("admin.manage") and \
                        bool((inbox.settings or {}).get("bot_enabled")) != enabled:
                    settings = WebchatSettings.model_validate(
                        {**(inbox.settings or {}), "bot_enabled": enabled})
                    inbox_actions.do_update_inbox(uow, auth.actor, inbox.id,
                                                  InboxUpdate(settings=settings))
                bot_actions.do_update_config(uow, auth.actor, inbox.id, config)
        except DomainError as exc:
            return _settings_page(request, auth, locale, inbox_id, raw=raw, enabled=enabled,
                                  status=exc.status, error=exc.message)
        return redirect(f"/app/bot/inboxes/{inbox_id}?notice=saved")

    return await run_in_threadpool(run)

