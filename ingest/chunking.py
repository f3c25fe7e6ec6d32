"""Structure-aware chunking: sections by heading, whole code and LaTeX blocks, sentences packed to a token budget.

Every chunk fits `settings.max_tokens` word pieces as measured by `count_tokens` (specials included).
Code and LaTeX blocks are never split, except a block that alone exceeds the limit: it is then cut at
line boundaries (a single over-long line at word boundaries) and its pieces become chunks of their own.
Chunk offsets index the original `text`; `Chunk.text` is the cleaned reading of that span.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from ingest.clean import clean_code, clean_prose, is_list_item
from ingest.headings import Block, line_spans, parse_blocks
from rag.core.settings import ChunkingSettings
from rag.core.text import sentence_spans
from rag.core.types import Chunk, heading_path

MIN_CUT_FRACTION = 0.5      # a chunk cut early at a paragraph boundary keeps at least this much of its target
MAX_OVERLAP_FRACTION = 0.25  # overlapped sentences take at most this share of the budget
_JOIN = {0: " ", 1: "\n"}    # separator by boundary strength; 2+ (paragraph, block, section) is a blank line


@dataclass
class Unit:
    """The smallest piece a chunk is made of: a sentence, a list line, a whole code or math block."""

    start: int          # original char offsets [start, end)
    end: int
    text: str           # cleaned reading
    tokens: int         # word pieces without the specials
    brk: int            # boundary before it: 0 same line, 1 new line, 2 new paragraph/block, 3 new section
    kind: str           # prose | code | math
    section: int
    alone: bool = False  # a piece of an oversized block: a chunk of its own


class _Doc:
    """The note's lines, headings and token counter shared by the unit builders."""

    def __init__(self, text: str, settings: ChunkingSettings, count_tokens: Callable[[str], int]):
        self.text = text
        self.count = count_tokens
        self.base = count_tokens("")
        self.budget = max(settings.max_tokens - self.base, 1)
        self.max_tokens = settings.max_tokens
        self.spans = line_spans(text)
        self.lines = [text[a:b] for a, b in self.spans]

    def tokens(self, s: str) -> int:
        """Word pieces of s without the specials."""
        return max(self.count(s) - self.base, 0)

    def words(self, start: int, end: int, brk: int, kind: str, section: int) -> list[Unit]:
        """Cut an over-long span at word boundaries into pieces that each fit the budget."""
        units: list[Unit] = []
        pos, piece_start, acc, last_end = start, None, 0, start
        for word in self._words(start, end):
            w0 = self.text.index(word, pos)
            pos = w0 + len(word)
            t = self.tokens(clean_prose(word))
            if piece_start is not None and acc + t > self.budget:
                units.append(self._piece(piece_start, last_end, brk if not units else 0, kind, section))
                piece_start, acc = None, 0
            if piece_start is None:
                piece_start = w0
            acc += t
            last_end = pos
        if piece_start is not None:
            units.append(self._piece(piece_start, last_end, brk if not units else 0, kind, section))
        return units

    def _words(self, start: int, end: int) -> list[str]:
        """Whitespace-separated words; a word longer than the budget in characters is cut up."""
        out = []
        for word in self.text[start:end].split():
            out += [word[k:k + self.budget] for k in range(0, len(word), self.budget)]
        return out

    def _piece(self, start: int, end: int, brk: int, kind: str, section: int) -> Unit:
        text = clean_prose(self.text[start:end])
        return Unit(start, end, text, self.tokens(text), brk, kind, section, alone=kind != "prose")

    def block_text(self, first: int, last: int, kind: str) -> str:
        """Cleaned reading of whole lines first..last of a code or math block."""
        clean = clean_code if kind == "code" else clean_prose
        return "\n".join(clean(self.lines[i]) for i in range(first, last + 1)).strip("\n")

    def atomic(self, block: Block, brk: int, section: int) -> list[Unit]:
        """A code or math block as one unit, or line-boundary pieces when it alone exceeds the budget."""
        text = self.block_text(block.first, block.last, block.kind)
        start, end = self.spans[block.first][0], self.spans[block.last][1]
        t = self.tokens(text)
        if t <= self.budget:
            return [Unit(start, end, text, t, brk, block.kind, section)] if text.strip() else []
        clean = clean_code if block.kind == "code" else clean_prose
        line_tokens = [self.tokens(clean(self.lines[i])) for i in range(block.first, block.last + 1)]
        units: list[Unit] = []
        first = block.first
        while first <= block.last:
            last, acc = first, line_tokens[first - block.first]
            while last < block.last and acc + line_tokens[last + 1 - block.first] <= self.budget:
                last += 1
                acc += line_tokens[last - block.first]
            while last > first and self.tokens(self.block_text(first, last, block.kind)) > self.budget:
                last -= 1
            piece = self.block_text(first, last, block.kind)
            a, b = self.spans[first][0], self.spans[last][1]
            if self.tokens(piece) > self.budget:
                units += self.words(a, b, brk if not units else 1, block.kind, section)
            elif piece.strip():
                units.append(Unit(a, b, piece, self.tokens(piece), brk if not units else 1,
                                  block.kind, section, alone=True))
            first = last + 1
        return units

    def prose(self, block: Block, dropped: set[int], brk: int, section: int) -> list[Unit]:
        """Sentences of a paragraph; list items and new lines start new units."""
        units: list[Unit] = []
        for i in range(block.first, block.last + 1):
            if i in dropped:
                continue
            line, (offset, _) = self.lines[i], self.spans[i]
            whole_item = is_list_item(line) and len(line) < 400
            spans = [(0, len(line))] if whole_item else sentence_spans(line)
            for a, b in spans:
                text = clean_prose(line[a:b])
                if not text:
                    continue
                if whole_item:   # a list line keeps its indent: it says which line it sits under (rag.index.outline)
                    text = " " * (len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())) + text
                unit_brk = brk if not units else (1 if a == spans[0][0] else 0)
                t = self.tokens(text)
                if t > self.budget:
                    units += self.words(offset + a, offset + b, unit_brk, "prose", section)
                else:
                    units.append(Unit(offset + a, offset + b, text, t, unit_brk, "prose", section))
        return units


