"""The channel adapter protocol: pure wire-format translation, no database.

An adapter turns what a channel sends into :class:`InboundMessage` and checks that a request
really comes from the channel. Transports (the edges) call it; ``inbox.actions`` persists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class InboundMessage:
    channel_type: str
    inbox_id: str
    #: the sender as the channel knows them (identity kind + external id)
    identity_kind: str
    identity_external_id: str
    content: str
    #: idempotency key from the sender (client message id, WeChat MsgId, Message-ID…)
    external_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ChannelAdapter(Protocol):
    channel_type: str
    #: the longest text the channel accepts in one message
    max_text: int
