"""Tenant isolation: workspace B never learns that workspace A's objects exist.

The routes are read from the app itself. Every route with a path parameter must either have an
entry in ``ID_ROUTES`` (how to call it) or in ``EXEMPT`` (why it is not workspace-scoped), so a
new route with an id cannot be forgotten. For each covered route, B's people get exactly the
answer they get for an id that never existed (404 for B's admin), and A's object is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.routing import BaseRoute, Mount

from kefu.accounts import actions as account_actions
from kefu.accounts.models import ApiToken, Team, User
from kefu.accounts.schemas import TeamCreate
from kefu.contacts.models import Contact
from kefu.core.ids import new_id
from kefu.inbox.models import Conversation, Inbox, Message
from kefu.kb import actions as kb_actions
from kefu.kb.documents import do_import_document
from kefu.kb.models import Category, Document, FaqEntry, Passage, SmallTalk, Synonym
from kefu.kb.schemas import CategoryCreate, EntryCreate, SmallTalkCreate, SynonymCreate
from kefu.qa import manage as qa_manage
from kefu.qa import review as qa_review
from kefu.qa.models import (
    QaAlert,
    QaAppeal,
    QaHit,
    QaInspection,
    QaRule,
    QaScorecard,
    QaWordPack,
)
from tests.conftest import customer_says, login
from tests.qa.test_review import make_inspection

# -- the app's routes ---------------------------------------------------------------------


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    params: frozenset[str]
    in_schema: bool
    route: BaseRoute  # the route object as declared (APIRoute, WebSocketRoute, Mount…)


def all_routes(app: Any) -> list[RouteInfo]:
    """Every route of ``app``, with routers that FastAPI includes lazily flattened."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazy inclusion: app.routes is already flat
        contexts: list[Any] = list(app.routes)
        originals = contexts
    else:
        contexts = list(iter_route_contexts(app.routes))
        originals = [c.original_route for c in contexts]
    out = []
    for ctx, original in zip(contexts, originals, strict=True):
        path = ctx.path
        if isinstance(original, Mount):
            path = path.rstrip("/") + "/{path:path}"
        out.append(RouteInfo(
            path=path,
            methods=frozenset(getattr(ctx, "methods", None) or {"WEBSOCKET"}),
            params=frozenset(re.findall(r"{(\w+)(?::\w+)?}", path)),
            in_schema=bool(getattr(ctx, "include_in_schema", False)),
            route=original))
    return out


# -- how to call each route that takes an id ----------------------------------------------

Body = Callable[["Ctx"], tuple[str, Any]]  # -> ("json" | "form" | "none", payload)


def js(payload: Any) -> Body:
    return lambda _ctx: ("json", payload)


def form(payload: dict[str, Any]) -> Body:
    return lambda _ctx: ("form", payload)


NONE: Body = lambda _ctx: ("none", None)  # noqa: E731

