"""The per-workspace, in-memory knowledge index of this process.

Built from the database the first time a workspace is used (``warm`` builds them all at start)
and kept current by the ``kb.*`` events: one entry's edit is one ``MatchEngine.upsert`` (no
rebuild); a dictionary change (synonyms, terms, stop words) rebuilds that workspace's engine
off to the side and swaps it in. Only published entries are indexed; validity dates are checked
at query time, so a 双11 policy switches itself on and off with no timer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.core.events import Event, EventBus
from kefu.kb.dense import Encoder, load_encoder
from kefu.kb.engine import Candidate, EngineConfig, Entry, MatchEngine
from kefu.kb.events import DictionaryChanged, DocumentChanged, EntryChanged, SmallTalkChanged
from kefu.kb.hybrid import HybridMatcher
from kefu.kb.models import Document, FaqEntry, Passage, SmallTalk, Synonym
from kefu.kb.passages import PassageHit, PassageIndex, load_passage_index
from kefu.nlp.tokenise import DEFAULT_STOP_WORDS, Tokeniser

if TYPE_CHECKING:
    from kefu.core.uow import UowFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntryInfo:
    id: str
    question: str
    answer: str
    channel_answers: dict[str, str]
    related_ids: tuple[str, ...]
    category_id: str | None
    valid_from: datetime | None
    valid_until: datetime | None

    def valid_at(self, now: datetime) -> bool:
        return ((self.valid_from is None or self.valid_from <= now)
                and (self.valid_until is None or now < self.valid_until))

    def answer_for(self, channel: str) -> str:
        return self.channel_answers.get(channel) or self.answer


@dataclass(frozen=True)
class Hit:
    """A candidate entry with what the bot and the agents' panel show of it."""

    entry: EntryInfo
    confidence: float
    score: float
    matched: str


def _entry(row: FaqEntry) -> Entry:
    return Entry(id=row.id, question=row.question,
                 phrasings=(*row.phrasings, *row.keywords), answer=row.answer)


def _info(row: FaqEntry) -> EntryInfo:
    return EntryInfo(id=row.id, question=row.question, answer=row.answer,
                     channel_answers=dict(row.channel_answers),
                     related_ids=tuple(row.related_ids), category_id=row.category_id,
                     valid_from=row.valid_from, valid_until=row.valid_until)


def build_tokeniser(session: Session, workspace_id: str) -> Tokeniser:
    terms: list[str] = []
    groups: list[list[str]] = []
    stop = set(DEFAULT_STOP_WORDS)
    for syn in session.scalars(select(Synonym).where(Synonym.workspace_id == workspace_id)
                               .order_by(Synonym.created_at, Synonym.id)):
        if syn.kind == "synonym":
            groups.append(list(syn.terms))
        elif syn.kind == "term":
            terms.extend(syn.terms)
        elif syn.kind == "stop":
            stop.update(syn.terms)
    return Tokeniser(terms=terms, synonyms=groups, stop_words=stop)


