"""Plain records passed between ingestion, retrieval, the chain and the service, and the one definition of the
answer JSON and search JSON they are written as (docs/answer-json.md; serve's response models are these)."""
from __future__ import annotations

import fnmatch
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
    standalone_question: NotRequired[str]   # a follow-up as understood from its conversation
    diagnostics: NotRequired[dict]


def clean_tag(tag: str) -> str:
    """A tag as stored and compared: no leading '#', lower case (Obsidian tags ignore case), no outer slashes."""
    return tag.strip().lstrip("#").strip("/").lower()


def clean_folder(folder: str | None) -> str:
    """A folder relative to the notes root, POSIX style, without './' or outer slashes ('' is the root)."""
    parts = [p for p in (folder or "").replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


@dataclass(frozen=True)
class NoteMeta:
    """What ingest records per note for scoped questions: folder relative to the root, title, Obsidian tags."""

    source: str
    folder: str = ""
    title: str = ""
    tags: tuple[str, ...] = ()

    def tag_paths(self) -> tuple[str, ...]:
        """Each tag with its parents ('ml/diffusion' -> 'ml', 'ml/diffusion'), as the Qdrant payload stores them."""
        return tuple(dict.fromkeys("/".join(t.split("/")[:i + 1]) for t in self.tags for i in range(t.count("/") + 1)))

    def folder_paths(self) -> tuple[str, ...]:
        """The note's folder and every folder above it ('a/b' -> 'a', 'a/b'); the root is ''."""
        parts = self.folder.split("/") if self.folder else []
        return ("",) + tuple("/".join(parts[:i + 1]) for i in range(len(parts)))


@dataclass(frozen=True)
class Filters:
    """Scope of a question, applied inside retrieval (k results still come back when enough notes match).

    folder: notes in this folder or below it (relative to the notes root); tags: notes carrying every one of these
    tags (a tag also matches its nested tags: 'ml' matches '#ml/diffusion'); file: a glob over the note's path
    relative to the root ('*.md', 'papers/*'); a glob without '/' is also tried on the file name alone.
    """

    folder: str | None = None
    tags: tuple[str, ...] = ()
    file: str | None = None

    def __post_init__(self) -> None:
        folder = clean_folder(self.folder) if self.folder is not None else None
        object.__setattr__(self, "folder", folder or None)
        object.__setattr__(self, "tags", tuple(dict.fromkeys(t for t in map(clean_tag, self.tags) if t)))
        object.__setattr__(self, "file", self.file.strip() or None if self.file is not None else None)

    @classmethod
    def from_json(cls, data: dict | None) -> Filters:
        """From the JSON `filters` object {"folder": str, "tags": [str], "file": str}; a bad field is a ValueError
        naming it."""
        data = data or {}
        if not isinstance(data, dict):
            raise ValueError("filters must be an object with folder, tags and file")
        unknown = sorted(set(data) - {"folder", "tags", "file"})
        if unknown:
            raise ValueError(f"filters: unknown field(s) {', '.join(unknown)}; use folder, tags, file")
        for name in ("folder", "file"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"filters.{name} must be a string")
        tags = data.get("tags") or []
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError("filters.tags must be a list of strings")
        return cls(folder=data.get("folder"), tags=tuple(tags), file=data.get("file"))

    def to_json(self) -> dict:
        """The JSON `filters` object (fields left out when unset)."""
        out: dict = {}
        if self.folder:
            out["folder"] = self.folder
        if self.tags:
            out["tags"] = list(self.tags)
        if self.file:
            out["file"] = self.file
        return out

    def __bool__(self) -> bool:
        return bool(self.folder or self.tags or self.file)

    def matches_file(self, source: str) -> bool:
        """Whether a note path passes the `file` glob."""
        if not self.file:
            return True
        return fnmatch.fnmatchcase(source, self.file) or (
            "/" not in self.file and fnmatch.fnmatchcase(source.rsplit("/", 1)[-1], self.file))

    def matches(self, note: NoteMeta) -> bool:
        """Whether a note is inside this scope."""
        if self.folder and self.folder not in note.folder_paths():
            return False
        paths = note.tag_paths()
        return all(t in paths for t in self.tags) and self.matches_file(note.source)


@dataclass(frozen=True)
class Location:
    """Where a chunk's text sits in its note: lines are 1-based inclusive, chars are [start, end)."""

    source: str
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    heading: str = ""
    page: int | None = None


HEADING_SEPARATOR = " > "   # between the titles of a heading path: "Deep Learning > Transformers > Attention"


def heading_path(titles) -> str:
    """The heading path of titles, outermost first (empty titles left out)."""
    return HEADING_SEPARATOR.join(t for t in titles if t)


def heading_titles(heading: str) -> list[str]:
    """The titles of a heading path, outermost first, stripped (empty ones left out)."""
    return [t.strip() for t in heading.split(HEADING_SEPARATOR) if t.strip()] if heading else []


@dataclass
class Chunk:
    """A passage of one note, ready to embed; `text` is the cleaned passage; `heading` its heading path."""

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
        return Location(self.source, self.start_line, self.end_line, self.start_char, self.end_char, self.heading,
                        self.page)

    def located_in(self, allowed: set[str]) -> Chunk:
        """This chunk with its first location in one of the `allowed` notes as the primary one (a text that occurs
        in several notes is shown where a filtered search found it); unchanged when the primary one is allowed."""
        if self.source in allowed:
            return self
        places = [self.location(), *self.extra_locations]
        first = next((p for p in places if p.source in allowed), None)
        if first is None:
            return self
        return Chunk(first.source, first.heading, self.text, first.start_line, first.end_line, first.start_char,
                     first.end_char, self.chunk_id, first.page, [p for p in places if p is not first])


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
    standalone_question: str | None = None   # set for a follow-up

    def to_dict(self) -> AnswerJSON:
        """Answer JSON (with `standalone_question` for a follow-up); `diagnostics` is extra and may be ignored."""
        out: AnswerJSON = {
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
        if self.standalone_question is not None:
            out["standalone_question"] = self.standalone_question
        return out