ID_ROUTES: dict[tuple[str, str], Body] = {
    ("GET", "/api/v1/users/{user_id}"): NONE,
    ("PATCH", "/api/v1/users/{user_id}"): js({"name": "hijacked"}),
    ("GET", "/api/v1/teams/{team_id}"): NONE,
    ("PATCH", "/api/v1/teams/{team_id}"): js({"name": "hijacked", "member_ids": []}),
    ("DELETE", "/api/v1/teams/{team_id}"): NONE,
    ("GET", "/api/v1/inboxes/{inbox_id}"): NONE,
    ("PATCH", "/api/v1/inboxes/{inbox_id}"): js({"name": "hijacked", "is_active": False}),
    ("POST", "/api/v1/inboxes/{inbox_id}/rotate-secret"): NONE,
    ("GET", "/api/v1/contacts/{contact_id}"): NONE,
    ("PATCH", "/api/v1/contacts/{contact_id}"): js({"name": "hijacked"}),
    ("GET", "/api/v1/conversations/{conversation_id}"): NONE,
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): NONE,
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): js({"content": "hijacked"}),
    ("POST", "/api/v1/conversations/{conversation_id}/notes"): js({"content": "hijacked"}),
    ("POST", "/api/v1/conversations/{conversation_id}/assign"):
        lambda ctx: ("json", {"assignee_id": ctx.b_user_id}),
    ("POST", "/api/v1/conversations/{conversation_id}/status"): js({"status": "resolved"}),
    ("POST", "/api/v1/conversations/{conversation_id}/priority"): js({"priority": "urgent"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): NONE,
    # the admin pages (HTML forms)
    ("POST", "/app/admin/users/{user_id}"): form({"name": "hijacked", "is_active": "0"}),
    ("POST", "/app/admin/users/{user_id}/password"): form({"password": "hijacked-password"}),
    ("POST", "/app/admin/teams/{team_id}"): form({"name": "hijacked"}),
    ("POST", "/app/admin/teams/{team_id}/delete"): form({}),
    ("POST", "/app/admin/inboxes/{inbox_id}"): form({"name": "hijacked", "is_active": "0"}),
    ("POST", "/app/admin/inboxes/{inbox_id}/rotate-secret"): form({}),
    # the bot
    ("GET", "/api/v1/inboxes/{inbox_id}/bot"): NONE,
    ("PUT", "/api/v1/inboxes/{inbox_id}/bot"): js({"name": "hijacked"}),
    ("GET", "/app/bot/inboxes/{inbox_id}"): NONE,
    ("POST", "/app/bot/inboxes/{inbox_id}"): form({"name": "hijacked", "answer_threshold": "0.5",
                                                  "clarify_threshold": "0.3", "max_misses": "2",
                                                  "suggest_count": "3"}),
    # the knowledge center (API)
    ("GET", "/api/v1/kb/entries/{entry_id}"): NONE,
    ("PATCH", "/api/v1/kb/entries/{entry_id}"): js({"answer": "hijacked"}),
    ("DELETE", "/api/v1/kb/entries/{entry_id}"): NONE,
    ("GET", "/api/v1/kb/entries/{entry_id}/versions"): NONE,
    ("GET", "/api/v1/kb/entries/{entry_id}/diff"): NONE,
    ("POST", "/api/v1/kb/entries/{entry_id}/rollback"): js({"version": 1}),
    ("POST", "/api/v1/kb/entries/{entry_id}/phrasings"): js({"texts": ["hijacked"]}),
    ("PATCH", "/api/v1/kb/categories/{category_id}"): js({"name": "hijacked"}),
    ("DELETE", "/api/v1/kb/categories/{category_id}"): NONE,
    ("DELETE", "/api/v1/kb/synonyms/{synonym_id}"): NONE,
    ("PUT", "/api/v1/kb/smalltalk/{smalltalk_id}"):
        js({"phrasings": ["hijacked"], "reply": "hijacked"}),
    ("DELETE", "/api/v1/kb/smalltalk/{smalltalk_id}"): NONE,
    # the knowledge center (pages)
    ("GET", "/app/kb/entries/{entry_id}"): NONE,
    ("GET", "/app/kb/entries/{entry_id}/edit"): NONE,
    ("POST", "/app/kb/entries/{entry_id}"): form({"question": "hijacked", "answer": "x"}),
    ("POST", "/app/kb/entries/{entry_id}/delete"): form({}),
    ("POST", "/app/kb/entries/{entry_id}/rollback"): form({"version": "1"}),
    ("POST", "/app/kb/categories/{category_id}"): form({"name": "hijacked"}),
    ("POST", "/app/kb/categories/{category_id}/delete"): form({}),
    ("POST", "/app/kb/synonyms/{synonym_id}/delete"): form({}),
    ("POST", "/app/kb/smalltalk/{smalltalk_id}"):
        form({"phrasings": "hijacked", "reply": "hijacked"}),
    ("POST", "/app/kb/smalltalk/{smalltalk_id}/delete"): form({}),
    # knowledge documents (API and pages)
    ("GET", "/api/v1/kb/documents/{document_id}"): NONE,
    ("DELETE", "/api/v1/kb/documents/{document_id}"): NONE,
    ("GET", "/app/kb/documents/{document_id}"): NONE,
    ("POST", "/app/kb/documents/{document_id}/delete"): form({}),
    # quality inspection: rules, word packs, scorecards (API and pages)
    ("GET", "/api/v1/qa/rules/{rule_id}"): NONE,
    ("PATCH", "/api/v1/qa/rules/{rule_id}"): js({"name": "hijacked"}),
    ("DELETE", "/api/v1/qa/rules/{rule_id}"): NONE,
    ("GET", "/api/v1/qa/rules/{rule_id}/versions"): NONE,
    ("POST", "/api/v1/qa/rules/{rule_id}/versions/{version}/restore"): NONE,
    ("GET", "/api/v1/qa/packs/{pack_id}"): NONE,
    ("PATCH", "/api/v1/qa/packs/{pack_id}"): js({"terms": ["hijacked"]}),
    ("DELETE", "/api/v1/qa/packs/{pack_id}"): NONE,
    ("GET", "/api/v1/qa/scorecards/{scorecard_id}"): NONE,
    ("PATCH", "/api/v1/qa/scorecards/{scorecard_id}"): js({"name": "hijacked"}),
    ("DELETE", "/api/v1/qa/scorecards/{scorecard_id}"): NONE,
    ("GET", "/app/qa/rules/{rule_id}"): NONE,
    ("POST", "/app/qa/rules/{rule_id}"): form({"name": "hijacked"}),
    ("POST", "/app/qa/rules/{rule_id}/toggle"): form({}),
    ("POST", "/app/qa/rules/{rule_id}/delete"): form({}),
    ("POST", "/app/qa/rules/{rule_id}/versions/{version}/restore"): form({}),
    ("GET", "/app/qa/packs/{pack_id}"): NONE,
    ("POST", "/app/qa/packs/{pack_id}"): form({"name": "hijacked", "terms": "hijacked"}),
    ("POST", "/app/qa/packs/{pack_id}/delete"): form({}),
    ("GET", "/app/qa/scorecards/{card_id}"): NONE,
    ("POST", "/app/qa/scorecards/{card_id}"): form({"name": "hijacked", "base": "100"}),
    ("POST", "/app/qa/scorecards/{card_id}/delete"): form({}),
    # quality inspection: results, review, appeals, live alerts, the pre-send check
    ("GET", "/api/v1/qa/inspections/{inspection_id}"): NONE,
    ("POST", "/api/v1/qa/hits/{hit_id}/review"):
        js({"decision": "overruled", "comment": "hijacked"}),
    ("POST", "/api/v1/qa/inspections/{inspection_id}/finish-review"): js({"comment": "hijacked"}),
    ("POST", "/api/v1/qa/inspections/{inspection_id}/appeals"): js({"reason": "hijacked"}),
    ("POST", "/api/v1/qa/appeals/{appeal_id}/decide"): js({"accept": True, "comment": "hijacked"}),
    ("GET", "/app/qa/inspections/{inspection_id}"): NONE,
    ("POST", "/app/qa/hits/{hit_id}/review"):
        form({"decision": "overruled", "comment": "hijacked"}),
    ("POST", "/app/qa/inspections/{inspection_id}/finish-review"): form({"comment": "hijacked"}),
    ("POST", "/app/qa/inspections/{inspection_id}/appeals"): form({"reason": "hijacked"}),
    ("POST", "/app/qa/appeals/{appeal_id}/decide"): form({"accept": "1", "comment": "hijacked"}),
    ("POST", "/api/v1/qa/alerts/{alert_id}/ack"): NONE,
    ("POST", "/api/v1/conversations/{conversation_id}/qa-check"): js({"text": "hijacked"}),
    # tickets (API)
    ("GET", "/api/v1/tickets/{ticket_id}"): NONE,
    ("PATCH", "/api/v1/tickets/{ticket_id}"): js({"status": "closed", "priority": "P1"}),
    ("POST", "/api/v1/tickets/{ticket_id}/replies"): js({"body": "hijacked", "public": True}),
    ("POST", "/api/v1/tickets/{ticket_id}/watchers"):
        lambda ctx: ("json", {"user_id": ctx.b_user_id}),
    ("DELETE", "/api/v1/tickets/{ticket_id}/watchers"): NONE,
    ("POST", "/api/v1/tickets/{ticket_id}/links"):
        lambda ctx: ("json", {"other_id": ctx.a_ids["other_id"]}),
    ("DELETE", "/api/v1/tickets/{ticket_id}/links/{other_id}"): NONE,
    ("POST", "/api/v1/tickets/{ticket_id}/merge"):
        lambda ctx: ("json", {"target_id": ctx.a_ids["other_id"]}),
    ("POST", "/api/v1/tickets/{ticket_id}/split"):
        js({"subject": "hijacked", "body": "hijacked"}),
    ("POST", "/api/v1/tickets/{ticket_id}/children"): js({"subject": "hijacked"}),
    ("GET", "/api/v1/tickets/{ticket_id}/files/{file_id}"): NONE,
    ("POST", "/api/v1/conversations/{conversation_id}/ticket"): js({"subject": "hijacked"}),
    # tickets (pages)
    ("GET", "/app/tickets/{ticket_id:tid}"): NONE,
    ("POST", "/app/tickets/{ticket_id:tid}/update"): form({"status": "closed"}),
    ("POST", "/app/tickets/{ticket_id:tid}/reply"): form({"body": "hijacked", "mode": "reply"}),
    ("POST", "/app/tickets/{ticket_id:tid}/watchers"): form({"op": "watch"}),
    ("POST", "/app/tickets/{ticket_id:tid}/links"): form({"number": "1"}),
    ("POST", "/app/tickets/{ticket_id:tid}/merge"): form({"number": "1"}),
    ("POST", "/app/tickets/{ticket_id:tid}/split"): form({"subject": "hijacked"}),
    ("POST", "/app/tickets/{ticket_id:tid}/children"): form({"subject": "hijacked"}),
    # ticket templates
    ("GET", "/api/v1/ticket-templates/{template_id}"): NONE,
    ("PATCH", "/api/v1/ticket-templates/{template_id}"): js({"name": "hijacked"}),
    ("DELETE", "/api/v1/ticket-templates/{template_id}"): NONE,
    ("GET", "/app/tickets/templates/{template_id}"): NONE,
    ("POST", "/app/tickets/templates/{template_id}"):
        form({"name": "hijacked", "rows": "0", "default_priority": "P1", "is_active": "0"}),
    ("POST", "/app/tickets/templates/{template_id}/delete"): form({}),
    # SLA: calendars, policies, team settings
    ("GET", "/api/v1/sla/calendars/{calendar_id}"): NONE,
    ("PUT", "/api/v1/sla/calendars/{calendar_id}"):
        js({"name": "hijacked", "timezone": "UTC", "weekly": {"mon": "09:00-10:00"}}),
    ("DELETE", "/api/v1/sla/calendars/{calendar_id}"): NONE,
    ("GET", "/api/v1/sla/policies/{policy_id}"): NONE,
    ("PUT", "/api/v1/sla/policies/{policy_id}"): js({"name": "hijacked"}),
    ("DELETE", "/api/v1/sla/policies/{policy_id}"): NONE,
    ("PUT", "/api/v1/sla/teams/{team_id}"): js({"assignment": "round_robin"}),
    ("GET", "/app/tickets/settings/calendars/{calendar_id}"): NONE,
    ("POST", "/app/tickets/settings/calendars/{calendar_id}"):
        form({"name": "hijacked", "timezone": "UTC", "weekly.mon": "09:00-10:00"}),
    ("POST", "/app/tickets/settings/calendars/{calendar_id}/delete"): form({}),
    ("GET", "/app/tickets/settings/policies/{policy_id}"): NONE,
    ("POST", "/app/tickets/settings/policies/{policy_id}"):
        form({"name": "hijacked", "is_active": "1"}),
    ("POST", "/app/tickets/settings/policies/{policy_id}/delete"): form({}),
    ("POST", "/app/tickets/settings/policies/{policy_id}/move"): form({"direction": "up"}),
    # ticket automation
    ("GET", "/api/v1/ticket-triggers/{trigger_id}"): NONE,
    ("GET", "/api/v1/ticket-triggers/{trigger_id}/preview"): NONE,
    ("PATCH", "/api/v1/ticket-triggers/{trigger_id}"): js({"name": "hijacked",
                                                           "is_active": False}),
    ("DELETE", "/api/v1/ticket-triggers/{trigger_id}"): NONE,
    ("GET", "/app/tickets/automation/{trigger_id}"): NONE,
    ("POST", "/app/tickets/automation/{trigger_id}"):
        form({"name": "hijacked", "event": "create", "conditions": "[]", "actions": "[]"}),
    ("POST", "/app/tickets/automation/{trigger_id}/toggle"): form({}),
    ("POST", "/app/tickets/automation/{trigger_id}/delete"): form({}),
}