@dataclass
class WorkspaceKb:
    workspace_id: str
    engine: MatchEngine
    info: dict[str, EntryInfo]
    smalltalk: MatchEngine
    replies: dict[str, str]
    passages: PassageIndex
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: the engine fused with a dense encoder (``KEFU_BOT_ENCODER_PATH``); None = lexical only
    matcher: HybridMatcher | None = None
    #: while a compacted copy is being built: the edits to replay onto it before the swap
    pending: list[tuple[str, Entry | str]] | None = None

    @classmethod
    def load(cls, session: Session, workspace_id: str,
             encoder: Encoder | None = None) -> WorkspaceKb:
        tok = build_tokeniser(session, workspace_id)
        rows = list(session.scalars(select(FaqEntry).where(
            FaqEntry.workspace_id == workspace_id, FaqEntry.status == "published")))
        # removals never rebuild on the caller's thread: KbIndex compacts off to the side
        engine = MatchEngine((_entry(r) for r in rows), tokeniser=tok,
                             config=EngineConfig(auto_compact=False))
        kb = cls(workspace_id, engine, {r.id: _info(r) for r in rows},
                 MatchEngine(tokeniser=tok), {}, load_passage_index(session, workspace_id, tok))
        kb.load_smalltalk(session)
        if encoder is not None:
            kb.matcher = HybridMatcher(engine, encoder)
        return kb

    def load_smalltalk(self, session: Session) -> None:
        items = list(session.scalars(select(SmallTalk).where(
            SmallTalk.workspace_id == self.workspace_id)))
        engine = MatchEngine((Entry(id=s.id, question=s.phrasings[0],
                                    phrasings=tuple(s.phrasings[1:])) for s in items),
                             tokeniser=self.engine.tokeniser)
        with self.lock:
            self.smalltalk = engine
            self.replies = {s.id: s.reply for s in items}

    def apply_document(self, session: Session, document_id: str) -> None:
        """Re-index one document's passages (gone if it was deleted or unpublished)."""
        rows = list(session.execute(
            select(Passage.id, Document.title, Passage.heading, Passage.text)
            .join(Document, Document.id == Passage.document_id)
            .where(Document.id == document_id, Document.workspace_id == self.workspace_id,
                   Document.status == "published").order_by(Passage.ordinal)))
        with self.lock:
            self.passages.remove_document(document_id)
            for pid, title, heading, text in rows:
                self.passages.add(pid, document_id, title, heading, text)
            self.passages.merge()

    def apply(self, row: FaqEntry | None, entry_id: str) -> None:
        with self.lock:
            target = self.matcher or self.engine  # the matcher keeps engine and vectors in step
            if row is None or row.status != "published":
                target.remove(entry_id)
                self.info.pop(entry_id, None)
                if self.pending is not None:
                    self.pending.append(("remove", entry_id))
            else:
                entry = _entry(row)
                target.upsert(entry)
                self.info[row.id] = _info(row)
                if self.pending is not None:
                    self.pending.append(("upsert", entry))

    def compact(self) -> None:
        """Swap in a compacted copy of the engine, built without holding the lock (queries
        and edits go on meanwhile; edits are replayed onto the copy before the swap)."""
        with self.lock:
            if self.pending is not None:
                return  # one compaction at a time
            self.pending = []
            old = self.engine
            entries = list(old.entries.values())
        try:
            fresh = MatchEngine(entries, tokeniser=old.tokeniser, config=old.config,
                                reranker=old.reranker)
            with self.lock:
                for op, item in self.pending:
                    if op == "upsert":
                        assert isinstance(item, Entry)
                        fresh.upsert(item)
                    else:
                        fresh.remove(str(item))
                fresh.reranker = self.engine.reranker  # trained meanwhile? keep the newest
                self.engine = fresh
                if self.matcher is not None:
                    self.matcher.engine = fresh
        finally:
            with self.lock:
                self.pending = None

    def search(self, text: str, *, now: datetime, k: int = 5,
               include_invalid: bool = False) -> list[Hit]:
        with self.lock:
            cands: list[Candidate] = (self.matcher or self.engine).match(text, k=k + 5)
            hits = [Hit(self.info[c.entry_id], c.confidence, c.score, c.matched_phrasing)
                    for c in cands if c.entry_id in self.info]
        if not include_invalid:
            hits = [h for h in hits if h.entry.valid_at(now)]
        return hits[:k]


