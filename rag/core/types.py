"""Plain records passed between ingestion, retrieval, the chain and the service, and the one definition of the
answer JSON and search JSON they are written as (docs/answer-json.md; serve's response models are these)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NotRequired

from typing_extensions import TypedDict  # pydantic reads typing's TypedDict only from Python 3.12


class SearchResultJSON(TypedDict):
    """One row of the search JSON `results`, in rank order."""

    chunk_id: str
    source: str
    heading: str
    start_line: int
    end_line: int
    text: str
    score: float


class CitationJSON(TypedDict):
    """One answer-JSON citation: `quote` is an exact substring of the cited note; `n` matches `[n]` in the answer."""

    n: int
    chunk_id: str
    source: str
    heading: str
    start_line: int
    end_line: int
    quote: str


class ContextJSON(TypedDict):
    """One retrieved chunk of the answer JSON `contexts`, in rank order."""

    chunk_id: str
    source: str
    heading: str
    text: str
    score: float


class AnswerJSON(TypedDict):
    """The answer JSON of `ask --json`, `POST /chat` and the final SSE event; `diagnostics` is extra."""

    question: str
    answer: str
    abstained: bool
    citations: list[CitationJSON]
    contexts: list[ContextJSON]
    backend: str
    timings: dict[str, float]   # retrieve_s, first_token_s, total_s
    diagnostics: NotRequired[dict]


@dataclass(frozen=True)
class Location:
    """Where a chunk's text sits in its note: lines are 1-based inclusive, chars are [start, end)."""

    source: str
    start_line: int
    end_line: int
    start_char: int
    end_char: int


@dataclass
class Chunk:
    """A passage of one note, ready to embed; `text` is the cleaned passage."""

    source: str
    heading: str
    text: str
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    chunk_id: str = ""
    page: int | None = None
    extra_locations: list[Location] = field(default_factory=list)

    def location(self) -> Location:
        """The primary location of this chunk."""
        return Location(self.source, self.start_line, self.end_line, self.start_char, self.end_char)


@dataclass
class SearchResult:
    """One ranked retrieval hit."""

    chunk: Chunk
    score: float                   # fused score used for ranking
    dense_score: float | None = None   # cosine similarity of query and chunk, when computed
    bm25_score: float | None = None

    def to_dict(self) -> SearchResultJSON:
        """Search JSON row."""
        c = self.chunk
        return {"chunk_id": c.chunk_id, "source": c.source, "heading": c.heading,
                "start_line": c.start_line, "end_line": c.end_line, "text": c.text,
                "score": float(self.score)}


@dataclass
class Citation:
    """A cited passage: `quote` is an exact substring of the original note file."""

    n: int
    chunk_id: str
    source: str
    heading: str
    start_line: int
    end_line: int
    quote: str

    def to_dict(self) -> CitationJSON:
        """Answer-JSON citation."""
        return CitationJSON(**asdict(self))


@dataclass
class Answer:
    """The chain's result; `to_dict` is the answer JSON."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    contexts: list[SearchResult]
    backend: str
    timings: dict[str, float]
    diagnostics: dict = field(default_factory=dict)

    def to_dict(self) -> AnswerJSON:
        """Answer JSON; `diagnostics` is extra and may be ignored by clients."""
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "contexts": [{"chunk_id": r.chunk.chunk_id, "source": r.chunk.source,
                          "heading": r.chunk.heading, "text": r.chunk.text,
                          "score": float(r.score)} for r in self.contexts],
            "backend": self.backend,
            "timings": {k: float(v) for k, v in self.timings.items()},
            "diagnostics": self.diagnostics,
        }
