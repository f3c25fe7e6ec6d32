"""Load QA JSON Lines datasets (DESIGN.md format) with errors naming file, line and field."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rag.core.errors import DatasetError

ABSTAIN_TYPES = frozenset({"unanswerable", "adversarial-unanswerable"})


@dataclass(frozen=True)
class QAItem:
    """One gold question."""

    id: str
    question: str
    answer: str
    support: tuple[str, ...]
    source: str | None
    type: str
    answer_keywords: tuple[str, ...]
    line: int = 0
    answer_keywords_it: tuple[str, ...] = ()   # cross-lingual items: what a verbatim Italian quote would hold
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def answerable(self) -> bool:
        """False for questions whose right behaviour is to abstain."""
        return self.type not in ABSTAIN_TYPES


_REQUIRED = {"id": str, "question": str}
_OPTIONAL_STR = ("answer", "type")
_LISTS = ("support", "answer_keywords", "answer_keywords_it")


def _fail(path: Path, line: int, field_name: str | None, msg: str) -> DatasetError:
    where = f"{path}:{line}" + (f": field {field_name!r}" if field_name else "")
    return DatasetError(f"{where}: {msg}")


def parse_item(obj, path: Path, line: int) -> QAItem:
    """Validate one decoded JSON line into a QAItem."""
    if not isinstance(obj, dict):
        raise _fail(path, line, None, f"expected a JSON object, got {type(obj).__name__}")
    for name, typ in _REQUIRED.items():
        if name not in obj:
            raise _fail(path, line, name, "missing")
        if not isinstance(obj[name], typ) or (typ is str and not obj[name].strip()):
            raise _fail(path, line, name, "must be a non-empty string")
    for name in _OPTIONAL_STR:
        if name in obj and not isinstance(obj[name], str):
            raise _fail(path, line, name, f"must be a string, got {type(obj[name]).__name__}")
    for name in _LISTS:
        value = obj.get(name, [])
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(path, line, name, "must be a list of strings")
    source = obj.get("source")
    if source is not None and not isinstance(source, str):
        raise _fail(path, line, "source", "must be a string or null")
    qtype = obj.get("type", "factual") or "factual"
    support = tuple(obj.get("support") or ())
    if qtype not in ABSTAIN_TYPES and not support and "support" in obj:
        raise _fail(path, line, "support", f"empty for an answerable question of type {qtype!r}")
    known = {"id", "question", "answer", "support", "source", "type", "answer_keywords", "answer_keywords_it"}
    return QAItem(
        id=obj["id"], question=obj["question"].strip(), answer=obj.get("answer", ""),
        support=support, source=source, type=qtype,
        answer_keywords=tuple(obj.get("answer_keywords") or ()), line=line,
        answer_keywords_it=tuple(obj.get("answer_keywords_it") or ()),
        extra={k: v for k, v in obj.items() if k not in known},
    )


def load_qa(path: str | Path, limit: int | None = None) -> list[QAItem]:
    """Read a QA JSON Lines file; blank lines are skipped, ids must be unique."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, line_no, None, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
        item = parse_item(obj, path, line_no)
        if item.id in seen:
            raise _fail(path, line_no, "id", f"duplicate id {item.id!r} (first on line {seen[item.id]})")
        seen[item.id] = line_no
        items.append(item)
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise DatasetError(f"{path}: no questions in the file")
    return items
