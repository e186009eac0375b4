"""Channel adapters found by channel type; adding a channel never edits a ``case`` elsewhere."""

from __future__ import annotations

from kefu.channels.base import ChannelAdapter

_ADAPTERS: dict[str, ChannelAdapter] = {}


def register(adapter: ChannelAdapter) -> None:
    _ADAPTERS[adapter.channel_type] = adapter


def get(channel_type: str) -> ChannelAdapter:
    try:
        return _ADAPTERS[channel_type]
    except KeyError:
        raise LookupError(f"no adapter for channel {channel_type!r}") from None


def channel_types() -> list[str]:
    return sorted(_ADAPTERS)
