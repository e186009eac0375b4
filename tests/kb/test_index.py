"""The per-workspace index follows kb events: edits without rebuild, drafts and archived
entries unseen, synonyms rebuild the workspace, the re-ranker is trained from phrasings."""

from __future__ import annotations

from datetime import timedelta

from kefu.kb import actions as kb
from kefu.kb.index import KbIndex
from kefu.kb.schemas import EntryCreate, EntryUpdate, SynonymCreate
from tests.conftest import T0


def add(uows, actor, question, phrasings, answer, **kw):
    with uows() as uow:
        return kb.do_create_entry(uow, actor, EntryCreate(
            question=question, phrasings=phrasings, answer=answer, **kw)).id


def top(svc, ws, text, now=T0):
    hits = svc.kb.search(ws, text, now=now, k=3)
    return hits[0].entry.id if hits else None


def test_published_entries_only_and_edits_apply(uows, world, svc):
    eid = add(uows, world.admin_wang, "怎么开发票", ["发票怎么开"], "订单页申请", status="draft")
    svc.kb.get(world.ws_a)  # built now; later changes arrive as events
    assert top(svc, world.ws_a, "发票怎么开") is None
    with uows() as uow:
        kb.do_update_entry(uow, world.admin_wang, eid, EntryUpdate(status="published"))
    assert top(svc, world.ws_a, "发票怎么开") == eid
    with uows() as uow:
        kb.do_update_entry(uow, world.admin_wang, eid, EntryUpdate(
            phrasings=["能开专票吗"], answer="联系客服开专票"))
    hits = svc.kb.search(world.ws_a, "能开专票吗", now=T0)
    assert hits[0].entry.id == eid and hits[0].entry.answer == "联系客服开专票"
    with uows() as uow:
        kb.do_delete_entry(uow, world.admin_wang, eid)
    assert top(svc, world.ws_a, "能开专票吗") is None
    assert top(svc, world.ws_b, "能开专票吗") is None


def test_incremental_equals_rebuild(uows, world, svc):
    svc.kb.get(world.ws_a)
    ids = [add(uows, world.admin_wang, q, p, "a", status="published") for q, p in [
        ("什么时候发货", ["多久发货"]), ("怎么退货", ["退货流程"]), ("运费多少", ["包邮吗"])]]
    with uows() as uow:
        kb.do_update_entry(uow, world.admin_wang, ids[0], EntryUpdate(phrasings=["几天发货"]))
        kb.do_update_entry(uow, world.admin_wang, ids[2], EntryUpdate(status="archived"))
    fresh = KbIndex(svc.uows)
    for q in ("几天发货", "多久发货", "退货流程", "包邮吗", "你好"):
        a = [(h.entry.id, round(h.confidence, 6)) for h in svc.kb.search(world.ws_a, q, now=T0)]
        b = [(h.entry.id, round(h.confidence, 6)) for h in fresh.search(world.ws_a, q, now=T0)]
        assert a == b, q


def test_synonyms_rebuild_the_workspace(uows, world, svc):
    eid = add(uows, world.admin_wang, "快递多久到", [], "三天", status="published")
    before = svc.kb.search(world.ws_a, "物流多久到", now=T0)
    with uows() as uow:
        kb.do_create_synonym(uow, world.admin_wang, SynonymCreate(terms=["快递", "物流"]))
    after = svc.kb.search(world.ws_a, "物流多久到", now=T0)
    assert after[0].entry.id == eid
    assert not before or after[0].confidence > before[0].confidence


def test_validity_is_checked_at_query_time(uows, world, svc):
    eid = add(uows, world.admin_wang, "双11满减规则", [], "满300减50", status="published",
              valid_from=T0 + timedelta(hours=1), valid_until=T0 + timedelta(hours=2))
    assert top(svc, world.ws_a, "双11满减规则") is None
    assert top(svc, world.ws_a, "双11满减规则", T0 + timedelta(minutes=90)) == eid
    assert top(svc, world.ws_a, "双11满减规则", T0 + timedelta(hours=2)) is None
    assert svc.kb.search(world.ws_a, "双11满减规则", now=T0, include_invalid=True)


def test_reranker_is_trained_from_the_workspace_phrasings(uows, world, svc):
    fruits = ["苹果", "香蕉", "橙子", "葡萄", "芒果", "榴莲", "西瓜", "草莓", "蓝莓", "樱桃",
              "菠萝", "柠檬", "桃子", "梨子", "荔枝", "龙眼", "山竹", "椰子", "猕猴桃", "柚子"]
    asks = [("{f}多少钱", ["{f}什么价格", "{f}怎么卖", "{f}一斤几块"]),
            ("{f}怎么保存", ["{f}要冷藏吗", "{f}放几天", "{f}怎么存放"])]
    for f in fruits:
        for q, p in asks:
            add(uows, world.admin_wang, q.format(f=f), [x.format(f=f) for x in p], f,
                status="published")
    index = svc.kb.get(world.ws_a)
    assert index.engine.reranker is not None
    hits = svc.kb.search(world.ws_a, "榴莲什么价格", now=T0)
    assert hits[0].entry.question == "榴莲多少钱"


