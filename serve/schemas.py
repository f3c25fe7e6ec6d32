"""Request and response models of the HTTP API (pydantic)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_QUESTION_CHARS = 4000
CHUNK_ID_PATTERN = r"^[0-9a-f]{8,64}$"


class ChatRequest(BaseModel):
    """POST /chat."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="the question to answer")
    stream: bool = Field(False, description="server-sent events token/citation/done instead of one JSON answer")

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
