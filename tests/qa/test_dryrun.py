"""Dry run of a draft rule over stored conversations: counts, days, samples with spans; the
window, the inbox filter, private notes skipped, workspace packs used, validation as on save,
nothing stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kefu.core.errors import Invalid, NotFound, PermissionDenied
from kefu.inbox import actions as inbox_actions
from kefu.qa import dryrun, manage
from kefu.qa.models import QaRule
from tests.conftest import customer_says

PROMISE = {"kind": "keyword", "terms": ["保证"], "exclude": ["不能保证"]}


def agent_says(uows, actor, conv_id: str, text: str, *, note: bool = False) -> None:
    with uows() as uow:
        if note:
            inbox_actions.do_add_note(uow, actor, conv_id, content=text)
        else:
            inbox_actions.do_agent_reply(uow, actor, conv_id, content=text)


@pytest.fixture
def history(uows, world, clock):
    """An old conversation (20 days ago) and three recent ones."""
    old, _ = customer_says(uows, world.inbox_a, "在吗", visitor="old")
    agent_says(uows, world.agent_li, old, "我保证明天到")
    clock.advance(days=18)
    c1, _ = customer_says(uows, world.inbox_a, "什么时候到", visitor="v1")
    agent_says(uows, world.agent_li, c1, "保证明天到，保证新鲜")
    clock.advance(days=1)
    c2, _ = customer_says(uows, world.inbox_a, "坏了怎么办", visitor="v2")
    agent_says(uows, world.agent_li, c2, "这个我不能保证")
    agent_says(uows, world.agent_li, c2, "内部：保证赔付", note=True)
    c3, _ = customer_says(uows, world.inbox_a, "我保证会买", visitor="v3")  # customer: no
    clock.advance(days=1)
    return {"old": old, "c1": c1, "c2": c2, "c3": c3}


def test_counts_days_and_samples(uows, world, history, clock):
    with uows(readonly=True) as uow:
        r = dryrun.dry_run(uow.session, world.admin_wang, PROMISE, now=clock.now(), days=7)
    assert r.scanned == 3 and not r.truncated
    assert r.hit_conversations == 1 and r.total_hits == 2
    assert sum(r.per_day.values()) == 2 and len(r.per_day) == 1
    (sample,) = r.samples
    assert sample.conversation_id == history["c1"]
    (msg,) = sample.messages
    assert msg.text == "保证明天到，保证新鲜" and msg.role == "agent"
    assert [msg.text[s:e] for s, e in msg.spans] == ["保证", "保证"]
    data = r.as_dict()
    assert data["samples"][0]["messages"][0]["spans"] == [[0, 2], [6, 8]]
    with uows(readonly=True) as uow:  # 30 days reach the old conversation
        r30 = dryrun.dry_run(uow.session, world.admin_wang, PROMISE, now=clock.now(), days=30)
    assert r30.scanned == 4 and r30.hit_conversations == 2 and len(r30.per_day) == 2
    with uows(readonly=True) as uow:  # customers' messages when the scope says so
        rc = dryrun.dry_run(uow.session, world.admin_wang, {**PROMISE, "scope": ["customer"]},
                            now=clock.now())
    assert [s.conversation_id for s in rc.samples] == [history["c3"]]


def test_inbox_filter_packs_and_validation(uows, world, history, clock):
    with uows(readonly=True) as uow:
        r = dryrun.dry_run(uow.session, world.admin_wang, PROMISE, now=clock.now(),
                           inbox_id=world.inbox_a)
        assert r.hit_conversations == 1
        with pytest.raises(NotFound):
            dryrun.dry_run(uow.session, world.admin_wang, PROMISE, now=clock.now(),
                           inbox_id=world.inbox_b)
        with pytest.raises(Invalid) as exc:
            dryrun.dry_run(uow.session, world.admin_wang, {"kind": "regex", "pattern": "(a*)*"},
                           now=clock.now())
        assert exc.value.details["errors"][0]["field"] == "definition.pattern"
        with pytest.raises(Invalid):
            dryrun.dry_run(uow.session, world.admin_wang, PROMISE, now=clock.now(), days=91)
        with pytest.raises(PermissionDenied):
            dryrun.dry_run(uow.session, world.agent_li, PROMISE, now=clock.now())
        with pytest.raises(Invalid):  # the pack does not exist yet
            dryrun.dry_run(uow.session, world.admin_wang, {"kind": "wordpack", "pack": "fresh"},
                           now=clock.now())
    with uows() as uow:
        manage.do_create_pack(uow, world.admin_wang, name="fresh", terms=["新鲜"])
    with uows(readonly=True) as uow:
        r = dryrun.dry_run(uow.session, world.admin_wang, {"kind": "wordpack", "pack": "fresh"},
                           now=clock.now())
        assert r.total_hits == 1 and r.samples[0].messages[0].spans == [(8, 10)]
        # another workspace sees none of A's conversations
        rb = dryrun.dry_run(uow.session, world.admin_b, PROMISE, now=clock.now())
        assert rb.scanned == 0 and rb.samples == []
        assert uow.session.scalar(select(func.count()).select_from(QaRule)) == 0


def test_cap_is_reported(uows, world, history, clock, monkeypatch):
    monkeypatch.setattr(dryrun, "MAX_CONVERSATIONS", 2)
    with uows(readonly=True) as uow:
        r = dryrun.dry_run(uow.session, world.admin_wang, PROMISE, now=clock.now())
    assert r.truncated and r.scanned == 2


def test_a_conversation_too_large_to_inspect_is_skipped_not_a_crash(uows, world, monkeypatch):
    from kefu.qa import dryrun as dryrun_module

    for text in ("保证吗", "保证", "保证一定", "保证明天"):
        customer_says(uows, world.inbox_a, text, visitor="v_big_dry")
    monkeypatch.setattr(dryrun_module, "MAX_CONVERSATION_MESSAGES", 3)
    with uows(readonly=True) as uow:
        result = dryrun_module.dry_run(
            uow.session, world.admin_wang,
            {"kind": "keyword", "terms": ["保证"], "scope": ["customer"]},
            now=uow.clock.now(), days=7)
    assert result.skipped == 1 and result.hit_conversations == 0