#: routes with a path parameter that is not a workspace object, and why
EXEMPT: dict[str, str] = {
    "/api/v1/webchat/{inbox_id}/": "public widget API: the inbox id is published on host "
                                   "sites; visitors are scoped by their visitor token",
    "/static/{path:path}": "static files",
    "/help/{inbox_id}/articles/": "public help articles quoted by the bot: only published "
                                  "documents of the inbox's own workspace (tests/web/test_help.py)",
    "/portal/t/": "public customer portal: access by a signed token (ticket + contact), "
                  "tests/tickets/test_intake_portal.py",
    "/support/": "public self-service form by workspace slug; verification by a random token "
                 "whose hash is stored, tests/tickets/test_intake_portal.py",
}


def _exempt(path: str) -> bool:
    return any(path.startswith(prefix) for prefix in EXEMPT)


# -- workspace A's objects ----------------------------------------------------------------


@dataclass
class Ctx:
    a_ids: dict[str, str]  # path parameter -> A's object id
    b_user_id: str
    b_team_id: str
    a_conversation: str
    a_token: str


@pytest.fixture
def ctx(svc, uows, world) -> Ctx:
    svc.kb.uows = uows  # the knowledge index reads through the test's transaction
    with uows() as uow:
        team = account_actions.do_create_team(uow, world.admin_wang, TeamCreate(
            name="A售后组", member_ids=[world.agent_li.user_id]))
        b_team = account_actions.do_create_team(uow, world.admin_b, TeamCreate(name="B team"))
        token_row, token = account_actions.do_create_api_token(uow, world.admin_wang,
                                                               name="A token")
        ids = (team.id, b_team.id, token_row.id)
        category = kb_actions.do_create_category(uow, world.admin_wang,
                                                 CategoryCreate(name="A的售后分类"))
        entry = kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="A的退货政策", answer="A的退货答案", category_id=category.id,
            status="published"))
        synonym = kb_actions.do_create_synonym(uow, world.admin_wang,
                                               SynonymCreate(terms=["A快递", "A物流"]))
        smalltalk = kb_actions.do_create_smalltalk(uow, world.admin_wang, SmallTalkCreate(
            phrasings=["A你好"], reply="A的寒暄回复"))
        document = do_import_document(uow, world.admin_wang, filename="A的指南.md",
                                      data="# A的文档标题\n\nA的文档段落。".encode())
        kb_ids = {"entry_id": entry.id, "category_id": category.id,
                  "synonym_id": synonym.id, "smalltalk_id": smalltalk.id,
                  "document_id": document.id}
    conv_id, contact_id = customer_says(uows, world.inbox_a, "我的订单还没到", visitor="a-buyer")
    qa_ids = _qa_objects(uows, world, conv_id)
    ticket_ids = _ticket_objects(uows, world, conv_id, contact_id, ids[0])
    return Ctx(a_ids={**ticket_ids, "user_id": world.agent_li.user_id, "team_id": ids[0],
                      "inbox_id": world.inbox_a, "contact_id": contact_id,
                      "conversation_id": conv_id, "token_id": ids[2], **kb_ids, **qa_ids},
               b_user_id=world.agent_b.user_id, b_team_id=ids[1], a_conversation=conv_id,
               a_token=token)


