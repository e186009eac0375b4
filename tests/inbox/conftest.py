from __future__ import annotations

from collections.abc import Callable

import pytest

from kefu.contacts import actions as contact_actions
from kefu.core.events import Event
from kefu.core.uow import UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.inbox.actions import Posted
from kefu.inbox.models import Inbox


@pytest.fixture
def events(svc) -> list[Event]:
    seen: list[Event] = []
    svc.bus.subscribe_all(seen.append)
    return seen


@pytest.fixture
def visitor_says(uows: UowFactory, world) -> Callable[..., Posted]:
    """``visitor_says("你好", visitor="v1")``: a web chat customer's message in inbox A."""

    def say(text: str, *, visitor: str = "visitor_zhao", client_msg_id: str | None = None,
            inbox_id: str | None = None, workspace_id: str | None = None) -> Posted:
        with uows() as uow:
            inbox = uow.session.get(Inbox, inbox_id or world.inbox_a)
            assert inbox is not None
            contact = contact_actions.do_resolve_contact(
                uow, workspace_id=workspace_id or world.ws_a, kind="webchat_visitor",
                external_id=visitor, name=visitor)
            return inbox_actions.do_receive_inbound(uow, inbox=inbox, contact=contact,
                                                    content=text, client_msg_id=client_msg_id)

    return say
