"""Knowledge-center events. The in-memory index (``kb.index``) follows them."""

from __future__ import annotations

from typing import Literal

from kefu.core.events import Event


class EntryChanged(Event):
    """An FAQ entry was created, edited, published, archived, rolled back or deleted."""

    type: Literal["kb.entry_changed"] = "kb.entry_changed"
    entry_id: str
    deleted: bool = False


class DictionaryChanged(Event):
    """Synonyms, protected terms or stop words changed: the workspace's index is rebuilt."""

    type: Literal["kb.dictionary_changed"] = "kb.dictionary_changed"


class SmallTalkChanged(Event):
    type: Literal["kb.smalltalk_changed"] = "kb.smalltalk_changed"


class DocumentChanged(Event):
    type: Literal["kb.document_changed"] = "kb.document_changed"
    document_id: str
    deleted: bool = False
