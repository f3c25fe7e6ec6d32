"""The notes-gap log: every refused question is appended to gaps.jsonl in the index folder (time, question, how it
was understood, scope, the closest notes found), and `topics` groups the log so the user sees what to write next.

The log holds the user's own questions: it is created with mode 0600 and kept so. A log that cannot be written (a
read-only index folder) costs a warning, never the answer.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from rag.answer.abstain import question_terms
from rag.core.types import Answer, Filters

GAPS_FILE = "gaps.jsonl"
CLOSEST = 3             # closest notes kept per refused question
SAME_TOPIC = 0.55       # cosine (MiniLM) at or above which two refused questions share a topic (single link);
                        # paraphrases of one question score 0.7-0.9, different ML questions 0.1-0.4
LABEL_WORDS = 3

log = logging.getLogger("rag.gaps")


class GapLog:
    """Append-only JSON Lines log of refused questions."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._warned = False

    def record(self, answer: Answer, filters: Filters | None = None) -> None:
        """Append one refused answer's question and closest notes."""
        closest, seen = [], set()
        for r in answer.contexts:
            key = (r.chunk.source, r.chunk.heading)
            if key not in seen:
                seen.add(key)
                closest.append({"source": r.chunk.source, "heading": r.chunk.heading, "score": round(r.score, 4)})
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "question": answer.question,
                 "closest": closest[:CLOSEST]}
        if answer.standalone_question and answer.standalone_question != answer.question:
            entry["standalone_question"] = answer.standalone_question
        if filters:
            entry["filters"] = filters.to_json()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot write the notes-gap log %s: %s", self.path, exc)
                self._warned = True

    def entries(self) -> list[dict]:
        """Every logged refusal, oldest first (unreadable lines skipped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:   # no log yet (or no readable one)
            return []
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("question"), str):
                out.append(entry)
        return out


def _label(questions: list[str]) -> str:
    """The words the questions of a topic share most (ties: first used first)."""
    counts = Counter(w for q in questions for w in dict.fromkeys(question_terms(q)))
    order = {w: i for i, w in reversed(list(enumerate(w for q in questions for w in question_terms(q))))}
    best = sorted(counts, key=lambda w: (-counts[w], order[w]))[:LABEL_WORDS]
    return ", ".join(best) or questions[0]


def topics(entries: list[dict], embed) -> list[dict]:
    """Refused questions grouped by topic, largest topic first: {"topic", "count", "questions" (newest first),
    "closest" (notes most often found nearest)}. `embed(texts) -> (n, dim)` unit vectors."""
    if not entries:
        return []
    texts = [e.get("standalone_question") or e["question"] for e in entries]
    vectors = np.asarray(embed(texts), dtype=np.float32)
    near = vectors @ vectors.T >= SAME_TOPIC
    group = list(range(len(entries)))

    def find(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(near, 1))):
        group[find(int(i))] = find(int(j))
    members: dict[int, list[int]] = {}
    for i in range(len(entries)):
        members.setdefault(find(i), []).append(i)
    out = []
    for idx in members.values():
        notes = Counter(c["source"] for i in idx for c in entries[i].get("closest", [])[:1])
        out.append({"topic": _label([texts[i] for i in idx]), "count": len(idx),
                    "questions": [{k: entries[i][k] for k in ("time", "question", "standalone_question", "filters")
                                   if k in entries[i]} for i in reversed(idx)],
                    "closest": [source for source, _ in notes.most_common(CLOSEST)]})
    return sorted(out, key=lambda t: (-t["count"], t["topic"]))
