"""Who is acting: a logged-in user of one workspace, with a role. Permissions by role.

Quality inspection: ``qa.read`` (an agent sees only their own results; the other roles every
result), ``qa.review`` (the review queue: confirm / overrule hits), ``qa.manage`` (rules, word
packs, scorecards, batch runs), ``qa.decide`` (decide appeals), ``qa.alerts`` (the live
alert wallboard).

Tickets: ``ticket.read`` (see tickets), ``ticket.write`` (create, update, reply),
``ticket.manage`` (templates, SLA policies and calendars, automation, team assignment),
``ticket.reports`` (ticket reports)."""

from __future__ import annotations

from dataclasses import dataclass

from kefu.core.errors import PermissionDenied

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {"admin.manage", "conversation.read", "conversation.reply", "conversation.manage",
         "conversation.assign_others", "contact.read", "contact.write", "kb.read", "kb.write",
         "bot.manage", "qa.read", "qa.review", "qa.manage", "qa.decide", "qa.alerts",
         "ticket.read", "ticket.write", "ticket.manage", "ticket.reports"}
    ),
    "supervisor": frozenset(
        {"conversation.read", "conversation.reply", "conversation.manage",
         "conversation.assign_others", "contact.read", "contact.write", "admin.read",
         "kb.read", "kb.write", "bot.manage", "qa.read", "qa.review", "qa.manage", "qa.decide",
         "qa.alerts", "ticket.read", "ticket.write", "ticket.manage", "ticket.reports"}
    ),
    "agent": frozenset(
        {"conversation.read", "conversation.reply", "conversation.manage", "contact.read",
         "contact.write", "kb.read", "qa.read", "ticket.read", "ticket.write"}
    ),
    "inspector": frozenset({"conversation.read", "contact.read", "kb.read", "qa.read",
                            "qa.review", "qa.alerts", "ticket.read"}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    workspace_id: str
    role: str
    name: str = ""

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise PermissionDenied(
                "你没有执行此操作的权限 / You are not allowed to do this",
                code="permission_denied",
                permission=permission,
            )