def _qa_objects(uows, world, conv_id: str) -> dict[str, str]:
    """A's rule, word pack, scorecard, an inspection with hits and an open appeal, an alert."""
    with uows() as uow:
        rule = qa_manage.do_create_rule(uow, world.admin_wang, key="a_rule", name="A的规则",
                                        definition={"kind": "keyword", "terms": ["A词"]})
        pack = qa_manage.do_create_pack(uow, world.admin_wang, name="a_pack", terms=["A包"])
        card = qa_manage.do_create_scorecard(uow, world.admin_wang,
                                             qa_manage.ScorecardInput(name="A的评分表"))
        ids = {"rule_id": rule.id, "version": "1", "pack_id": pack.id,
               "scorecard_id": card.id, "card_id": card.id}
    made = make_inspection(uows, world, visitor="a-qa")
    with uows() as uow:
        appeal = qa_review.appeal(uow, world.agent_li, made.inspection_id, "A的申诉",
                                  hit_id=made.promise_hit)
        alert = QaAlert(id=new_id(), workspace_id=world.ws_a, conversation_id=conv_id,
                        message_id=new_id(), rule_key="a_rule", rule_name="A的规则",
                        kind="keyword", reason="alert", sender_type="agent", excerpt="A词",
                        spans=[[0, 2]], created_at=uow.clock.now())
        uow.session.add(alert)
        ids |= {"inspection_id": made.inspection_id, "hit_id": made.best_hit,
                "appeal_id": appeal.id, "alert_id": alert.id}
    return ids


