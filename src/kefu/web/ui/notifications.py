"""The notification list page (``/app/notifications``): my notices, newest first, with
"mark all read" and per-notice read links. The bell in the top bar is
``static/notifications.js`` (unread count + live toasts)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kefu.accounts import notifications as notes
from kefu.accounts.queries import get_workspace
from kefu.core.errors import DomainError
from kefu.web.deps import check_csrf, services
from kefu.web.i18n import Translator
from kefu.web.ui.kb import fmt_dt
from kefu.web.ui.render import (
    error_page,
    field,
    locale_of,
    login_redirect,
    page_auth,
    read_form,
    redirect,
    render,
    safe_next,
)

router = APIRouter(include_in_schema=False)
PATH = "/app/notifications"


@router.get(PATH)
def notifications_page(request: Request) -> Response:
    auth = page_auth(request)
    if auth is None:
        return login_redirect(request)
    locale, remember = locale_of(request, auth)
    unread_only = request.query_params.get("unread") == "1"
    with services(request).uows(readonly=True) as uow:
        items = notes.list_notifications(uow, auth.actor, unread_only=unread_only, limit=200)
        unread = notes.unread_count(uow, auth.actor)
        ws = get_workspace(uow.session, auth.actor.workspace_id)
        tz = ws.timezone if ws is not None else "Asia/Shanghai"
    t = Translator(locale)
    notice = t("notifications.marked") if request.query_params.get("notice") == "read" \
        else None
    return render(request, "notifications.html", locale=locale, auth=auth, remember=remember,
                  section="notifications", items=items, unread=unread,
                  unread_only=unread_only, notice=notice, fmt_dt=lambda v: fmt_dt(v, tz))


@router.post(f"{PATH}/read")
async def mark_read(request: Request) -> Response:
    """Mark one notice (``id``) or all (no ``id``) read; then follow ``next`` if it is a local
    workspace address (opening a notice), else back to the list."""
    auth = page_auth(request)
    if auth is None:
        return login_redirect(request)
    locale, _ = locale_of(request, auth)
    form = await read_form(request)
    try:
        check_csrf(request, auth, field(form, "csrf_token"))
    except DomainError:
        t = Translator(locale)
        return error_page(request, locale=locale, auth=auth, status=403,
                          title_key="error.csrf.title", message=t("error.csrf.body"))
    note_id = field(form, "id") or None
    try:
        with services(request).uows() as uow:
            notes.do_mark_read(uow, auth.actor, [note_id] if note_id else None)
    except DomainError:
        pass  # already read (or not mine): nothing to do
    target = field(form, "next")
    if target:
        return redirect(safe_next(target))
    return redirect(f"{PATH}?notice=read")
