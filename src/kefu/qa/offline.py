"""Offline inspection of exported conversation logs (``kefu qa inspect``): no database, no
server. One conversation per JSON line in, one result line per conversation out, in input
order, sharded over worker processes.

Input line — a chat::

    {"id": "c1", "channel": "web", "messages": [{"role": "customer"|"agent"|"bot",
     "text": "…", "ts": "2026-11-11T10:00:00+08:00"}, …],
     "facts": {"transfers": 0, "csat": 5, "bot_failed_handoff": false, "repeat_contact": false}}

or a phone-call transcript (speaker turns in milliseconds from ``started_at``)::

    {"id": "call1", "channel": "phone", "started_at": "2026-11-11T10:00:00+08:00",
     "turns": [{"speaker": "agent"|"customer", "start_ms": 0, "end_ms": 2300, "text": "…"}, …]}

Output line: ``{"id", "score", "fatal", "hits": [{"rule_id", "rule_name", "kind",
"message_index", "span", "deduction"}]}``; a line that cannot be used gives
``{"id": …|null, "line": n, "error": {"field": "messages[3].ts", "message": "…"}}`` instead
(and the run's exit status says so), never a stack trace.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from kefu.qa.engine import (
    MAX_CONVERSATION_MESSAGES,
    CompiledRules,
    Hit,
    Scorecard,
    compile_rules,
    default_rules,
    inspect,
    score,
)
from kefu.qa.rules import ConversationFacts, Message
from kefu.qa.spec import RuleSet, load_ruleset, rule_to_dict, ruleset_from_obj

#: messages (or turns) of one conversation we inspect; a larger one is refused
MAX_MESSAGES = MAX_CONVERSATION_MESSAGES
#: characters of one input line
MAX_LINE_BYTES = 50_000_000
#: the longest call we accept, in milliseconds (one day)
MAX_CALL_MS = 86_400_000
ROLES: frozenset[str] = frozenset({"customer", "agent", "bot"})
CHUNK_LINES = 256


class InputError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _ts(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise InputError(where, "must be an ISO-8601 time string with a UTC offset")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(where, f"not an ISO-8601 time: {value[:40]!r}") from None
    if ts.tzinfo is None:
        raise InputError(where, f"no UTC offset in {value[:40]!r} (add +08:00 or Z)")
    return ts


def _facts(raw: object) -> ConversationFacts | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InputError("facts", "must be an object")
    unknown = sorted(set(raw) - {"transfers", "csat", "bot_failed_handoff", "repeat_contact"})
    if unknown:
        raise InputError(f"facts.{unknown[0]}", "unknown field")
    transfers = raw.get("transfers", 0)
    if isinstance(transfers, bool) or not isinstance(transfers, int) or transfers < 0:
        raise InputError("facts.transfers", "must be a non-negative integer")
    csat = raw.get("csat")
    if csat is not None and (isinstance(csat, bool) or not isinstance(csat, int)
                             or not 1 <= csat <= 5):
        raise InputError("facts.csat", "must be an integer from 1 to 5, or null")
    flags = {}
    for name in ("bot_failed_handoff", "repeat_contact"):
        value = raw.get(name, False)
        if not isinstance(value, bool):
            raise InputError(f"facts.{name}", "must be true or false")
        flags[name] = value
    return ConversationFacts(transfers=transfers, csat=csat, **flags)


def _chat(raw: list[Any]) -> list[Message]:
    messages: list[Message] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping):
            raise InputError(where, "must be an object with role, text and ts")
        role = m.get("role")
        if role not in ROLES:
            raise InputError(f"{where}.role", f"must be customer, agent or bot, not {role!r}")
        text = m.get("text")
        if not isinstance(text, str):
            raise InputError(f"{where}.text", "must be a string")
        messages.append(Message(role, text, _ts(m.get("ts"), f"{where}.ts")))
    return messages


def _turns(raw: list[Any], started: datetime) -> list[Message]:
    """Speaker turns → messages with start and end times. Two turns of the SAME speaker may
    not overlap; turns of different speakers may (an interruption)."""
    messages: list[Message] = []
    last_end: dict[str, int] = {}
    last_start = -1
    for i, t in enumerate(raw):
        where = f"turns[{i}]"
        if not isinstance(t, Mapping):
            raise InputError(where, "must be an object with speaker, start_ms, end_ms, text")
        speaker = t.get("speaker")
        if speaker not in ROLES:
            raise InputError(f"{where}.speaker",
                             f"must be customer, agent or bot, not {speaker!r}")
        start, end = t.get("start_ms"), t.get("end_ms")
        for name, value in (("start_ms", start), ("end_ms", end)):
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                raise InputError(f"{where}.{name}", "must be a number of milliseconds")
            if value < 0:
                raise InputError(f"{where}.{name}", f"negative time {value}")
            if value > MAX_CALL_MS:
                raise InputError(f"{where}.{name}", f"{value} ms is longer than a day")
        assert isinstance(start, int | float) and isinstance(end, int | float)
        if end < start:
            raise InputError(f"{where}.end_ms", f"ends ({end}) before it starts ({start})")
        if start < last_start:
            raise InputError(f"{where}.start_ms", "turns must be in order of start time")
        if start < last_end.get(speaker, -1):
            raise InputError(f"{where}.start_ms",
                             f"overlaps the previous {speaker} turn, which ends at "
                             f"{last_end[speaker]} ms")
        text = t.get("text")
        if not isinstance(text, str):
            raise InputError(f"{where}.text", "must be a string")
        last_start, last_end[speaker] = int(start), int(end)
        messages.append(Message(speaker, text, started + timedelta(milliseconds=start),
                                started + timedelta(milliseconds=end)))
    return messages


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    channel: str | None
    messages: list[Message]
    facts: ConversationFacts | None


def parse_conversation(data: object) -> Conversation:
    """One input object → a conversation, or ``InputError`` naming the field."""
    if not isinstance(data, Mapping):
        raise InputError("", "a line must be a JSON object")
    cid = data.get("id")
    if not isinstance(cid, str | int) or isinstance(cid, bool) or str(cid) == "":
        raise InputError("id", "must be a non-empty string")
    channel = data.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise InputError("channel", "must be a string")
    has_messages, has_turns = "messages" in data, "turns" in data
    if has_messages == has_turns:
        raise InputError("messages", "give either messages (a chat) or turns (a call)")
    key = "messages" if has_messages else "turns"
    raw = data.get(key)
    if not isinstance(raw, list):
        raise InputError(key, "must be a list")
    if len(raw) > MAX_MESSAGES:
        raise InputError(key, f"{len(raw)} {key}: at most {MAX_MESSAGES} per conversation")
    if has_messages:
        messages = _chat(raw)
    else:
        messages = _turns(raw, _ts(data.get("started_at"), "started_at"))
    return Conversation(str(cid), channel, messages, _facts(data.get("facts")))


def hit_json(h: Hit) -> dict[str, Any]:
    return {"rule_id": h.rule_id, "rule_name": h.rule_name, "kind": h.kind,
            "message_index": h.message_index,
            "span": list(h.span) if h.span is not None else None, "deduction": h.deduction}


@dataclass
class Inspector:
    """Compiled rules per channel plus the scorecard; one per process."""

    ruleset: RuleSet
    _by_channel: dict[str | None, CompiledRules] = field(default_factory=dict)

    def compiled(self, channel: str | None) -> CompiledRules:
        got = self._by_channel.get(channel)
        if got is None:
            rules = [r for r in self.ruleset.rules
                     if not r.channels or channel is None or channel in r.channels]
            got = self._by_channel[channel] = compile_rules(rules, self.ruleset.packs)
        return got

    @property
    def scorecard(self) -> Scorecard:
        return self.ruleset.scorecard

    def line(self, raw: bytes, lineno: int) -> tuple[str, int, Counter[str], bool]:
        """One input line → (output JSON, messages inspected, hits per rule, ok)."""
        cid: object = None
        try:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError("", f"not UTF-8 (byte {exc.start}); convert the file, e.g. "
                                     "from GBK, to UTF-8") from None
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError("", f"not valid JSON: column {exc.colno}: {exc.msg}") from None
            except RecursionError:
                raise InputError("", "not valid JSON: nested too deeply") from None
            if isinstance(data, Mapping):
                cid = data.get("id")
            try:
                conv = parse_conversation(data)
            except (OverflowError, ValueError) as exc:  # e.g. a time past the year 9999
                if isinstance(exc, InputError):
                    raise
                raise InputError("", f"a value is out of range: {exc}") from None
        except InputError as exc:
            bad = {"id": cid if isinstance(cid, str | int) else None, "line": lineno,
                   "error": {"field": exc.field or None, "message": str(exc)}}
            return json.dumps(bad, ensure_ascii=False), 0, Counter(), False
        try:
            hits = inspect(self.compiled(conv.channel), conv.messages, facts=conv.facts)
        except (ValueError, OverflowError) as exc:  # never one line stopping the run
            bad = {"id": conv.id, "line": lineno,
                   "error": {"field": None, "message": f"cannot be inspected: {exc}"}}
            return json.dumps(bad, ensure_ascii=False), 0, Counter(), False
        result = score(hits, self.scorecard)
        out: dict[str, Any] = {"id": conv.id, "score": result.total, "fatal": result.fatal,
                               "hits": [hit_json(h) for h in hits]}
        return (json.dumps(out, ensure_ascii=False), len(conv.messages),
                Counter(h.rule_id for h in hits), True)

    def chunk(self, chunk: tuple[int, list[bytes]]) -> tuple[list[str], int, Counter[str], int]:
        first, lines = chunk
        outs: list[str] = []
        messages, errors = 0, 0
        per_rule: Counter[str] = Counter()
        for i, raw in enumerate(lines):
            out, n, hits, ok = self.line(raw, first + i)
            outs.append(out)
            messages += n
            per_rule.update(hits)
            errors += not ok
        return outs, messages, per_rule, errors


#: the worker process's inspector (set once by the pool initializer)
_WORKER: list[Inspector] = []


def _init_worker(ruleset_obj: dict[str, Any]) -> None:
    _WORKER.append(Inspector(ruleset_from_obj(ruleset_obj)))


def _work(chunk: tuple[int, list[bytes]]) -> tuple[list[str], int, Counter[str], int]:
    return _WORKER[0].chunk(chunk)


def _chunks(lines: Iterable[bytes], start: int = 1) -> Iterator[tuple[int, list[bytes]]]:
    """Non-blank lines in chunks, each with the 1-based line number of its first line
    (``start``: the number of the first line given)."""
    buf: list[bytes] = []
    first = 0
    for lineno, line in enumerate(lines, start):
        raw = line[3:] if lineno == 1 and line.startswith(b"\xef\xbb\xbf") else line
        if not raw.strip():
            if buf:
                yield first, buf
                buf = []
            continue
        if not buf:
            first = lineno
        buf.append(raw)
        if len(buf) >= CHUNK_LINES:
            yield first, buf
            buf = []
    if buf:
        yield first, buf


@dataclass
class Summary:
    conversations: int = 0
    messages: int = 0
    errors: int = 0
    seconds: float = 0.0
    hits_per_rule: Counter[str] = field(default_factory=Counter)
    rule_names: dict[str, str] = field(default_factory=dict)

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


_Range = tuple[str, int, int, int, str]  # path, start, end, first line number, part file


def _work_range(job: _Range) -> tuple[str, int, int, Counter[str], int, int]:
    """A worker inspects one byte range of the input file into its own part file (no lines
    or results travel between processes)."""
    path, start, end, first, part = job
    inspector = _WORKER[0]
    done = messages = errors = 0
    per_rule: Counter[str] = Counter()
    with open(path, "rb") as f, open(part, "w", encoding="utf-8", newline="\n") as out:
        f.seek(start)
        pos = start

        def lines() -> Iterator[bytes]:
            nonlocal pos
            while pos < end:
                raw = f.readline()
                if not raw:
                    return
                pos += len(raw)
                yield raw if len(raw) <= MAX_LINE_BYTES else b"{}"

        for chunk in _chunks(lines(), first):
            outs, n, hits, bad = inspector.chunk(chunk)
            if outs:
                out.write("\n".join(outs))
                out.write("\n")
            done += len(outs)
            messages += n
            per_rule.update(hits)
            errors += bad
    return part, done, messages, per_rule, errors, end - start


def _split(path: str, pieces: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number) of about ``pieces`` byte ranges, cut at line ends."""
    size = os.path.getsize(path)
    offsets = [0]
    with open(path, "rb") as f:
        for i in range(1, pieces):
            f.seek(size * i // pieces)
            f.readline()
            at = f.tell()
            if at >= size:
                break
            if at > offsets[-1]:
                offsets.append(at)
        offsets.append(size)
        firsts, newlines, prev = [], 0, 0
        for at in offsets[:-1]:
            f.seek(prev)
            left = at - prev
            while left > 0:
                buf = f.read(min(1 << 24, left))
                if not buf:
                    break
                newlines += buf.count(b"\n")
                left -= len(buf)
            firsts.append(newlines + 1)
            prev = at
    return [(offsets[i], offsets[i + 1], firsts[i]) for i in range(len(offsets) - 1)
            if offsets[i + 1] > offsets[i]]


def run(source: IO[bytes], sink: IO[str], ruleset: RuleSet, *, workers: int = 1,
        progress: Callable[[int], None] | None = None, path: str | None = None) -> Summary:
    """Inspect every line of ``source`` into ``sink`` (in order). ``progress`` gets the bytes
    read so far after each chunk. With several ``workers`` and the input's ``path``, each
    worker reads its own byte ranges of the file and writes a part file; the parts are joined
    in order (otherwise lines travel to the workers in chunks)."""
    started = time.perf_counter()
    summary = Summary(rule_names={r.id: r.name for r in ruleset.rules})
    read = 0

    def lines() -> Iterator[bytes]:
        nonlocal read
        for raw in source:
            read += len(raw)
            # a monster line is refused as an object without id (its line number kept)
            yield raw if len(raw) <= MAX_LINE_BYTES else b"{}"

    def take(result: tuple[list[str], int, Counter[str], int]) -> None:
        outs, messages, per_rule, errors = result
        for out in outs:
            sink.write(out)
            sink.write("\n")
        summary.conversations += len(outs)
        summary.messages += messages
        summary.hits_per_rule.update(per_rule)
        summary.errors += errors
        if progress is not None:
            progress(read)

    if workers <= 1:
        inspector = Inspector(ruleset)
        for chunk in _chunks(lines()):
            take(inspector.chunk(chunk))
    else:
        obj = {"rules": [rule_to_dict(r) for r in ruleset.rules],
               "packs": {n: {"terms": list(p.terms), "exclusions": list(p.exclusions)}
                         for n, p in ruleset.packs.items()},
               "scorecard": {"base": ruleset.scorecard.base,
                             "group_weights": dict(ruleset.scorecard.group_weights)}}
        ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(obj,)) as pool:
            if path is None:
                for result in pool.imap(_work, _chunks(lines()), chunksize=1):
                    take(result)
            else:
                with tempfile.TemporaryDirectory(prefix="kefu-qa-") as tmp:
                    pieces = max(workers, min(workers * 16, os.path.getsize(path) >> 20))
                    jobs = [(path, a, b, first, os.path.join(tmp, f"{i:05d}.jsonl"))
                            for i, (a, b, first) in enumerate(_split(path, pieces))]
                    for part, done, messages, per_rule, errors, size in pool.imap(
                            _work_range, jobs, chunksize=1):
                        with open(part, encoding="utf-8", newline="\n") as f:
                            shutil.copyfileobj(f, sink, 1 << 20)
                        os.unlink(part)
                        read += size
                        summary.conversations += done
                        summary.messages += messages
                        summary.hits_per_rule.update(per_rule)
                        summary.errors += errors
                        if progress is not None:
                            progress(read)
    summary.seconds = time.perf_counter() - started
    return summary


def load_rules_file(text: bytes | str | None) -> RuleSet:
    """The rules of ``--rules`` (or the built-in default set)."""
    if text is None:
        return ruleset_from_obj([rule_to_dict(r) for r in default_rules()])
    return load_ruleset(text)
