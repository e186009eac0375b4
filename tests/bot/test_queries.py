"""Bot statistics, hit testing and the learning loop over real turns."""

from __future__ import annotations

from kefu.bot.queries import bot_stats, hit_test, unanswered_clusters
from tests.bot.test_bot_flow import bot, config, conv_of  # noqa: F401 - fixtures
from tests.conftest import T0, customer_says


def test_stats(uows, world, bot, svc):  # noqa: F811
    customer_says(uows, world.inbox_a, "怎么退货", visitor="v1")
    customer_says(uows, world.inbox_a, "多久发货", visitor="v2")
    customer_says(uows, world.inbox_a, "你好", visitor="v3")
    customer_says(uows, world.inbox_a, "转人工", visitor="v4")
    customer_says(uows, world.inbox_a, "量子纠缠是什么", visitor="v5")
    with uows(readonly=True) as uow:
        s = bot_stats(uow.session, world.agent_li, svc.kb, now=T0)
    assert s.turns == 5
    assert s.by_decision == {"answer": 2, "smalltalk": 1, "handoff": 1, "none": 1}
    assert s.handoff_reasons == {"asked_for_human": 1}
    assert abs(s.answered_share - 3 / 5) < 1e-9
    assert {e["entry_id"] for e in s.top_entries} == {bot["returns"], bot["shipping"]}
    with uows(readonly=True) as uow:  # another workspace sees none of it
        assert bot_stats(uow.session, world.agent_b, svc.kb, now=T0).turns == 0


def test_hit_test_explains(uows, world, bot, svc):  # noqa: F811
    with uows(readonly=True) as uow:
        r = hit_test(uow.session, world.agent_li, svc.kb, world.inbox_a, "怎么退货", now=T0)
    assert r["decision"] == "answer" and r["candidates"][0]["entry_id"] == bot["returns"]
    assert "回答阈值" in r["why"] and r["thresholds"] == {"answer": 0.36, "clarify": 0.28}
    with uows(readonly=True) as uow:
        r = hit_test(uow.session, world.agent_li, svc.kb, world.inbox_a, "量子纠缠", now=T0)
    assert r["decision"] == "none" and "澄清阈值" in r["why"]
    # hit testing changes nothing
    with uows(readonly=True) as uow:
        assert bot_stats(uow.session, world.agent_li, svc.kb, now=T0).turns == 0


def test_unanswered_are_clustered_with_suggestions(uows, world, bot, svc):  # noqa: F811
    for i, text in enumerate(["量子纠缠是什么", "量子纠缠是什么意思", "什么是量子纠缠",
                              "黑洞会蒸发吗"]):
        customer_says(uows, world.inbox_a, text, visitor=f"u{i}")
    # unsure answers (clarify) are learning material too: they attach to the closest entry
    config(uows, world, answer_threshold=0.99, clarify_threshold=0.05)
    for i, text in enumerate(["退货怎么弄", "退货怎么弄呀"]):
        customer_says(uows, world.inbox_a, text, visitor=f"r{i}")
    with uows(readonly=True) as uow:
        clusters = unanswered_clusters(uow.session, world.supervisor_zhao, svc.kb, now=T0)
    by_rep = {c.representative: c for c in clusters}
    quantum = next(c for c in clusters if "量子" in c.representative)
    assert quantum.count == 3 and len(quantum.questions) == 3
    assert quantum.as_dict()["suggestion"] == {"action": "new_entry"}
    assert "黑洞会蒸发吗" in by_rep
    assert clusters[0] is quantum  # biggest first
    returns = next(c for c in clusters if "退货" in c.representative)
    assert returns.count == 2
    assert returns.as_dict()["suggestion"]["action"] == "add_phrasings"
    assert returns.suggest_entry_id == bot["returns"]