def test_small_knowledge_bases_are_not_trained(uows, world, svc):
    add(uows, world.admin_wang, "怎么退货", ["退货流程"], "a", status="published")
    assert svc.kb.get(world.ws_a).engine.reranker is None


def test_removals_compact_off_to_the_side_and_keep_answers(uows, world, svc):
    ids = [add(uows, world.admin_wang, f"第{i}号商品怎么保存", [f"第{i}号商品要冷藏吗"], f"答{i}",
               status="published") for i in range(60)]
    index = svc.kb.get(world.ws_a)
    engine_before = index.engine
    for eid in ids[:45]:
        with uows() as uow:
            kb.do_delete_entry(uow, world.admin_wang, eid)
    # compaction ran (inline in tests) and swapped in a fresh engine without dead phrasings
    assert index.engine is not engine_before
    assert index.engine.n_dead < 64
    fresh = KbIndex(svc.uows)
    for i in (0, 44, 45, 59):
        q = f"第{i}号商品要冷藏吗"
        a = [(h.entry.id, round(h.confidence, 6)) for h in svc.kb.search(world.ws_a, q, now=T0)]
        b = [(h.entry.id, round(h.confidence, 6)) for h in fresh.search(world.ws_a, q, now=T0)]
        assert a == b, q
    assert top(svc, world.ws_a, "第50号商品要冷藏吗") == ids[50]


def test_edits_during_compaction_are_replayed(uows, world, svc, monkeypatch):
    from kefu.kb import index as index_module
    from kefu.kb.models import FaqEntry

    eid = add(uows, world.admin_wang, "怎么开发票", ["发票怎么开"], "订单页申请",
              status="published")
    other = add(uows, world.admin_wang, "多久发货", [], "48小时", status="published")
    index = svc.kb.get(world.ws_a)
    with uows() as uow:  # change the row quietly; the index hears of it only "during" compaction
        row = uow.session.get(FaqEntry, eid)
        assert row is not None
        row.phrasings = ["能开专票吗"]
    assert top(svc, world.ws_a, "能开专票吗") != eid
    real = index_module.MatchEngine

    def building_while_edits_arrive(*args, **kwargs):
        engine = real(*args, **kwargs)  # the copy, from the snapshot taken before the edits
        with uows(readonly=True) as uow:
            index.apply(uow.session.get(FaqEntry, eid), eid)
        index.apply(None, other)
        return engine

    monkeypatch.setattr(index_module, "MatchEngine", building_while_edits_arrive)
    before = index.engine
    index.compact()
    monkeypatch.setattr(index_module, "MatchEngine", real)
    assert index.engine is not before and index.pending is None
    assert top(svc, world.ws_a, "能开专票吗") == eid
    assert top(svc, world.ws_a, "多久发货") != other


def test_events_during_the_first_load_are_replayed(uows, world, svc, monkeypatch):
    from kefu.kb import index as index_module
    from kefu.kb.events import EntryChanged

    eid = add(uows, world.admin_wang, "双11满减规则", ["满减怎么算"], "满300减50",
              status="published")
    index = KbIndex(svc.uows)  # nothing loaded yet
    real = index_module.WorkspaceKb.load.__func__

    def load_then_hear_of_a_deletion(cls, session, ws, encoder=None):
        snapshot = real(cls, session, ws, encoder)
        # another thread deleted the entry after the snapshot was read
        index.on_event(EntryChanged(workspace_id=ws, entry_id=eid, deleted=True))
        return snapshot

    monkeypatch.setattr(index_module.WorkspaceKb, "load",
                        classmethod(load_then_hear_of_a_deletion))
    index.get(world.ws_a)
    assert index.search(world.ws_a, "满减怎么算", now=T0) == []


def test_an_older_load_finishing_last_is_dropped(uows, world, svc, monkeypatch):
    import threading

    from kefu.kb import index as index_module

    add(uows, world.admin_wang, "怎么退货", ["退货流程"], "a", status="published")
    index = KbIndex(svc.uows)
    index.get(world.ws_a)
    real = index_module.WorkspaceKb.load.__func__
    first_started, release = threading.Event(), threading.Event()
    calls = []

    def load(cls, session, ws, encoder=None):
        got = real(cls, session, ws, encoder)
        calls.append(got)
        if len(calls) == 1:
            first_started.set()
            release.wait(5)
        return got

    monkeypatch.setattr(index_module.WorkspaceKb, "load", classmethod(load))
    older = threading.Thread(target=index._load, args=(world.ws_a,))
    older.start()
    assert first_started.wait(5)
    newer = index._load(world.ws_a)  # e.g. a second dictionary change: loads again, installs
    release.set()
    older.join(5)
    assert newer is calls[1] and index._kbs[world.ws_a] is newer
