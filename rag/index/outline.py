"""The outline of a chunk's lists: which list lines are titles of the lines indented under them ("3. Stacking" over
"- Uses a meta-classifier ..."), which are stubs (a few words naming an item, nothing said of it: "4. LightGBM"),
and the topics each list line sits under ("Boosting > Examples")."""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.core.text import EMPHASIS
from rag.core.types import heading_path

LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+•▪◦‣]|\d{1,3}[.)])[ \t]+")
_CLOSED = re.compile(r"[.!?;]['\")\]*_]*\s*$")   # a line that ends a sentence says something; a title does not
TITLE_WORDS = 10   # a list line with lines indented under it is their title up to this many words


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


@dataclass(frozen=True)
class ListLine:
    """One list line: text[start:end], its indent, the words after its marker, whether lines are indented under it,
    and the topics of the lines it sits under (None for a line at the top of its list)."""

    start: int
    end: int
    indent: int
    body: str
    parent: bool
    under: str | None
    announced: bool = False   # the line it sits under is a label announcing the list ("- Examples:")
    parent_at: int = -1       # start of the list line it sits directly under (-1 at the top of its list)
    cut: bool = False         # the text's last line, with nothing under it where the sibling before it has lines
                              # under it: a title whose lines the chunk cut off ("5. Support Vector Machines (SVM)")

    @property
    def words(self) -> int:
        """Words after the marker."""
        return len(self.body.split())

    @property
    def label(self) -> bool:
        """Ends in a colon: it introduces the lines after it."""
        return self.body.rstrip("*_ ").endswith(":")

    @property
    def title(self) -> str | None:
        """The line as the title of the lines indented under it ("Stacking", "Examples"), or None."""
        closed = _CLOSED.search(self.body) and not self.label
        if not self.parent or closed or self.words > TITLE_WORDS:
            return None
        return EMPHASIS.sub("", self.body).strip(" :*_")

    @property
    def topic(self) -> str | None:
        """What the lines under it are about: its title, or the line that introduces them ("Approaches to ML - NO
        single algorithm works for all problems." over "1. supervised learning - ...")."""
        if self.title is not None or not self.parent:
            return self.title
        return EMPHASIS.sub("", self.body).strip(" :*_")

    def stub(self, min_words: int) -> bool:
        """A name with nothing said of it and nothing indented under it: fewer than `min_words` words ("4. LightGBM",
        "Example: Random Forest") or a capitalised name ("Gradient Boosting Machines (GBM)")."""
        if self.parent or _CLOSED.search(self.body) or self.words > TITLE_WORDS:
            return False
        return self.words < min_words or all(w[:1].isupper() or not w[:1].isalpha() for w in self.body.split())


def outline(text: str) -> dict[int, ListLine]:
    """The list lines of `text` by start offset. A line that is no list item and not indented ends the lists above."""
    lines = [m for m in re.finditer(r"[^\n]+", text) if m.group().strip()]
    out: dict[int, ListLine] = {}
    stack: list[tuple[int, str | None, bool, int]] = []   # (indent, topic, is a label, start) of the lines above
    for i, m in enumerate(lines):
        line = m.group()
        marker = LIST_MARKER.match(line)
        if marker is None:
            if _indent(line) == 0:
                stack = []
            continue
        indent = _indent(line)
        after = lines[i + 1].group() if i + 1 < len(lines) else ""
        parent = bool(LIST_MARKER.match(after)) and _indent(after) > indent
        while stack and stack[-1][0] >= indent:
            stack.pop()
        under = heading_path(t for _, t, _, _ in stack) if stack else None
        sibling = None if after else next((out[start] for start in reversed(out) if out[start].indent <= indent), None)
        cut = sibling is not None and sibling.indent == indent and sibling.parent   # the last line, as titled as the
                                                                                   # one before it
        item = ListLine(m.start(), m.end(), indent, line[marker.end():].strip(), parent, under,
                        announced=bool(stack) and stack[-1][2], parent_at=stack[-1][3] if stack else -1, cut=cut)
        out[m.start()] = item
        stack.append((indent, item.topic, item.label, m.start()))
    return out