def _ticket_objects(uows, world, conv_id: str, contact_id: str, team_id: str) -> dict[str, str]:
    """A's tickets (one linked to another, with a file), template, SLA calendar and policy,
    automation trigger."""
    from kefu.tickets import actions as t_actions
    from kefu.tickets import automation, files, policies, relations
    from kefu.tickets import templates as t_templates
    from kefu.tickets.schemas import TicketCreate

    admin = world.admin_wang
    with uows() as uow:
        template = t_templates.do_create_template(uow, admin, t_templates.TemplateCreate(
            name="A的模板", fields=[{"key": "order_no", "label": "订单号", "type": "text"}]))
        ticket = t_actions.do_create_ticket(uow, admin, workspace_id=world.ws_a, data=TicketCreate(
            subject="A的工单", description="A的问题", contact_id=contact_id,
            conversation_id=conv_id, template_id=template.id, team_id=team_id,
            assignee_id=world.agent_li.user_id), source="agent")
        other = t_actions.do_create_ticket(uow, admin, workspace_id=world.ws_a, data=TicketCreate(
            subject="A的另一个工单"), source="agent")
        relations.do_link(uow, admin, ticket.id, other.id)
        file = files.do_store_file(uow, workspace_id=world.ws_a, name="a.txt",
                                   content_type="text/plain", data=b"A's file",
                                   uploaded_by=admin.user_id, ticket_id=ticket.id)
        calendar = policies.do_create_calendar(uow, admin, name="A的日历",
                                               timezone="Asia/Shanghai",
                                               weekly={"mon": "09:00-18:00"})
        policy = policies.do_create_policy(uow, admin, {
            "name": "A的策略", "calendar_id": calendar.id,
            "targets": {"P1": {"first_response": 30}}})
        trigger = automation.do_create_trigger(uow, admin, automation.TriggerIn(
            name="A的触发器", event="create",
            conditions=[{"field": "priority", "op": "is", "value": "P1"}],
            actions=[{"type": "add_tag", "tag": "A"}]))
        return {"ticket_id": ticket.id, "other_id": other.id, "file_id": file.id,
                "template_id": template.id, "calendar_id": calendar.id,
                "policy_id": policy.id, "trigger_id": trigger.id}


def _ticket_snapshot(s: Any, ids: dict[str, str]) -> dict[str, Any]:
    from kefu.tickets.models import (
        BusinessCalendarRow,
        SlaPolicy,
        Ticket,
        TicketEvent,
        TicketLink,
        TicketTeamSettings,
        TicketTemplate,
        TicketTrigger,
        TicketWatcher,
    )

    def count(model: Any, *where: Any) -> int:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)))

    return {
        "ticket": _row(s, Ticket, ids["ticket_id"], "status", "priority", "subject",
                       "assignee_id", "merged_into_id", "last_seq", "tags"),
        "other": _row(s, Ticket, ids["other_id"], "status", "merged_into_id", "last_seq"),
        "ticket_events": count(TicketEvent, TicketEvent.ticket_id == ids["ticket_id"]),
        "tickets": count(Ticket),
        "ticket_watchers": count(TicketWatcher),
        "ticket_links": count(TicketLink),
        "template": _row(s, TicketTemplate, ids["template_id"], "name", "is_active",
                         "default_priority", "fields"),
        "calendar": _row(s, BusinessCalendarRow, ids["calendar_id"], "name", "timezone",
                         "weekly"),
        "policy": _row(s, SlaPolicy, ids["policy_id"], "name", "position", "targets",
                       "is_active"),
        "team_settings": count(TicketTeamSettings),
        "trigger": _row(s, TicketTrigger, ids["trigger_id"], "name", "is_active",
                        "conditions"),
    }


