"""No update path bypasses the timeline: outside ``tickets/timeline.py`` no code assigns a
ticket's user-visible fields, updates or deletes ticket rows in bulk, or touches timeline
events after writing them. (A structural check over the source; the behaviour itself is
tested by the replay test in test_core_actions.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import kefu

SRC = Path(kefu.__file__).parent
#: the fields a person or automation changes (derived SLA columns are set by clocks.store)
FIELDS = {"status", "priority", "team_id", "assignee_id", "subject", "description", "fields",
          "tags", "template_id", "parent_id", "merged_into_id", "contact_id",
          "conversation_id", "resolved_at", "closed_at", "source"}
#: packages whose objects also have such attribute names (conversations, jobs, QA…)
OTHER_DOMAINS = ("inbox", "kb", "qa", "bot", "accounts", "contacts", "core", "channels")


def _offences(path: Path, root: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if (isinstance(sub, ast.Attribute) and sub.attr in FIELDS
                        and "ticket" in ast.unparse(sub.value).lower()):
                    out.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(target)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("update", "delete") and node.args \
                and ast.unparse(node.args[0]) in ("Ticket", "TicketEvent"):
            out.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return out


def test_ticket_fields_change_only_through_the_timeline() -> None:
    offences = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).parts
        if rel[0] in OTHER_DOMAINS or path.name == "timeline.py":
            continue
        offences += _offences(path)
    assert not offences, "ticket fields set outside tickets.timeline:\n" + "\n".join(offences)


def test_the_guard_catches_a_direct_assignment(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(ticket):\n    ticket.status = 'closed'\n"
                   "def g(s):\n    s.execute(update(Ticket).values(status='x'))\n")
    assert len(_offences(bad, tmp_path)) == 2
