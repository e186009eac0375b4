"""The optional dense sentence encoder and an in-memory dense index of phrasings.

Everything heavy is imported lazily: the product runs without torch / transformers, and only
:func:`load_encoder` needs them (``pip install 'kefu[dense]'``). The encoder is loaded from a
local directory (a sentence-transformers model folder, or a plain Hugging Face one); nothing is
ever downloaded: the hub is switched off (``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``)
before transformers is imported and every load is ``local_files_only``.

Loader: transformers' ``AutoModel``/``AutoTokenizer`` plus the pooling that the folder's
``modules.json`` / ``1_Pooling/config.json`` declare (mean, CLS or max; then L2 normalisation).
It gives the same vectors as ``sentence_transformers.SentenceTransformer`` (max difference
1.5e-8 on all-MiniLM-L6-v2) at about half the import time and 50 MB less memory, and it runs any
architecture transformers knows (BERT, XLM-R, ...). Folders whose ``modules.json`` lists
modules it cannot reproduce (a ``Dense`` projection, ...) are refused with a clear error rather
than encoded wrongly.

:class:`DenseIndex`: one float32 row per phrasing in a matrix with free slots, so ``upsert`` /
``remove`` of one entry touch only its rows. Search is exact (one matrix-vector product, then the
best phrasing per entry): ≈ 100k × 384 stays within a few milliseconds (see
docs/subsystems/matching.md), far below the encoder's own cost per query.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from kefu.kb.engine import Entry

INSTALL_HINT = "pip install 'kefu[dense]'"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
            "pytorch_model.bin.index.json")
_TOKENISER = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model",
              "tokenizer.model", "vocab.json")
_MODULES_OK = {"sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
               "sentence_transformers.models.Normalize"}


class EncoderUnavailable(RuntimeError):
    """An encoder path is configured but torch / transformers are not installed."""


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of ``dim`` columns."""

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def _pooling(model_dir: Path) -> tuple[Path, str, int | None]:
    """The transformer's folder, the pooling mode and the max sequence length declared by a
    sentence-transformers folder (``modules.json``); a plain HF folder gets mean pooling."""
    modules_file = model_dir / "modules.json"
    mode, max_len, transformer_dir = "mean", None, model_dir
    if modules_file.is_file():
        try:
            modules = json.loads(modules_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"encoder path {model_dir}: unreadable modules.json ({exc})") from exc
        for m in modules:
            kind = str(m.get("type", ""))
            if kind not in _MODULES_OK:
                raise ValueError(
                    f"encoder path {model_dir}: module {kind!r} in modules.json is not supported "
                    "(only Transformer, Pooling and Normalize)")
            sub = model_dir / str(m.get("path", ""))
            if kind.endswith(".Transformer"):
                transformer_dir = sub
            elif kind.endswith(".Pooling"):
                mode = _pooling_mode(sub / "config.json")
    st_config = transformer_dir / "sentence_bert_config.json"
    if st_config.is_file():
        max_len = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
    return transformer_dir, mode, max_len


def _pooling_mode(config: Path) -> str:
    if not config.is_file():
        return "mean"
    cfg = json.loads(config.read_text(encoding="utf-8"))
    modes = [k for k in ("pooling_mode_cls_token", "pooling_mode_mean_tokens",
                         "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                         "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
             if cfg.get(k)]
    if mode := cfg.get("pooling_mode"):  # newer sentence-transformers write one string
        modes = [f"pooling_mode_{mode}"]
    known = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
             "pooling_mode_mean": "mean", "pooling_mode_cls": "cls", "pooling_mode_max": "max",
             "pooling_mode_max_tokens": "max"}
    if len(modes) != 1 or modes[0] not in known:
        raise ValueError(f"{config}: pooling {modes or 'none'} is not supported "
                         "(one of mean, cls, max)")
    return known[modes[0]]


