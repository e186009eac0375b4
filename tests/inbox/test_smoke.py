from kefu.contacts import actions as contact_actions
from kefu.inbox import actions as inbox_actions
from kefu.inbox.models import Inbox


def test_receive_then_reply(uows, world):
    with uows() as uow:
        inbox = uow.session.get(Inbox, world.inbox_a)
        contact = contact_actions.do_resolve_contact(uow, workspace_id=world.ws_a,
                                                     kind="webchat_visitor", external_id="v1")
        posted = inbox_actions.do_receive_inbound(uow, inbox=inbox, contact=contact,
                                                  content="你好", client_msg_id="m1")
        conv_id = posted.conversation.id
    with uows() as uow:
        reply = inbox_actions.do_agent_reply(uow, world.agent_li, conv_id, content="您好")
        assert reply.message.seq == 2
        assert reply.conversation.assignee_id == world.agent_li.user_id


def test_api_login(app_client, world):
    from tests.conftest import login

    login(app_client, "li@a.example.com")
    r = app_client.get("/api/v1/conversations")
    assert r.status_code == 200
    assert r.json()["total"] == 0
