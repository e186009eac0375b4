"""Quality inspection pages: the live alert wallboard (``/app/qa/live``, ``qa.alerts``).

The page loads recent alerts over HTTP (``GET /api/v1/qa/alerts``), then listens on the agent
WebSocket for ``qa.alert`` frames (``static/qa_live.js``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kefu.accounts import queries as account_queries
from kefu.web.deps import services
from kefu.web.i18n import Translator
from kefu.web.ui.render import locale_of, page_gate, render

router = APIRouter(include_in_schema=False)


@router.get("/app/qa/live")
def wallboard(request: Request) -> Response:
    gate = page_gate(request, "qa.alerts")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    _, remember = locale_of(request, auth)
    with services(request).uows(readonly=True) as uow:
        ws = account_queries.get_workspace(uow.session, auth.actor.workspace_id)
    t = Translator(locale)
    boot = {"locale": locale, "me": {"id": auth.actor.user_id, "name": auth.actor.name},
            "strings": t.strings("qa_live.", "common.")}
    return render(request, "qa/live.html", locale=locale, auth=auth, remember=remember,
                  section="qa", boot=boot, workspace_name=ws.name if ws is not None else "")