def _units(doc: _Doc) -> tuple[list[Unit], list[str]]:
    """All units in order and the heading path of each section index."""
    blocks, dropped = parse_blocks(doc.lines)
    units: list[Unit] = []
    paths: list[str] = [""]
    stack: list[tuple[int, str]] = []
    brk = 2
    for block in blocks:
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.title))
            path = heading_path(t for _, t in stack)
            if path != paths[-1]:
                paths.append(path)
                brk = 3
            continue
        section = len(paths) - 1
        new = (doc.prose(block, dropped, brk, section) if block.kind == "para"
               else doc.atomic(block, brk, section))
        if new:
            units += new
            brk = 2
    return units, paths


def _targets(units: list[Unit], budget: int) -> dict[int, float]:
    """Per section, the even chunk size that splits it into the fewest chunks."""
    totals: Counter[int] = Counter()
    for u in units:
        totals[u.section] += u.tokens
    return {s: t / max(math.ceil(t / budget), 1) for s, t in totals.items()}


class _Packer:
    """Greedy packing of units into chunks, preferring cuts at paragraph and section boundaries."""

    def __init__(self, doc: _Doc, units: list[Unit], settings: ChunkingSettings):
        self.doc, self.settings = doc, settings
        self.queue = deque(units)
        self.targets = _targets(units, doc.budget)
        self.groups: list[list[Unit]] = []
        self.cur: list[Unit] = []
        self.n_overlap = 0

    def size(self, units: list[Unit]) -> int:
        return sum(u.tokens for u in units)

    def emit(self, units: list[Unit]) -> list[Unit]:
        """Close a chunk; returns the tail units that made its exact count exceed the limit."""
        left: list[Unit] = []
        while len(units) > 1 and self.doc.count(_join(units)) > self.doc.max_tokens:
            left.insert(0, units.pop())
        self.groups.append(units)
        return left

    def cut(self, u: Unit) -> None:
        """cur + u is over budget: close a chunk at the best boundary, keep the rest (and overlap)."""
        target = max(self.targets[v.section] for v in self.cur)
        floor = max(MIN_CUT_FRACTION * target, self.settings.min_tokens)
        best_j, best_brk, acc = len(self.cur), u.brk, 0
        for j in range(1, len(self.cur)):
            acc += self.cur[j - 1].tokens
            brk = self.cur[j].brk
            if j > self.n_overlap and acc >= floor and brk > u.brk and brk >= best_brk:
                best_j, best_brk = j, brk      # the strongest boundary, latest among equals
        head, rest = self.cur[:best_j], self.cur[best_j:]
        left = self.emit(head)
        overlap: list[Unit] = []
        if not left and best_brk <= 1 and self.settings.overlap_sentences > 0:
            for v in reversed(head[self.n_overlap:]):
                if v.kind != "prose" or len(overlap) >= self.settings.overlap_sentences:
                    break
                overlap.insert(0, v)
            limit = MAX_OVERLAP_FRACTION * self.doc.budget
            if self.size(overlap) > limit or self.size(overlap + rest) + u.tokens > self.doc.budget:
                overlap = []
        self.cur, self.n_overlap = overlap + left + rest, len(overlap)

    def run(self) -> list[list[Unit]]:
        min_tokens = self.settings.min_tokens
        while self.queue:
            u = self.queue.popleft()
            if u.alone:
                self.flush()
                self.emit([u])
                continue
            if self.cur:
                cur_tokens = self.size(self.cur)
                own = self.cur[-1].section
                if u.section != own and cur_tokens >= min_tokens:
                    self.flush()
                elif cur_tokens >= self.targets[u.section] and u.brk >= 2 and u.section == own:
                    self.flush()
            while self.cur and self.size(self.cur) + u.tokens > self.doc.budget:
                self.cut(u)
            self.cur.append(u)
        self.flush()
        self._merge_small_tail(min_tokens)
        return self.groups

    def flush(self) -> None:
        """Close every pending unit into chunks."""
        self.n_overlap = 0
        while self.cur:
            self.cur = self.emit(self.cur)

    def _merge_small_tail(self, min_tokens: int) -> None:
        """A last chunk under min_tokens joins the previous one when both fit together."""
        if len(self.groups) >= 2:
            last, prev = self.groups[-1], self.groups[-2]
            if (self.size(last) < min_tokens and not last[0].alone and not prev[-1].alone
                    and prev[-1].end <= last[0].start
                    and self.doc.count(_join(prev + last)) <= self.doc.max_tokens):
                self.groups[-2:] = [prev + last]