class KbIndex:
    """The knowledge index of every workspace this process serves."""

    def __init__(self, uows: UowFactory, encoder_path: str = "") -> None:
        self.uows = uows
        #: the dense encoder of ``KEFU_BOT_ENCODER_PATH``, loaded now so that a bad path or a
        #: missing ``kefu[dense]`` install stops the process at start
        self.encoder: Encoder | None = load_encoder(encoder_path) if encoder_path else None
        self._kbs: dict[str, WorkspaceKb] = {}
        self._lock = threading.Lock()
        #: first loads wait for each other (the warm thread and a bot turn may both ask)
        self._first_load = threading.RLock()
        #: kb.* events seen while a workspace is being (re)loaded, replayed before the swap
        self._replay: dict[str, list[Event]] = {}
        #: the newest load of each workspace: an older load that finishes later is dropped
        self._generation: dict[str, int] = {}
        #: rebuilds and re-ranker training run on a thread in production, inline in tests
        self.background = True
        #: train each workspace's re-ranker (``kb.learn``) from its own phrasings
        self.learn = True

    def get(self, workspace_id: str) -> WorkspaceKb:
        kb = self._kbs.get(workspace_id)
        if kb is not None:
            return kb
        with self._first_load:
            while (kb := self._kbs.get(workspace_id)) is None:
                kb = self._load(workspace_id)
                if kb is not None:
                    break
            return kb

    def _load(self, workspace_id: str) -> WorkspaceKb | None:
        """Load a workspace from the database, replay the kb.* events that arrived meanwhile
        and install it, unless a newer load started (then None: the newer one installs)."""
        with self._lock:
            generation = self._generation[workspace_id] = \
                self._generation.get(workspace_id, 0) + 1
            self._replay.setdefault(workspace_id, [])
        try:
            with self.uows(readonly=True) as uow:
                kb = WorkspaceKb.load(uow.session, workspace_id, self.encoder)
            while True:
                with self._lock:
                    if self._generation.get(workspace_id) != generation:
                        return None
                    pending = self._replay.get(workspace_id, [])
                    if not pending:
                        self._replay.pop(workspace_id, None)
                        self._kbs[workspace_id] = kb
                        break
                    self._replay[workspace_id] = []
                for event in pending:
                    self._apply_event(kb, event)
        except Exception:
            with self._lock:
                if self._generation.get(workspace_id) == generation:
                    self._replay.pop(workspace_id, None)
            raise
        self._train(kb)
        return kb

    def _train(self, kb: WorkspaceKb) -> None:
        """Learn the workspace's re-ranker from its own phrasings (every phrasing of an entry
        is a paraphrase of the others) and attach it. Needs ``MIN_TRAINING_QUERIES`` held-out
        phrasings: a model fitted on less is noise. Entries edited later are scored with the
        model as it is (it generalises over words, not entries)."""
        if not self.learn:
            return
        with kb.lock:
            entries = list(kb.engine.entries.values())
            tokeniser, config = kb.engine.tokeniser, kb.engine.config
        from kefu.kb import learn

        if sum(len(e.texts()) - 1 for e in entries) < learn.MIN_TRAINING_QUERIES:
            return

        def run() -> None:
            try:
                model = learn.train(MatchEngine(entries, tokeniser=tokeniser, config=config))
                with kb.lock:
                    kb.engine.reranker = model
            except Exception:
                log.exception("training the re-ranker of %s failed", kb.workspace_id)

        if self.background:
            threading.Thread(target=run, name="kefu-kb-learn", daemon=True).start()
        else:
            run()

    def warm(self, workspace_ids: Iterable[str]) -> None:
        for ws in workspace_ids:
            self.get(ws)

    def search(self, workspace_id: str, text: str, *, now: datetime, k: int = 5,
               include_invalid: bool = False) -> list[Hit]:
        return self.get(workspace_id).search(text, now=now, k=k, include_invalid=include_invalid)

    def smalltalk(self, workspace_id: str, text: str, threshold: float = 0.6
                  ) -> tuple[str, float] | None:
        kb = self.get(workspace_id)
        with kb.lock:
            cands = kb.smalltalk.match(text, k=1)
            if not cands or cands[0].confidence < threshold:
                return None
            return kb.replies[cands[0].entry_id], cands[0].confidence

    def passage(self, workspace_id: str, text: str) -> PassageHit | None:
        """The best document passage for ``text``, or None."""
        kb = self.get(workspace_id)
        with kb.lock:
            hits = kb.passages.best(text, k=1)
        return hits[0] if hits else None

    def entry(self, workspace_id: str, entry_id: str) -> EntryInfo | None:
        return self.get(workspace_id).info.get(entry_id)

    # -- following the events ----------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        ws = event.workspace_id
        with self._lock:
            loading = ws in self._replay
            if loading:
                self._replay[ws].append(event)
            kb = self._kbs.get(ws)
        if isinstance(event, DictionaryChanged):
            if kb is not None or loading:
                self._rebuild(ws)  # a new tokeniser: load again (supersedes running loads)
            return
        if kb is not None:  # not loaded yet: its first load reads the database anyway
            self._apply_event(kb, event)
            if isinstance(event, EntryChanged) and kb.engine.needs_compaction():
                self._run(kb.compact, "kefu-kb-compact")

    def _apply_event(self, kb: WorkspaceKb, event: Event) -> None:
        with self.uows(readonly=True) as uow:
            if isinstance(event, EntryChanged):
                row = None if event.deleted else uow.session.get(FaqEntry, event.entry_id)
                kb.apply(row, event.entry_id)
            elif isinstance(event, SmallTalkChanged):
                kb.load_smalltalk(uow.session)
            elif isinstance(event, DocumentChanged):
                kb.apply_document(uow.session, event.document_id)

    def _rebuild(self, workspace_id: str) -> None:
        def work() -> None:
            self._load(workspace_id)

        self._run(work, "kefu-kb-rebuild")

    def _run(self, work: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("%s failed", name)

        if self.background:
            threading.Thread(target=run, name=name, daemon=True).start()
        else:
            run()

    def register(self, bus: EventBus) -> None:
        for kind in (EntryChanged, DictionaryChanged, SmallTalkChanged, DocumentChanged):
            bus.subscribe(kind.model_fields["type"].default, self.on_event)