def _snapshot(uows, ctx: Ctx) -> dict[str, Any]:
    """Everything about A's objects that a leaked write could change."""
    ids = ctx.a_ids
    with uows(readonly=True) as uow:
        s = uow.session
        user = s.get(User, ids["user_id"])
        team = s.get(Team, ids["team_id"])
        inbox = s.get(Inbox, ids["inbox_id"])
        contact = s.get(Contact, ids["contact_id"])
        conv = s.get(Conversation, ids["conversation_id"])
        token = s.get(ApiToken, ids["token_id"])
        entry = s.get(FaqEntry, ids["entry_id"])
        category = s.get(Category, ids["category_id"])
        synonym = s.get(Synonym, ids["synonym_id"])
        smalltalk = s.get(SmallTalk, ids["smalltalk_id"])
        document = s.get(Document, ids["document_id"])
        assert None not in (user, team, inbox, contact, conv, token, entry, category, synonym,
                            smalltalk, document)
        return {
            "user": (user.name, user.role, user.is_active, user.password_hash),
            "team": team.name,
            "inbox": (inbox.name, inbox.is_active, inbox.secret),
            "contact": contact.name,
            "conversation": (conv.status, conv.priority, conv.assignee_id, conv.last_seq),
            "messages": s.scalar(select(func.count()).select_from(Message).where(
                Message.conversation_id == conv.id)),
            "token": token.revoked_at,
            "kb_entry": (entry.question, entry.answer, entry.phrasings, entry.version),
            "kb_category": (category.name, category.parent_id),
            "kb_synonym": list(synonym.terms),
            "kb_smalltalk": (list(smalltalk.phrasings), smalltalk.reply),
            "kb_document": (document.title, s.scalar(select(func.count()).select_from(
                Passage).where(Passage.document_id == document.id))),
            "qa_rule": _row(s, QaRule, ids["rule_id"], "name", "version", "enabled",
                            "deleted_at"),
            "qa_pack": _row(s, QaWordPack, ids["pack_id"], "name", "terms", "version"),
            "qa_card": _row(s, QaScorecard, ids["scorecard_id"], "name", "base", "version"),
            "qa_inspection": _row(s, QaInspection, ids["inspection_id"], "score", "status",
                                  "reviewed_by"),
            "qa_hits": sorted((h.id, h.review) for h in s.scalars(select(QaHit).where(
                QaHit.inspection_id == ids["inspection_id"]))),
            "qa_appeal": _row(s, QaAppeal, ids["appeal_id"], "status", "decided_by"),
            "qa_alert": _row(s, QaAlert, ids["alert_id"], "acknowledged_by"),
            **_ticket_snapshot(s, ids),
        }


def _row(session: Any, model: Any, row_id: str, *fields: str) -> tuple[Any, ...]:
    row = session.get(model, row_id)
    assert row is not None, (model, row_id)
    return tuple(getattr(row, f) for f in fields)


def _call(client: TestClient, method: str, path: str, body: tuple[str, Any]):
    kind, payload = body
    kwargs: dict[str, Any] = {}
    if kind == "json":
        kwargs["json"] = payload
    elif kind == "form":
        kwargs["data"] = payload
    return client.request(method, path, follow_redirects=False, **kwargs)


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: ids[m.group(1)], path)


def _client(app_client: TestClient, email: str) -> TestClient:
    """A logged-in client that reports server errors as 500s, so one sweep lists them all."""
    client = TestClient(app_client.app, base_url="http://127.0.0.1",
                        raise_server_exceptions=False)
    login(client, email)
    return client


def _answer(r) -> tuple[int, str | None]:
    code = None
    if r.headers.get("content-type", "").startswith("application/json"):
        code = r.json().get("error", {}).get("code")
    return r.status_code, code


# -- the tests ----------------------------------------------------------------------------


def test_every_route_with_an_id_is_covered(app_client):
    routes = [r for r in all_routes(app_client.app) if r.params]
    assert routes
    missing = sorted(f"{m} {r.path}" for r in routes if not _exempt(r.path)
                     for m in r.methods - {"HEAD", "OPTIONS"} if (m, r.path) not in ID_ROUTES)
    assert not missing, ("routes with an id have no isolation case; add them to "
                         f"ID_ROUTES (or EXEMPT with a reason): {missing}")
    known = {(m, r.path) for r in routes for m in r.methods}
    stale = sorted(f"{m} {p}" for m, p in ID_ROUTES if (m, p) not in known)
    assert not stale, f"ID_ROUTES names routes that no longer exist: {stale}"
    params = {p for _m, path in ID_ROUTES for p in re.findall(r"{(\w+)", path)}
    assert params <= {"user_id", "team_id", "inbox_id", "contact_id", "conversation_id",
                      "token_id", "entry_id", "category_id", "synonym_id", "smalltalk_id",
                      "document_id", "rule_id", "version", "pack_id", "scorecard_id", "card_id",
                      "inspection_id", "hit_id", "appeal_id", "alert_id", "ticket_id",
                      "other_id", "file_id", "template_id", "calendar_id", "policy_id",
                      "trigger_id"}