def _join(units: list[Unit]) -> str:
    """Chunk text: units separated by a space, a newline or a blank line."""
    parts = [units[0].text]
    for u in units[1:]:
        parts.append(_JOIN.get(u.brk, "\n\n"))
        parts.append(u.text)
    return "".join(parts)


def chunk_note(source: str, text: str, settings: ChunkingSettings, count_tokens: Callable[[str], int],
               pages: list[tuple[int, int]] | None = None) -> list[Chunk]:
    """Chunks of one note; `pages` ((offset, page number) from LoadedNote.pages) fills Chunk.page."""
    doc = _Doc(text, settings, count_tokens)
    units, paths = _units(doc)
    line_starts = [a for a, _ in doc.spans]
    page_starts = [p[0] for p in pages or []]
    chunks = []
    for group in _Packer(doc, units, settings).run():
        start, end = group[0].start, group[-1].end
        weight: Counter[int] = Counter()
        for u in group:
            weight[u.section] += u.tokens + 1
        section = max(weight, key=lambda s: (weight[s], -s))
        page = pages[bisect_right(page_starts, start) - 1][1] if pages and start >= page_starts[0] else None
        chunks.append(Chunk(source=source, heading=paths[section], text=_join(group),
                            start_line=bisect_right(line_starts, start),
                            end_line=bisect_right(line_starts, max(end - 1, start)),
                            start_char=start, end_char=end, page=page))
    return chunks