def check_model_dir(path: str) -> Path:
    """The model folder ``path`` names, or a ``ValueError`` saying what is wrong with it."""
    if not path.strip():
        raise ValueError("encoder path is empty")
    p = Path(path).expanduser()
    if not p.exists():
        raise ValueError(f"encoder path {path!r} does not exist")
    if not p.is_dir():
        raise ValueError(f"encoder path {path!r} is not a directory")
    transformer_dir, _, _ = _pooling(p)
    missing = []
    if not (transformer_dir / "config.json").is_file():
        missing.append("config.json")
    if not any((transformer_dir / w).is_file() for w in _WEIGHTS):
        missing.append("weights (model.safetensors or pytorch_model.bin)")
    if not any((transformer_dir / t).is_file() for t in _TOKENISER):
        missing.append("a tokenizer (tokenizer.json or vocab.txt)")
    if missing:
        raise ValueError(f"encoder path {path!r} is not a sentence-transformers / Hugging Face "
                         f"model directory: no {', '.join(missing)}")
    return p


class TransformerEncoder:
    """A local Hugging Face model with sentence-transformers pooling, on the CPU."""

    def __init__(self, model: Any, tokenizer: Any, pooling: str, max_length: int,
                 batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self._dim = int(model.config.hidden_size)

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # shortest first: batches of similar length pad less
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer([texts[i] or " " for i in idx], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                if self.pooling == "cls":
                    vec = hidden[:, 0]
                elif self.pooling == "max":
                    vec = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
                else:
                    vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vec = torch.nn.functional.normalize(vec.float(), dim=-1)
            out[idx] = vec.numpy()
        return out


def load_encoder(path: str, *, threads: int | None = 1) -> Encoder:
    """Load the encoder in ``path`` (no network). ``threads`` sets torch's intra-op threads for
    the whole process (1 for live queries: parallelism inside one short query costs more than it
    gives on a small server); None leaves torch's default. Raises ``ValueError`` for a bad
    folder and :class:`EncoderUnavailable` when the libraries are missing."""
    model_dir = check_model_dir(path)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise EncoderUnavailable(
            f"KEFU_BOT_ENCODER_PATH is set ({path}) but the dense encoder's libraries are not "
            f"installed ({exc.name or exc}): run `{INSTALL_HINT}` or unset it") from exc
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if threads is not None:
        torch.set_num_threads(threads)
    transformer_dir, pooling, max_len = _pooling(model_dir)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(transformer_dir), local_files_only=True)
        model = transformers.AutoModel.from_pretrained(
            str(transformer_dir), local_files_only=True).eval()
    except Exception as exc:  # the libraries fail in their own ways (SafetensorError, ...)
        raise ValueError(f"encoder path {path!r}: the model could not be loaded ({exc})") from exc
    limit = min(int(max_len or 512), int(getattr(model.config, "max_position_embeddings", 512)))
    return TransformerEncoder(model, tokenizer, pooling, limit)


# -- the index ---------------------------------------------------------------------------------
class DenseIndex:
    """Phrasing vectors by entry, with exact cosine search and incremental updates.

    Rows live in a float32 matrix that grows by doubling; a removed entry's rows are zeroed and
    their slots reused by the next upsert, so the matrix never needs a compaction and the
    answers after any sequence of edits equal those of a fresh build (ties aside)."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self.vectors = np.zeros((capacity, dim), dtype=np.float32)
        self.alive = np.zeros(capacity, dtype=bool)
        self.slot_entry: list[str | None] = [None] * capacity
        self.slot_text: list[str] = [""] * capacity
        self.entry_slots: dict[str, list[int]] = {}
        self._free: list[int] = []
        self._used = 0  # slots ever handed out: rows >= _used are untouched

    def __len__(self) -> int:
        return len(self.entry_slots)

    @property
    def n_vectors(self) -> int:
        return int(self.alive[: self._used].sum())

    def _slot(self) -> int:
        if self._free:
            return self._free.pop()
        if self._used == len(self.alive):
            cap = 2 * len(self.alive)
            vec = np.zeros((cap, self.dim), dtype=np.float32)
            vec[: self._used] = self.vectors[: self._used]
            alive = np.zeros(cap, dtype=bool)
            alive[: self._used] = self.alive[: self._used]
            self.vectors, self.alive = vec, alive
            self.slot_entry.extend([None] * (cap - self._used))
            self.slot_text.extend([""] * (cap - self._used))
        self._used += 1
        return self._used - 1

    def upsert(self, entry_id: str, texts: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Set ``entry_id``'s phrasings (replacing any it had) to ``texts`` / ``vectors``."""
        if len(texts) != len(vectors) or (len(vectors) and vectors.shape[1] != self.dim):
            raise ValueError("texts and vectors do not match the index")
        self.remove(entry_id)
        slots = []
        for text, vec in zip(texts, vectors, strict=True):
            s = self._slot()
            self.vectors[s] = vec
            self.alive[s] = True
            self.slot_entry[s] = entry_id
            self.slot_text[s] = text
            slots.append(s)
        self.entry_slots[entry_id] = slots

    def remove(self, entry_id: str) -> None:
        """Drop an entry's phrasings; unknown ids are ignored."""
        for s in self.entry_slots.pop(entry_id, []):
            self.vectors[s] = 0.0
            self.alive[s] = False
            self.slot_entry[s] = None
            self.slot_text[s] = ""
            self._free.append(s)

    def similarities(self, query: NDArray[np.float32]) -> NDArray[np.float32]:
        """Cosine of ``query`` (a unit vector) with every slot; -inf for free slots."""
        n = self._used
        sims: NDArray[np.float32] = self.vectors[:n] @ query.astype(np.float32, copy=False)
        sims[~self.alive[:n]] = -np.inf
        return sims

    def top_entries(self, sims: NDArray[np.float32], k: int) -> list[tuple[str, float, str]]:
        """The ``k`` entries with the best phrasing, as (entry id, cosine, phrasing), best
        first. Exact: reads more of the best slots until it has ``k`` distinct entries."""
        n_live = min(len(self.entry_slots), k)
        if n_live <= 0:
            return []
        m = min(len(sims), max(4 * k, 64))
        while True:
            top = np.argpartition(-sims, m - 1)[:m] if m < len(sims) else np.arange(len(sims))
            top = top[np.argsort(-sims[top], kind="stable")]
            out: dict[str, tuple[str, float, str]] = {}
            for s in top.tolist():
                eid = self.slot_entry[s]
                if eid is not None and eid not in out:
                    out[eid] = (eid, float(sims[s]), self.slot_text[s])
                    if len(out) == n_live:
                        return list(out.values())
            if m >= len(sims):
                return list(out.values())
            m = min(len(sims), 4 * m)

    def best_of(self, sims: NDArray[np.float32], entry_id: str) -> tuple[float, str] | None:
        """The entry's best cosine and phrasing, or None if it has no phrasing here."""
        slots = self.entry_slots.get(entry_id)
        if not slots:
            return None
        best = max(slots, key=lambda s: float(sims[s]))
        return float(sims[best]), self.slot_text[best]

    def snapshot(self) -> dict[str, tuple[list[str], NDArray[np.float32]]]:
        """Entry id → (phrasings sorted, their vectors in that order): the content a rebuild
        must reproduce, whatever the slots (tests)."""
        out = {}
        for eid, slots in self.entry_slots.items():
            ordered = sorted(slots, key=lambda s: self.slot_text[s])
            out[eid] = ([self.slot_text[s] for s in ordered], self.vectors[ordered].copy())
        return out


def build_index(encoder: Encoder, entries: Iterable[Entry]) -> DenseIndex:
    """Encode every phrasing of ``entries`` (in batches) into a new :class:`DenseIndex`."""
    items = [(e.id, e.texts()) for e in entries]
    texts = [t for _, ts in items for t in ts]
    vectors = encoder.encode(texts) if texts else np.zeros((0, encoder.dim), np.float32)
    index = DenseIndex(encoder.dim, capacity=max(1024, len(texts)))
    at = 0
    for eid, ts in items:
        index.upsert(eid, ts, vectors[at:at + len(ts)])
        at += len(ts)
    return index