@pytest.mark.parametrize("persona", ["admin@b.example.com", "agent@b.example.com"])
def test_b_cannot_tell_that_a_objects_exist(app_client, uows, world, ctx, persona):
    before = _snapshot(uows, ctx)
    client = _client(app_client, persona)
    # ids that never existed (a version number is not an id: it stays)
    random_ids = {k: v if k == "version" else new_id() for k, v in ctx.a_ids.items()}
    problems = []
    for (method, path), body in sorted(ID_ROUTES.items()):
        got = _answer(_call(client, method, _fill(path, ctx.a_ids), body(ctx)))
        baseline = _answer(_call(client, method, _fill(path, random_ids), body(ctx)))
        if got != baseline:
            problems.append(f"{method} {path}: A's id -> {got}, unknown id -> {baseline}")
        elif persona.startswith("admin") and got[0] != 404:
            problems.append(f"{method} {path}: expected 404, got {got}")
        elif got[0] < 400:
            problems.append(f"{method} {path}: succeeded with {got}")
    assert not problems, "\n".join(problems)
    assert _snapshot(uows, ctx) == before


def test_a_objects_are_reachable_by_a(app_client, world, ctx):
    """The same calls do reach A's objects for A's admin (so the 404s above mean isolation)."""
    login(app_client, "wang@a.example.com")
    ids = ctx.a_ids
    for path in ("/api/v1/users/{user_id}", "/api/v1/teams/{team_id}",
                 "/api/v1/inboxes/{inbox_id}", "/api/v1/contacts/{contact_id}",
                 "/api/v1/conversations/{conversation_id}",
                 "/api/v1/conversations/{conversation_id}/messages",
                 "/api/v1/kb/entries/{entry_id}", "/api/v1/kb/entries/{entry_id}/versions",
                 "/api/v1/kb/entries/{entry_id}/diff", "/app/kb/entries/{entry_id}",
                 "/app/kb/entries/{entry_id}/edit", "/api/v1/inboxes/{inbox_id}/bot",
                 "/app/bot/inboxes/{inbox_id}", "/api/v1/kb/documents/{document_id}",
                 "/app/kb/documents/{document_id}", "/api/v1/qa/rules/{rule_id}",
                 "/api/v1/qa/rules/{rule_id}/versions", "/app/qa/rules/{rule_id}",
                 "/api/v1/qa/packs/{pack_id}", "/api/v1/qa/scorecards/{scorecard_id}",
                 "/app/qa/scorecards/{card_id}", "/api/v1/qa/inspections/{inspection_id}",
                 "/app/qa/inspections/{inspection_id}", "/api/v1/tickets/{ticket_id}",
                 "/api/v1/tickets/{ticket_id}/files/{file_id}", "/app/tickets/{ticket_id:tid}",
                 "/api/v1/ticket-templates/{template_id}",
                 "/app/tickets/templates/{template_id}", "/api/v1/sla/calendars/{calendar_id}",
                 "/api/v1/sla/policies/{policy_id}",
                 "/app/tickets/settings/calendars/{calendar_id}",
                 "/app/tickets/settings/policies/{policy_id}",
                 "/api/v1/ticket-triggers/{trigger_id}",
                 "/api/v1/ticket-triggers/{trigger_id}/preview",
                 "/app/tickets/automation/{trigger_id}"):
        r = app_client.get(_fill(path, ids))
        assert r.status_code == 200, (path, r.text)
    assert app_client.get("/api/v1/tokens").json()[0]["id"] == ids["token_id"]
    hits = app_client.get("/api/v1/kb/search", params={"q": "A的退货政策"}).json()
    assert [h["entry_id"] for h in hits] == [ids["entry_id"]]


def test_bearer_token_of_b_gets_404_too(app_client, uows, world, ctx):
    with uows() as uow:
        _, token = account_actions.do_create_api_token(uow, world.admin_b, name="b")
    bearer = TestClient(app_client.app, base_url="http://127.0.0.1",
                        headers={"Authorization": f"Bearer {token}"})
    for path in ("/api/v1/users/{user_id}", "/api/v1/conversations/{conversation_id}",
                 "/api/v1/contacts/{contact_id}"):
        r = bearer.get(_fill(path, ctx.a_ids))
        assert r.status_code == 404, (path, r.text)
    r = bearer.post(_fill("/api/v1/conversations/{conversation_id}/messages", ctx.a_ids),
                    json={"content": "hi"})
    assert r.status_code == 404


