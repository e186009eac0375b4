"""Public help articles: the documents the bot quotes, readable by customers from the widget's
"查看原文" link. Only published documents of the inbox's own workspace are shown; anything
else is a plain 404 (the same for a wrong inbox, a draft or an id that never existed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from kefu.inbox.access import public_inbox
from kefu.kb.models import Document, Passage
from kefu.web.deps import services
from kefu.web.i18n import Translator
from kefu.web.ui.render import error_page, locale_of, render

router = APIRouter(include_in_schema=False)


@router.get("/help/{inbox_id}/articles/{document_id}")
def article(inbox_id: str, document_id: str, request: Request) -> Response:
    locale, _ = locale_of(request)
    with services(request).uows(readonly=True) as uow:
        from kefu.core.errors import NotFound

        try:
            inbox = public_inbox(inbox_id, session=uow.session)
        except NotFound:
            inbox = None
        doc = uow.session.get(Document, document_id) if inbox is not None else None
        if inbox is None or doc is None or doc.workspace_id != inbox.workspace_id \
                or doc.status != "published":
            t = Translator(locale)
            return error_page(request, locale=locale, auth=None, status=404,
                              title_key="error.404.title", message=t("help.not_found"))
        passages = list(uow.session.scalars(select(Passage).where(
            Passage.document_id == doc.id).order_by(Passage.ordinal)))
        sections: list[tuple[str, list[str]]] = []
        for p in passages:
            if not sections or (p.heading and p.heading != sections[-1][0]):
                sections.append((p.heading, []))
            sections[-1][1].append(p.text)
        return render(request, "help_article.html", locale=locale, title=doc.title,
                      inbox_name=inbox.name, sections=sections, updated_at=doc.updated_at)
