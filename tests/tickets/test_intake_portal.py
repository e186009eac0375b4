"""The customer portal (signed links) and the self-service form with e-mail verification."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kefu.config import Settings
from kefu.core.clock import FixedClock
from kefu.core.uow import UowFactory
from kefu.tickets import portal
from kefu.tickets.actions import do_create_ticket, do_reply, do_update_ticket
from kefu.tickets.models import Ticket, TicketEvent, TicketFile, TicketSubmission
from kefu.tickets.schemas import ContactRef, TicketCreate, TicketUpdate
from kefu.tickets.templates import TemplateCreate, do_create_template
from tests.conftest import SmtpSink, World

INVALID = "链接无效或已过期"


def make_ticket(uows: UowFactory, world: World, email: str = "kehu@example.com",
                subject: str = "发票开错了") -> Ticket:
    with uows() as uow:
        return do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                                data=TicketCreate(subject=subject, description="抬头写错",
                                                  contact=ContactRef(email=email)),
                                source="agent")


def views(uows: UowFactory, ticket_id: str) -> int:
    with uows(readonly=True) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "customer_viewed")) or 0)


def nonce_of(html: str) -> str:
    m = re.search(r'name="nonce" value="([^"]+)"', html)
    assert m, "no nonce in the form"
    return m.group(1)


def test_portal_shows_only_the_public_timeline(app_client: TestClient, world: World,
                                               uows: UowFactory, settings: Settings) -> None:
    t = make_ticket(uows, world)
    with uows() as uow:
        do_reply(uow, world.agent_li, t.id, body="内部：找财务 li@a.example.com", public=False)
        do_reply(uow, world.agent_li, t.id, body="您好，已为您重开发票。", public=True)
        do_update_ticket(uow, world.agent_li, t.id, TicketUpdate(status="pending"))
    path = portal.path_for(settings, t)
    r = app_client.get(path)
    assert r.status_code == 200
    assert f"#{t.number}" in r.text and "发票开错了" in r.text
    assert "您好，已为您重开发票。" in r.text and "李晓月" in r.text
    assert "内部" not in r.text and "li@a.example.com" not in r.text
    assert 'name="nonce"' in r.text
    assert portal.link_for(settings, t).endswith(path)


def test_view_recorded_once_per_ten_minutes(app_client: TestClient, world: World,
                                            uows: UowFactory, settings: Settings,
                                            clock: FixedClock) -> None:
    t = make_ticket(uows, world)
    path = portal.path_for(settings, t)
    for _ in range(5):
        assert app_client.get(path).status_code == 200
    assert views(uows, t.id) == 1
    clock.advance(minutes=9)
    app_client.get(path)
    assert views(uows, t.id) == 1
    clock.advance(minutes=2)
    app_client.get(path)
    assert views(uows, t.id) == 2
    with uows(readonly=True) as uow:
        ev = uow.session.scalar(select(TicketEvent).where(
            TicketEvent.ticket_id == t.id, TicketEvent.kind == "customer_viewed"))
        assert ev is not None and ev.actor_type == "customer" and not ev.public


def test_bad_links_get_the_same_clear_404(app_client: TestClient, world: World,
                                          uows: UowFactory, settings: Settings) -> None:
    mine = make_ticket(uows, world)
    other = make_ticket(uows, world, email="someone@example.com", subject="别人的")
    token = portal.token_for(settings, mine.id, mine.contact_id)
    forged = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # tampered signature
        "not-a-token",
        portal.token_for(settings, other.id, mine.contact_id),  # someone else's ticket
        portal.token_for(Settings(env="test",
                                  secret_key="another-secret-key-0123456789-abcdefgh"),
                         mine.id, mine.contact_id),
    ]
    for bad in forged:
        r = app_client.get(f"/portal/t/{bad}")
        assert r.status_code == 404, bad
        assert INVALID in r.text or "invalid or has expired" in r.text
        r = app_client.post("/portal/reply", data={"token": bad, "nonce": portal.form_nonce(
            settings, bad), "body": "hi"})
        assert r.status_code == 404
    assert views(uows, mine.id) == 0 and views(uows, other.id) == 0


def test_merged_ticket_link_is_invalid(app_client: TestClient, world: World,
                                       uows: UowFactory, settings: Settings) -> None:
    a = make_ticket(uows, world)
    b = make_ticket(uows, world, subject="重复")
    with uows() as uow:
        t = uow.session.get(Ticket, a.id)
        assert t is not None
        t.merged_into_id = b.id  # as the merge action leaves it
    assert app_client.get(portal.path_for(settings, a)).status_code == 404


def test_reply_with_attachment(app_client: TestClient, world: World, uows: UowFactory,
                               settings: Settings) -> None:
    t = make_ticket(uows, world)
    path = portal.path_for(settings, t)
    token = path.rsplit("/", 1)[1]
    nonce = nonce_of(app_client.get(path).text)
    r = app_client.post("/portal/reply", data={"token": token, "nonce": nonce,
                                               "body": "抬头应为：上海鲜果有限公司"},
                        files=[("files", ("营业执照.png", b"\x89PNG\r\n\x1a\nxx", "image/png"))],
                        follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{path}?sent=1#reply"
    with uows(readonly=True) as uow:
        ev = uow.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == t.id,
                                                          TicketEvent.kind == "customer"))
        assert ev is not None and ev.body == "抬头应为：上海鲜果有限公司"
        assert ev.data["via"] == "portal" and len(ev.data["file_ids"]) == 1
        f = uow.session.get(TicketFile, ev.data["file_ids"][0])
        assert f is not None and f.name == "营业执照.png" and f.ticket_id == t.id
    page = app_client.get(f"{path}?sent=1")
    assert "上海鲜果有限公司" in page.text and 'id="portal-sent"' in page.text
    dl = app_client.get(f"{path}/files/{f.id}")
    assert dl.status_code == 200 and dl.content.startswith(b"\x89PNG")
    # a file of the ticket that is not public (an internal note's) is not served
    with uows() as uow:
        from kefu.tickets.files import do_store_file

        secret = do_store_file(uow, workspace_id=world.ws_a, name="internal.txt",
                               content_type="text/plain", data=b"x", uploaded_by=None,
                               ticket_id=t.id)
    assert app_client.get(f"{path}/files/{secret.id}").status_code == 404


def test_reply_refused_without_nonce_or_from_another_site(
        app_client: TestClient, world: World, uows: UowFactory, settings: Settings) -> None:
    t = make_ticket(uows, world)
    token = portal.token_for(settings, t.id, t.contact_id)
    nonce = portal.form_nonce(settings, token)
    r = app_client.post("/portal/reply", data={"token": token, "nonce": "x", "body": "hi"})
    assert r.status_code == 403
    r = app_client.post("/portal/reply", data={"token": token, "nonce": nonce, "body": "hi"},
                        headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = app_client.post("/portal/reply", data={"token": token, "nonce": nonce, "body": "  "})
    assert r.status_code == 422 and "portal-error" in r.text
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(TicketEvent.id).where(
            TicketEvent.ticket_id == t.id, TicketEvent.kind == "customer")) is None


# -- self-service -----------------------------------------------------------------------------

def public_template(uows: UowFactory, world: World) -> str:
    with uows() as uow:
        return do_create_template(uow, world.admin_wang, TemplateCreate(
            name="退换货", public=True, default_priority="P2", fields=[
                {"key": "order_no", "label": "订单号", "type": "text", "required": True},
                {"key": "amount", "label": "金额", "type": "number", "min": 0},
                {"key": "photos", "label": "照片", "type": "attachment"},
                {"key": "tags", "label": "渠道", "type": "multiselect",
                 "options": ["app", "web"]}])).id


def form_token(app_client: TestClient) -> str:
    page = app_client.get("/support/shop-a")
    assert page.status_code == 200
    m = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def submit(app_client: TestClient, tid: str, **over: Any) -> Any:
    data = {"slug": "shop-a", "form_token": form_token(app_client), "template_id": tid,
            "subject": "收到的货少了一件", "description": "订单里有两件，只收到一件",
            "email": "Buyer@Example.com", "phone": "138 0000 0000", "name": "刘女士",
            "f_order_no": "A20261111", "f_amount": "１２０", "m_tags": "1",
            "f_tags": ["app", "web"], **over}
    return app_client.post("/support/submit", data=data,
                           files=[("file_photos", ("box.jpg", b"\xff\xd8\xffjpeg", "image/jpeg"))])


def test_submit_verify_creates_the_ticket_once(app_client: TestClient, world: World,
                                               uows: UowFactory, smtp_sink: SmtpSink) -> None:
    tid = public_template(uows, world)
    r = submit(app_client, tid)
    assert r.status_code == 200 and 'id="support-sent"' in r.text
    mails = smtp_sink.to("buyer@example.com")
    assert len(mails) == 1
    body = mails[0].get_content()
    m = re.search(r"http://[^\s]+/support/shop-a/verify/([\w-]+)", body)
    assert m, body
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.workspace_id == world.ws_a)) == 0
        sub = uow.session.scalar(select(TicketSubmission))
        assert sub is not None and m.group(1) not in str(sub.payload)
    verify = f"/support/shop-a/verify/{m.group(1)}"
    r1 = app_client.get(verify, follow_redirects=False)
    assert r1.status_code == 303 and r1.headers["location"].startswith("/portal/t/")
    r2 = app_client.get(verify, follow_redirects=False)
    assert r2.headers["location"] == r1.headers["location"]
    with uows(readonly=True) as uow:
        tickets = list(uow.session.scalars(select(Ticket).where(
            Ticket.workspace_id == world.ws_a)))
        assert len(tickets) == 1
        t = tickets[0]
        assert t.source == "portal" and t.priority == "P2" and t.template_id == tid
        assert t.fields["order_no"] == "A20261111" and t.fields["amount"] == 120
        assert t.fields["tags"] == ["app", "web"]
        photo = uow.session.get(TicketFile, t.fields["photos"][0])
        assert photo is not None and photo.ticket_id == t.id
        assert photo.uploaded_by == t.contact_id
    page = app_client.get(r1.headers["location"])
    assert page.status_code == 200 and "收到的货少了一件" in page.text
    # the acknowledgement with the ticket number and the portal link
    acks = [x for x in smtp_sink.to("buyer@example.com") if f"[#{t.number}]" in str(x["Subject"])]
    assert len(acks) == 1 and "/portal/t/" in acks[0].get_content()


def test_invalid_form_names_each_field(app_client: TestClient, world: World,
                                       uows: UowFactory, smtp_sink: SmtpSink) -> None:
    tid = public_template(uows, world)
    r = submit(app_client, tid, subject="", email="not-an-email", f_order_no="",
               f_amount="很多", f_tags=["tv"])
    assert r.status_code == 422
    for name in ("subject", "email", "order_no", "amount", "tags"):
        assert f'id="err-{name}"' in r.text, name
    assert 'value="138 0000 0000"' in r.text  # the form keeps what was typed
    assert smtp_sink.messages == []
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(TicketSubmission.id)) is None


def test_expired_and_unknown_links(app_client: TestClient, world: World, uows: UowFactory,
                                   smtp_sink: SmtpSink, clock: FixedClock) -> None:
    tid = public_template(uows, world)
    submit(app_client, tid)
    m = re.search(r"/support/shop-a/verify/([\w-]+)", smtp_sink.messages[0].get_content())
    assert m
    clock.advance(hours=24, seconds=1)
    r = app_client.get(f"/support/shop-a/verify/{m.group(1)}")
    assert r.status_code == 410 and "已过期" in r.text
    assert app_client.get("/support/shop-a/verify/nope").status_code == 404
    assert app_client.get(f"/support/shop-b/verify/{m.group(1)}").status_code == 404
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(Ticket.id)) is None


def test_form_protection_and_rate_limit(app_client: TestClient, world: World,
                                        uows: UowFactory, smtp_sink: SmtpSink) -> None:
    tid = public_template(uows, world)
    assert submit(app_client, tid, form_token="forged").status_code == 403
    token = form_token(app_client)
    r = app_client.post("/support/submit", data={"slug": "shop-a", "form_token": token},
                        headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    codes = [submit(app_client, tid).status_code for _ in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    assert len(smtp_sink.messages) == 10


def test_support_page_lists_public_templates_only(app_client: TestClient, world: World,
                                                  uows: UowFactory) -> None:
    r = app_client.get("/support/shop-a")
    assert r.status_code == 200 and 'id="support-closed"' in r.text
    assert 'id="support-phone-note"' not in r.text
    tid = public_template(uows, world)
    with uows() as uow:
        do_create_template(uow, world.admin_wang, TemplateCreate(name="内部用", public=False))
    r = app_client.get("/support/shop-a")
    assert "退换货" in r.text and "内部用" not in r.text and tid in r.text
    assert 'id="support-phone-note"' in r.text
    assert app_client.get("/support/no-such-shop").status_code == 404
