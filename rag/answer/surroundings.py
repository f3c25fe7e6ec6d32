"""A unit of a retrieved chunk as evidence selection scores it (Candidate), and what surrounds it in its note: the
lines of the list it is a line of (followed across a chunk cut), the short lists a label or a list line announces, the
sentence that goes on from it, and the steps of a procedure its part's best units lead to."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from rag.answer.phrases import COUNTS, names_steps
from rag.core.types import SearchResult
from rag.index.units import Unit

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_SEQUENCE = re.compile(r"(?:then|next|finally|lastly|afterwards|after that|second(?:ly)?|third(?:ly)?|subsequently)\b",
                       re.IGNORECASE)   # a sentence opening with one goes on from the one before it in sequence
ENUMERATION = 3             # a list of at most this many lines, announced by a label or introduced by a list line,
                            # is evidence whole, in one place


@dataclass
class Candidate:
    """A unit of a retrieved chunk, scored against each part of the question."""

    result: SearchResult
    unit: Unit
    text: str
    window: tuple[str, int, int]
    prior: float
    scores: list[float]
    similarity: list[float] = field(default_factory=list)   # dense cosine with each part
    direct: list[bool] = field(default_factory=list)        # whether it answers each part's form ("X is ...",
                                                            # "X measures ...")
    foreign: bool = False                                   # in a language only e5 reads (filled by `score`)

    def answers_form(self, part: int) -> bool:
        """Whether it answers that part's form (see `direct`, filled by `score`)."""
        return bool(self.direct) and self.direct[part]

    @property
    def described(self) -> str:
        """The unit with what it sits under (its heading and list context), for term matching."""
        return f"{self.text} {self.unit.context} {self.result.chunk.heading}"


def enumeration(c: Candidate, cands: list[Candidate], sizes: dict[tuple[str, str], int]) -> list[Candidate]:
    """The lines of the list a label announces that `c` is one of, in note order, when the whole list has at most
    ENUMERATION lines ("Two ways to learn word embeddings:" over two lines): the answer is all of it. `sizes` counts
    every line of each announced list, scored or not."""
    key = (c.result.chunk.chunk_id, c.unit.context)
    if not c.unit.announced or sizes.get(key, 0) > ENUMERATION:
        return [c]
    return sorted((x for x in cands if x.unit.announced and (x.result.chunk.chunk_id, x.unit.context) == key),
                  key=lambda x: x.unit.start)


def counts_its_list(c: Candidate, sizes: dict[tuple[str, str], int]) -> bool:
    """Whether the label announcing `c`'s list counts its lines ("Two ways to learn word embeddings:" over two): the
    list is then one answer, every line of it, however each line ranks alone."""
    words = c.unit.context.split()
    size = sizes.get((c.result.chunk.chunk_id, c.unit.context), 0)
    return c.unit.announced and bool(words) and COUNTS.get(words[0].lower()) == size


def list_lines(c: Candidate, cands: list[Candidate]) -> list[list[Candidate]]:
    """The lines of the list `c` is a line of, in note order, each with its units: the lines of one level of a list,
    one after another with no blank line between, followed into the retrieved chunks of its note that overlap its
    chunk's ends (a long list is cut across two chunks that share the sentence at the cut). [[c]] for a unit that is
    no list line."""
    if c.unit.kind != "item":
        return [[c]]
    lines = _chunk_list(c, cands)
    seen = {id(c.result)}
    while (after := _overlapping(lines[-1][-1], cands, seen, later=True)) is not None:
        seen.add(id(after.result))
        lines += _chunk_list(after, cands)
    while (before := _overlapping(lines[0][0], cands, seen, later=False)) is not None:
        seen.add(id(before.result))
        lines = _chunk_list(before, cands) + lines
    return lines


def _chunk_list(c: Candidate, cands: list[Candidate]) -> list[list[Candidate]]:
    """The lines of the list `c` is a line of, within its chunk (see `list_lines`)."""
    lines: dict[int, list[Candidate]] = {}
    for x in sorted(cands, key=lambda x: x.unit.start):
        if x.result is c.result and x.unit.kind == "item" and x.unit.parent_at == c.unit.parent_at:
            lines.setdefault(line_start(x), []).append(x)
    starts = sorted(lines)
    text = c.result.chunk.text
    lo = hi = starts.index(line_start(c))
    while lo > 0 and not _BLANK_LINE.search(text, starts[lo - 1], starts[lo]):
        lo -= 1
    while hi + 1 < len(starts) and not _BLANK_LINE.search(text, starts[hi], starts[hi + 1]):
        hi += 1
    return [lines[at] for at in starts[lo:hi + 1]]


def _overlapping(edge: Candidate, cands: list[Candidate], seen: set[int], later: bool) -> Candidate | None:
    """The list line of another retrieved chunk of the same note that goes on from `edge`, the last (`later`) or
    first unit of a list, across a chunk cut: `edge` ends its chunk and another chunk opens with (the end of) its
    text, a list line following it (`later`); or `edge`'s chunk opens with one sentence before it, the end of the
    list line another chunk ends with. None otherwise."""
    def units_of(result) -> list[Candidate]:
        return sorted((x for x in cands if x.result is result), key=lambda x: x.unit.start)

    own = units_of(edge.result)
    if later and own[-1] is not edge or not later and (own.index(edge) != 1 or own[0].unit.kind == "item"):
        return None
    for x in cands:
        if id(x.result) in seen or x.result.chunk.source != edge.result.chunk.source:
            continue
        if (x.text not in edge.text) if later else (own[0].text not in x.text):
            continue
        other = units_of(x.result)
        at = other.index(x)
        if later and at == 0 and len(other) > 1 and other[1].unit.kind == "item":
            nxt = other[1]
            if not _BLANK_LINE.search(x.result.chunk.text, x.unit.end, nxt.unit.start):
                return nxt
        if not later and at == len(other) - 1 and x.unit.kind == "item":
            return x
    return None