def _a_markers(uows, world, ctx: Ctx) -> set[str]:
    with uows(readonly=True) as uow:
        s = uow.session
        ids = set(s.scalars(select(User.id).where(User.workspace_id == world.ws_a)))
        ids |= set(s.scalars(select(Team.id).where(Team.workspace_id == world.ws_a)))
        ids |= set(s.scalars(select(Contact.id).where(Contact.workspace_id == world.ws_a)))
        ids |= set(s.scalars(select(Conversation.id).where(
            Conversation.workspace_id == world.ws_a)))
        ids |= set(s.scalars(select(Message.id).where(Message.workspace_id == world.ws_a)))
        ids |= set(s.scalars(select(ApiToken.id).where(ApiToken.workspace_id == world.ws_a)))
        for model in (FaqEntry, Category, Synonym, SmallTalk, Document, Passage):
            ids |= set(s.scalars(select(model.id).where(model.workspace_id == world.ws_a)))
    # (not A's workspace name "鲜果优选": the demo shop page uses it as its made-up brand)
    return ids | {world.ws_a, world.inbox_a, world.secret_a, "wang@a.example.com", "王店长",
                  "A售后组", "我的订单还没到", "a-buyer", "A的退货政策", "A的退货答案",
                  "A的售后分类", "A快递", "A的寒暄回复", "A的文档标题", "A的文档段落", "A的指南"}


LIST_QUERIES = {
    "/api/v1/conversations": ["", "?view=unassigned", "?view=mine", "?status=queued"],
    "/api/v1/contacts": ["", "?q=a-buyer"],
    "/api/v1/kb/entries": ["", "?q=A的退货", "?status=published"],
    "/api/v1/kb/search": ["?q=A的退货政策"],
    "/app/kb": ["", "?q=A的退货"],
    "/api/v1/kb/export": ["", "?format=csv"],  # (XLSX is zipped: markers would not show)
    "/app/kb/health": ["", "?days=7"],
}
#: parameterless GET routes not swept for A's data, and why
LIST_EXEMPT = {"/readyz": "opens its own database connection; no workspace data"}


@pytest.mark.parametrize("persona", ["admin@b.example.com", "agent@b.example.com"])
def test_lists_and_pages_never_include_a_rows(app_client, uows, world, ctx, persona):
    markers = _a_markers(uows, world, ctx)
    client = _client(app_client, persona)
    paths = sorted(r.path for r in all_routes(app_client.app)
                   if not r.params and "GET" in r.methods and r.path not in LIST_EXEMPT)
    assert "/api/v1/conversations" in paths
    leaks = []
    for path in paths:
        for query in LIST_QUERIES.get(path, [""]):
            r = client.get(path + query)
            leaked = sorted(m for m in markers if m in r.text)
            if leaked:
                leaks.append(f"GET {path}{query} ({r.status_code}): {leaked}")
            if r.status_code >= 500:
                leaks.append(f"GET {path}{query}: server error {r.status_code}")
    assert not leaks, "\n".join(leaks)


def test_lists_do_show_b_its_own_rows(app_client, uows, world, ctx):
    conv_b, contact_b = customer_says(uows, world.inbox_b, "hello", visitor="b-buyer")
    login(app_client, "agent@b.example.com")
    convs = app_client.get("/api/v1/conversations").json()
    assert [c["id"] for c in convs["items"]] == [conv_b]
    assert convs["total"] == 1
    assert [c["id"] for c in app_client.get("/api/v1/contacts").json()["items"]] == [contact_b]
    assert {u["email"] for u in app_client.get("/api/v1/users").json()["items"]} == {
        "admin@b.example.com", "agent@b.example.com"}
    assert [i["id"] for i in app_client.get("/api/v1/inboxes").json()] == [world.inbox_b]
    assert [t["name"] for t in app_client.get("/api/v1/teams").json()] == ["B team"]


def test_a_cannot_assign_to_b_user_or_team(app_client, uows, world, ctx):
    before = _snapshot(uows, ctx)
    login(app_client, "wang@a.example.com")
    url = f"/api/v1/conversations/{ctx.a_conversation}/assign"
    r = app_client.post(url, json={"assignee_id": world.agent_b.user_id})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "user_not_found")
    r = app_client.post(url, json={"assignee_id": world.agent_li.user_id,
                                   "team_id": ctx.b_team_id})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "team_not_found")
    assert _snapshot(uows, ctx) == before
    with uows(readonly=True) as uow:
        assert uow.session.get(Conversation, ctx.a_conversation).team_id is None


def test_a_cannot_put_b_user_in_a_team(app_client, world, ctx):
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/teams", json={"name": "mixed",
                                               "member_ids": [world.agent_b.user_id]})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "user_not_found")
    r = app_client.patch(f"/api/v1/teams/{ctx.a_ids['team_id']}",
                         json={"member_ids": [world.agent_b.user_id]})
    assert r.status_code == 404
    assert app_client.get(f"/api/v1/teams/{ctx.a_ids['team_id']}").json()["member_ids"] == [
        world.agent_li.user_id]
