"""Request and response models of the HTTP API (pydantic)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.core.types import Filters

MAX_QUESTION_CHARS = 4000
MAX_ANSWER_CHARS = 8000
MAX_TURNS = 50
CHUNK_ID_PATTERN = r"^[0-9a-f]{8,64}$"


class HistoryTurn(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    answer: str = Field("", max_length=MAX_ANSWER_CHARS)


class FiltersIn(BaseModel):
    """The scope of a question: notes in `folder`, carrying every tag of `tags`, whose path matches the `file` glob."""

    model_config = ConfigDict(extra="forbid")

    folder: str | None = Field(None, max_length=1000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    file: str | None = Field(None, max_length=1000)

    def to_filters(self) -> Filters:
        """The retrieval Filters."""
        return Filters.from_json(self.model_dump(exclude_none=True))


class ChatRequest(BaseModel):
    """POST /chat."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="the question to answer")
    stream: bool = Field(False, description="server-sent events token/citation/done instead of one JSON answer")
    history: list[HistoryTurn] = Field(default_factory=list, max_length=MAX_TURNS,
                                       description="earlier turns, oldest first: the question may follow up on them")
    filters: FiltersIn | None = Field(None, description="answer only from these notes")

    def options(self) -> dict:
        """Keyword arguments for the chain: history and filters, when given."""
        out: dict = {}
        if self.history:
            out["history"] = [t.model_dump() for t in self.history]
        if self.filters is not None and self.filters.to_filters():
            out["filters"] = self.filters.to_filters()
        return out

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class SourceOut(BaseModel):
    """GET /sources/{chunk_id}: a passage with its location."""

    chunk_id: str
    source: str
    heading: str
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    page: int | None = None
    text: str = Field(description="the passage as indexed (cleaned)")
    original: str | None = Field(None, description="the same span of the note's own text")


class IngestRequest(BaseModel):
    """POST /ingest: paths relative to the notes root; empty means the whole root."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(default_factory=list, max_length=1000)


class Message(BaseModel):
    """One OpenAI chat message; content may be a string or a list of parts."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "function", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text, joining text parts."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")


class StreamOptions(BaseModel):
    """OpenAI stream_options."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """POST /v1/chat/completions; sampling fields are accepted and ignored (the chain's settings decide)."""

    model_config = ConfigDict(extra="allow")

    model: str = "notes-rag"
    messages: list[Message] = Field(min_length=1, max_length=256)
    stream: bool = False
    stream_options: StreamOptions | None = None

    def question(self) -> str:
        """The last user message with text: the question the chain answers."""
        return _last_user_text(self.messages)

    def history(self) -> list[dict]:
        """Earlier turns: each user message with text before the question, with the assistant reply after it."""
        turns: list[dict] = []
        talk = [m for m in self.messages if m.role in ("user", "assistant") and m.text().strip()]
        last_user = max(i for i, m in enumerate(talk) if m.role == "user")
        for i, message in enumerate(talk[:last_user]):
            if message.role == "user":
                reply = talk[i + 1].text().strip() if i + 1 < last_user and talk[i + 1].role == "assistant" else ""
                turns.append({"question": message.text().strip(), "answer": reply})
        return turns[-MAX_TURNS:]

    @field_validator("messages")
    @classmethod
    def _has_question(cls, messages: list[Message]) -> list[Message]:
        text = _last_user_text(messages)
        if not text:
            raise ValueError("needs at least one user message with text (the question)")
        if len(text) > MAX_QUESTION_CHARS:
            raise ValueError(f"the last user message is longer than {MAX_QUESTION_CHARS} characters")
        return messages


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user" and message.text().strip():
            return message.text().strip()
    return ""