def counted_list(c: Candidate, cands: list[Candidate], count: int | None) -> list[Candidate]:
    """The list `c` is a line of (see `list_lines`), the first unit of each line, when it has exactly `count` lines:
    a question that asks for that many things ("name the three tricks ...") asks for all of them. Otherwise [c]."""
    lines = list_lines(c, cands) if count is not None else []
    return [line[0] for line in lines] if len(lines) == count and c.unit.kind == "item" else [c]


def procedure(ranked: list[Candidate], cands: list[Candidate], part: int, reach: int) -> list[Candidate]:
    """The steps a part that asks for a procedure quotes ("walk me through ...", "step by step"): the list that holds
    the most of its `reach` best units (two at least, or one where the list's label names it as steps: "Steps:";
    the better ranked on a tie), each line by its best unit for the part, in note order. A procedure is written as a
    list of steps, many of them relevant, and its order is the answer's; a single relevant line of a list is one
    fact, not the procedure, unless its label says the list is the steps. Failing a list, the steps written as
    prose: the first of those units that the next sentences of its paragraph go on from in sequence ("To implement
    ..., you'd start by ... Then, you'd map ... Finally, you'd feed ...": see `sequence`). [] when neither is
    found."""
    held: dict[tuple[int, ...], list[list[Candidate]]] = {}
    votes: Counter[tuple[int, ...]] = Counter()
    for c in ranked[:reach]:
        if c.unit.kind != "item":
            continue
        lines = list_lines(c, cands)
        key = tuple(id(line[0]) for line in lines)
        held.setdefault(key, lines)
        votes[key] += 1
    best = max(votes, key=lambda k: votes[k], default=None)   # Counter keeps first-seen order on ties
    if best is None or votes[best] < 2:   # one line voting for a list its label names as steps ("Steps:") is enough
        best = next((k for k in votes if names_steps(held[k][0][0].unit.context)), None)
    if best is not None and len(held[best]) >= 2:
        return [max(line, key=lambda x: x.scores[part]) for line in held[best]]
    return next((steps for c in ranked[:reach] if len(steps := sequence(c, cands)) > 1), [])


def sequence(c: Candidate, cands: list[Candidate]) -> list[Candidate]:
    """`c` and the sentences after it in its paragraph that open with a marker of sequence ("Then, ...", "Finally,
    ..."; see `successor`), in note order."""
    steps = [c]
    while (nxt := successor(steps[-1], cands)) is not None and _SEQUENCE.match(nxt.text):
        steps.append(nxt)
    return steps


def note_position(c: Candidate) -> int:
    """Where a candidate sits in its note (its chunk's offset there plus its own in the chunk): the order of the units
    of a list quoted together, whichever chunks they come from."""
    return c.result.chunk.start_char + c.unit.start


def line_start(c: Candidate) -> int:
    """Where the line a candidate starts on begins, in its chunk's text."""
    return c.result.chunk.text.rfind("\n", 0, c.unit.start) + 1


def children(c: Candidate, cands: list[Candidate], sizes: dict[tuple[str, int], int]) -> list[Candidate]:
    """The list lines right under `c`, in note order, when there are at most ENUMERATION of them: a line that
    introduces a short list ("Approaches to ML - ..." over its three approaches) means what the list holds. `sizes`
    counts the lines under each list line, scored or not."""
    key = (c.result.chunk.chunk_id, line_start(c))
    if not 0 < sizes.get(key, 0) <= ENUMERATION:
        return []
    return sorted((x for x in cands if (x.result.chunk.chunk_id, x.unit.parent_at) == key), key=lambda x: x.unit.start)


def successor(c: Candidate, cands: list[Candidate]) -> Candidate | None:
    """The unit right after a prose or intro unit `c` in the same paragraph of its chunk, or after a list line's
    sentence in the same list line, when it was scored: a note's sentences go on from one another ("We train the
    discriminator on ... The response would be 1 for the true images ..."; "2. Cosine Diffusion Scheduler: This
    approach uses a cosine function ... The cosine function can provide a smoother transition ...")."""
    text = c.result.chunk.text
    later = [x for x in cands if x.result is c.result and x.unit.start >= c.unit.end]
    nxt = min(later, key=lambda x: x.unit.start, default=None)
    if nxt is None:
        return None
    between = text[c.unit.end:nxt.unit.start]
    paragraph = c.unit.kind in ("prose", "intro") and nxt.unit.kind == "prose" and "\n\n" not in between
    list_line = c.unit.kind == nxt.unit.kind == "item" and "\n" not in between
    return nxt if paragraph or list_line else None


def continuation(c: Candidate, cands: list[Candidate], quoted: set[int]) -> Candidate | None:
    """The first sentence after `c` in its paragraph or list line (see `successor`) that is not quoted yet."""
    nxt = successor(c, cands)
    while nxt is not None and id(nxt) in quoted:
        nxt = successor(nxt, cands)
    return nxt
