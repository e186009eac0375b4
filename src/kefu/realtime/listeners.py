"""Turn committed inbox events into frames for agents' and visitors' sockets."""

from __future__ import annotations

from typing import Any

from kefu.accounts.events import NotificationCreated
from kefu.core.events import Broker, Event, EventBus
from kefu.inbox.events import ConversationCreated, ConversationUpdated, MessageCreated
from kefu.inbox.schemas import ConversationRead, MessageRead
from kefu.realtime.hub import agents_topic, user_topic, visitor_topic

#: ticket events pushed to agents as they are (lists and open ticket pages refresh from them);
#: realtime does not import the tickets domain (a sibling), it forwards by type
TICKET_EVENTS = ("ticket.created", "ticket.changed", "ticket.replied")


def visitor_message(message: MessageRead) -> dict[str, Any]:
    """What a customer may see of a message: no internal ids of agents."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender_type": message.sender_type,
        "sender_name": message.sender_name if message.sender_type != "customer" else "",
        "content": message.content,
        "meta": message.meta,
        "client_msg_id": message.client_msg_id if message.sender_type == "customer" else None,
        "created_at": message.created_at.isoformat(),
    }


def visitor_conversation(conv: ConversationRead) -> dict[str, Any]:
    return {"id": conv.id, "status": conv.status, "last_seq": conv.last_seq}


def frames_for(event: Event) -> list[tuple[str, dict[str, Any]]]:
    """The (topic, frame) pairs an event produces. Pure: no I/O, no queries."""
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(event, MessageCreated):
        conv = event.conversation
        out.append((agents_topic(event.workspace_id), {
            "type": "message.created",
            "message": event.message.model_dump(mode="json"),
            "conversation": conv.model_dump(mode="json"),
        }))
        if not event.message.private:
            out.append((visitor_topic(conv.inbox_id, conv.contact_id), {
                "type": "message", "message": visitor_message(event.message)}))
    elif isinstance(event, ConversationCreated):
        out.append((agents_topic(event.workspace_id), {
            "type": "conversation.created",
            "conversation": event.conversation.model_dump(mode="json")}))
    elif isinstance(event, ConversationUpdated):
        conv = event.conversation
        out.append((agents_topic(event.workspace_id), {
            "type": "conversation.updated", "changed": event.changed,
            "conversation": conv.model_dump(mode="json")}))
        if "status" in event.changed:
            out.append((visitor_topic(conv.inbox_id, conv.contact_id), {
                "type": "conversation", "conversation": visitor_conversation(conv)}))
    elif isinstance(event, NotificationCreated):
        out.append((user_topic(event.user_id), {
            "type": "notification", "id": event.notification_id, "kind": event.kind,
            "title": event.title, "body": event.body, "link": event.link}))
    elif event.type in TICKET_EVENTS:
        out.append((agents_topic(event.workspace_id),
                    event.model_dump(mode="json", exclude={"workspace_id"})))
    return out


def register(bus: EventBus, broker: Broker) -> None:
    def push(event: Event) -> None:
        for topic, frame in frames_for(event):
            broker.publish(topic, frame)

    for kind in ("message.created", "conversation.created", "conversation.updated",
                 "notification.created", *TICKET_EVENTS):
        bus.subscribe(kind, push)
