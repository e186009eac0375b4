"""Bot pages: overview with statistics, hit testing (escaped), the learning loop's one-click
phrasings, and the per-inbox settings form (CSRF, errors with the input kept, read-only for
agents)."""

from __future__ import annotations

from kefu.bot.actions import load_config
from kefu.kb.models import FaqEntry
from tests.bot.test_bot_flow import bot  # noqa: F401 - fixture
from tests.conftest import customer_says
from tests.web.test_ui_login import ui_login


def settings_form(csrf: str, **over: str) -> dict[str, str]:
    data = {"csrf_token": csrf, "bot_enabled": "on", "name": "小鲜", "greeting": "您好",
            "answer_threshold": "0.4", "clarify_threshold": "0.3", "max_misses": "3",
            "suggest_count": "4", "clarify_text": "您是想问：", "fallback_text": "换个说法试试",
            "handoff_text": "转接中", "handoff_keywords": "转人工\n找小二",
            "handoff_on_anger": "on", "use_documents": "on", "hours_enabled": "on",
            "timezone": "Asia/Shanghai", "hours_mon": "09:00-12:00, 13:00-18:00",
            "hours_sat": "10:00-16:00", "holidays": "2026-10-01\n2026-10-02",
            "workdays": "2026-10-10", "leave_message_text": "请留言 {next_open}",
            "leave_message_thanks": "收到 {next_open}"}
    data.update(over)
    return data


def test_overview_hit_test_and_learning(app_client, world, bot, uows):  # noqa: F811
    customer_says(uows, world.inbox_a, "量子纠缠是什么", visitor="x1")
    customer_says(uows, world.inbox_a, "<b>量子纠缠</b>是什么意思", visitor="x2")
    csrf = ui_login(app_client, "zhao@a.example.com")
    page = app_client.get("/app/bot")
    assert page.status_code == 200
    assert 'id="stat-turns">2<' in page.text and "量子纠缠是什么" in page.text
    assert "<b>量子纠缠</b>" not in page.text and "&lt;b&gt;" in page.text
    hit = app_client.get("/app/bot", params={"inbox": world.inbox_a, "q": "多久发货"})
    assert 'data-decision="answer"' in hit.text and "下单后 48 小时内发货" in hit.text
    # one click: add the questions as phrasings of an entry
    r = app_client.post("/app/bot/learn", data={
        "csrf_token": csrf, "entry_id": bot["invoice"], "texts": ["量子纠缠是什么"]},
        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/app/bot?notice=learned"
    with uows(readonly=True) as uow:
        entry = uow.session.get(FaqEntry, bot["invoice"])
        assert entry is not None and "量子纠缠是什么" in entry.phrasings
    bad = app_client.post("/app/bot/learn", data={"entry_id": bot["invoice"], "texts": ["x"]},
                          follow_redirects=False)
    assert bad.status_code == 403


def test_new_entry_form_is_prefilled_from_the_learning_loop(app_client, world):
    ui_login(app_client, "zhao@a.example.com")
    r = app_client.get("/app/kb/new", params={"question": "量子纠缠是什么",
                                              "phrasings": "什么是量子纠缠\n量子纠缠<script>"})
    assert r.status_code == 200
    assert 'value="量子纠缠是什么"' in r.text and "什么是量子纠缠" in r.text
    assert "<script>" not in r.text.split("</head>", 1)[1].replace(
        '<script src="', "").replace("<script type=", "")


def test_settings_form(app_client, world, uows):
    csrf = ui_login(app_client, "wang@a.example.com")
    url = f"/app/bot/inboxes/{world.inbox_a}"
    assert app_client.get(url).status_code == 200
    r = app_client.post(url, data=settings_form(csrf), follow_redirects=False)
    assert r.status_code == 303, r.text
    with uows(readonly=True) as uow:
        c = load_config(uow.session, world.inbox_a)
        from kefu.inbox.models import Inbox

        inbox = uow.session.get(Inbox, world.inbox_a)
        assert inbox is not None and inbox.settings["bot_enabled"] is True
    assert c.name == "小鲜" and c.answer_threshold == 0.4 and c.max_misses == 3
    assert c.handoff_keywords == ["转人工", "找小二"] and c.handoff_on_unhelpful is False
    assert c.hours.enabled and c.hours.weekly == {"mon": ["09:00-12:00", "13:00-18:00"],
                                                  "sat": ["10:00-16:00"]}
    assert [str(d) for d in c.hours.holidays] == ["2026-10-01", "2026-10-02"]
    page = app_client.get(url)
    assert "09:00-12:00, 13:00-18:00" in page.text


def test_settings_errors_keep_the_input(app_client, world, uows):
    csrf = ui_login(app_client, "wang@a.example.com")
    url = f"/app/bot/inboxes/{world.inbox_a}"
    for bad in ({"hours_mon": "18:00-09:00"}, {"clarify_threshold": "0.9"},
                {"timezone": "Mars/Olympus"}, {"holidays": "not-a-date"},
                {"answer_threshold": "abc"}):
        r = app_client.post(url, data=settings_form(csrf, greeting="保留我的输入", **bad))
        assert r.status_code == 422, (bad, r.status_code)
        assert 'id="form-error"' in r.text and "保留我的输入" in r.text
    with uows(readonly=True) as uow:
        assert load_config(uow.session, world.inbox_a).greeting != "保留我的输入"


def test_agents_read_only(app_client, world):
    csrf = ui_login(app_client, "li@a.example.com")
    url = f"/app/bot/inboxes/{world.inbox_a}"
    page = app_client.get(url)
    assert page.status_code == 200 and 'id="bot-save"' not in page.text
    assert app_client.post(url, data=settings_form(csrf)).status_code == 403
    assert app_client.get("/app/bot").status_code == 200


def test_inspectors_may_look(app_client, world):
    ui_login(app_client, "sun@a.example.com")
    assert app_client.get("/app/bot").status_code == 200


def test_saving_the_form_keeps_settings_it_does_not_show(app_client, world, uows):
    from kefu.bot.actions import do_update_config
    from kefu.bot.schemas import BotConfig, SuggestRule

    with uows() as uow:
        do_update_config(uow, world.admin_wang, world.inbox_a, BotConfig(
            anger_text="非常抱歉，马上为您转接主管。", max_clarify=2,
            suggest_rules=[SuggestRule(url_contains="/order", entry_ids=["x"])]))
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/bot/inboxes/{world.inbox_a}", data=settings_form(csrf),
                        follow_redirects=False)
    assert r.status_code == 303
    with uows(readonly=True) as uow:
        c = load_config(uow.session, world.inbox_a)
    assert c.name == "小鲜"  # from the form
    assert c.anger_text == "非常抱歉，马上为您转接主管。" and c.max_clarify == 2
    assert [r.url_contains for r in c.suggest_rules] == ["/order"]
