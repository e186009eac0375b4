"""The web chat HTTP API: sessions, identity, sending (idempotent), history, pre-chat."""

from __future__ import annotations

from sqlalchemy import func, select

from kefu.core.security import identity_hmac
from kefu.inbox import actions as inbox_actions
from kefu.inbox.models import Inbox, Message
from kefu.inbox.schemas import InboxUpdate, WebchatSettings


def start(client, inbox_id: str, **body) -> dict:
    r = client.post(f"/api/v1/webchat/{inbox_id}/sessions", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def send(client, inbox_id: str, token: str, content: str, cid: str):
    return client.post(f"/api/v1/webchat/{inbox_id}/messages",
                       headers={"Authorization": f"Visitor {token}"},
                       json={"content": content, "client_msg_id": cid})


def stored(uows, cid: str) -> int:
    with uows(readonly=True) as uow:
        return uow.session.scalar(
            select(func.count()).select_from(Message).where(Message.client_msg_id == cid))


def test_anonymous_visitor_keeps_identity_with_token(app_client, world):
    first = start(app_client, world.inbox_a)
    again = start(app_client, world.inbox_a, token=first["token"])
    assert again["contact"]["id"] == first["contact"]["id"]
    other = start(app_client, world.inbox_a)
    assert other["contact"]["id"] != first["contact"]["id"]
    assert first["inbox"]["greeting"]


def test_send_is_idempotent_and_history_survives(app_client, world, uows):
    s = start(app_client, world.inbox_a)
    r1 = send(app_client, world.inbox_a, s["token"], "你好，我的订单什么时候发货？", "cid-1")
    assert r1.status_code == 201
    ack = r1.json()
    assert ack["type"] == "ack" and ack["seq"] == 1 and ack["duplicate"] is False
    r2 = send(app_client, world.inbox_a, s["token"], "你好，我的订单什么时候发货？", "cid-1")
    assert r2.status_code == 200
    assert r2.json()["id"] == ack["id"] and r2.json()["duplicate"] is True
    assert stored(uows, "cid-1") == 1
    # an agent reply and a note; the visitor sees the reply, never the note
    with uows() as uow:
        inbox_actions.do_agent_reply(uow, world.agent_li, ack["conversation_id"],
                                     content="今天下午发货")
        inbox_actions.do_add_note(uow, world.agent_li, ack["conversation_id"],
                                  content="内部：仓库缺货")
    back = start(app_client, world.inbox_a, token=s["token"])
    texts = [m["content"] for m in back["messages"]]
    assert texts == ["你好，我的订单什么时候发货？", "今天下午发货"]
    missed = app_client.get(f"/api/v1/webchat/{world.inbox_a}/messages",
                            params={"conversation_id": ack["conversation_id"], "after_seq": 1},
                            headers={"Authorization": f"Visitor {s['token']}"}).json()
    assert [m["content"] for m in missed["messages"]] == ["今天下午发货"]
    assert all("sender_id" not in m for m in missed["messages"])


def test_token_for_another_inbox_is_refused(app_client, world, uows):
    s = start(app_client, world.inbox_a)
    r = send(app_client, world.inbox_b, s["token"], "hi", "x1")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "visitor_token_wrong_inbox"
    r = app_client.post(f"/api/v1/webchat/{world.inbox_b}/sessions", json={"token": s["token"]})
    assert r.status_code == 403
    assert stored(uows, "x1") == 0


def test_forged_or_missing_token(app_client, world):
    s = start(app_client, world.inbox_a)
    r = send(app_client, world.inbox_a, s["token"][:-2] + "xx", "hi", "x2")
    assert r.status_code == 401 and r.json()["error"]["code"] == "visitor_token_invalid"
    r = app_client.post(f"/api/v1/webchat/{world.inbox_a}/messages",
                        json={"content": "hi", "client_msg_id": "x3"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "visitor_token_missing"


def test_oversize_and_bad_fields(app_client, world):
    s = start(app_client, world.inbox_a)
    r = send(app_client, world.inbox_a, s["token"], "好" * 4001, "big")
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_long"
    r = send(app_client, world.inbox_a, s["token"], "hi", "bad id with spaces")
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = app_client.post(f"/api/v1/webchat/{world.inbox_a}/messages", content=b"{not json",
                        headers={"Authorization": f"Visitor {s['token']}",
                                 "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_unknown_inbox(app_client):
    r = app_client.post("/api/v1/webchat/nope/sessions", json={})
    assert r.status_code == 404 and r.json()["error"]["code"] == "inbox_not_found"


def test_verified_identity_by_hmac(app_client, world):
    good = identity_hmac(world.secret_a, "shop-user-42")
    a = start(app_client, world.inbox_a, user_id="shop-user-42", user_hash=good, name="赵先生")
    b = start(app_client, world.inbox_a, user_id="shop-user-42", user_hash=good.upper())
    assert a["contact"]["id"] == b["contact"]["id"]
    assert a["contact"]["name"] == "赵先生"
    r = app_client.post(f"/api/v1/webchat/{world.inbox_a}/sessions",
                        json={"user_id": "shop-user-42", "user_hash": "0" * 64})
    assert r.status_code == 401 and r.json()["error"]["code"] == "identity_hash_mismatch"
    # the same user id signed with another inbox's secret does not pass
    other = identity_hmac("another-secret", "shop-user-42")
    r = app_client.post(f"/api/v1/webchat/{world.inbox_a}/sessions",
                        json={"user_id": "shop-user-42", "user_hash": other})
    assert r.status_code == 401


def _settings(uows, world, **kw):
    with uows() as uow:
        inbox_actions.do_update_inbox(uow, world.admin_wang, world.inbox_a,
                                      InboxUpdate(settings=WebchatSettings(**kw)))


def test_required_prechat_blocks_until_filled(app_client, world, uows):
    _settings(uows, world, prechat_enabled=True, prechat_fields=["name", "phone"],
              prechat_required=True)
    s = start(app_client, world.inbox_a)
    assert s["inbox"]["prechat_required"] is True
    r = send(app_client, world.inbox_a, s["token"], "hi", "p1")
    assert r.status_code == 422 and r.json()["error"]["code"] == "prechat_required"
    r = app_client.patch(f"/api/v1/webchat/{world.inbox_a}/contact",
                         headers={"Authorization": f"Visitor {s['token']}"},
                         json={"name": "钱女士", "phone": "13800138000"})
    assert r.status_code == 200 and r.json()["name"] == "钱女士"
    assert send(app_client, world.inbox_a, s["token"], "hi", "p1").status_code == 201


def test_allowed_origins_and_cors(app_client, world):
    _settings(uows=app_client.app.state.services.uows, world=world,
              allowed_origins=["https://shop.example.com"])
    ok = app_client.post(f"/api/v1/webchat/{world.inbox_a}/sessions", json={},
                         headers={"Origin": "https://shop.example.com"})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://shop.example.com"
    bad = app_client.post(f"/api/v1/webchat/{world.inbox_a}/sessions", json={},
                          headers={"Origin": "https://evil.example.net"})
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "origin_not_allowed"
    pre = app_client.options(f"/api/v1/webchat/{world.inbox_a}/messages",
                             headers={"Origin": "https://shop.example.com",
                                      "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204
    assert "Authorization" in pre.headers["access-control-allow-headers"]


def test_disabled_inbox_is_gone_for_visitors(app_client, world, uows):
    s = start(app_client, world.inbox_a)
    with uows() as uow:
        inbox_actions.do_update_inbox(uow, world.admin_wang, world.inbox_a,
                                      InboxUpdate(is_active=False))
    r = send(app_client, world.inbox_a, s["token"], "hi", "d1")
    assert r.status_code == 404
    with uows(readonly=True) as uow:
        assert uow.session.get(Inbox, world.inbox_a).is_active is False


def test_resume_in_an_old_conversation_beyond_the_recent_ones(app_client, world, uows):
    s = start(app_client, world.inbox_a)
    convs = []
    for i in range(7):
        ack = send(app_client, world.inbox_a, s["token"], f"第{i}个问题", f"old-{i}").json()
        convs.append(ack["conversation_id"])
        with uows() as uow:
            inbox_actions.do_set_status(uow, world.agent_li, ack["conversation_id"],
                                        status="resolved")
    assert len(set(convs)) == 7
    r = app_client.get(f"/api/v1/webchat/{world.inbox_a}/messages",
                       params={"conversation_id": convs[0], "after_seq": 0},
                       headers={"Authorization": f"Visitor {s['token']}"})
    texts = [m["content"] for m in r.json()["messages"]]
    assert texts[0] == "第0个问题"
    assert texts == [f"第{i}个问题" for i in range(7)]
