"""Evidence units: the spans of a chunk that answering may number and cite, and whose vectors ingest stores.

A unit is a sentence (rag.core.text.sentence_spans over logical lines: wrapped lines joined, bullets and blank
lines breaking, but for a bullet an export put on a wrapped line), with a pronoun continuation joined to its
referent, its list or heading marker left out, and never an instruction to the assistant. Ingest embeds
squash(text[a:b]) of each unit; answering looks the vectors up by that text's hash, so both sides must cut the
same units.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.core.text import EMPHASIS, STOPWORDS, sentence_spans, squash
from rag.index.outline import ListLine, outline

_BULLET = re.compile(r"^\s*(?:[-*+•▪◦‣>]|\d{1,3}[.)]|#{1,6})\s+")
_MARKER = re.compile(r"(?:[-*+•▪◦‣>]|\d{1,3}[.)]|#{1,6})\s+")  # a list or heading marker opening a unit
_END = re.compile(r"[.!?:;]['\")\]*_]*\s*$")
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instructions?|prompts?|rules)\b"
    r"|\b(?:system prompt|you are now|as an ai|new instructions?)\b"
    r"|\b(?:assistant|model|ai|chatbot)\b[^.]{0,30}\b(?:must|should|shall)\b[^.]{0,20}\b(?:say|answer|respond|reply|output)\b",
    re.IGNORECASE)
_ANAPHOR = re.compile(  # "It can ...", "Each input shown to them ...", "With such networks ...": refers back
    r"^(?:[-*+•▪◦‣]\s+)?(?:(?:that|thus|hence)\b|(?:\S+\s+){0,4}?(?:it|its|this|these|they|them|their|those|such)\b)",
    re.IGNORECASE)
_BYLINE = re.compile(r"^\s*(?:\d+\s*min(?:ute)?s?(?:\s+read)?\s*[·•|\-–]|(?:by|posted by|written by)\s+[A-Z])",
                     re.IGNORECASE)
_HEADING = re.compile(r"^\s*#{1,6}\s")
_TAG = r"<[^<>\n]{1,40}>"   # an HTML tag in a markdown note: "<details>", "</summary>"
_MARKUP = re.compile(_TAG)
_MARKUP_TITLE = re.compile(   # a collapsible section's title among its tags: "<details> <summary> Title </summary>"
    rf"^(?:\s*{_TAG})*\s*<summary>[^<>]*</summary>(?:\s*{_TAG})*\s*$", re.IGNORECASE)
_TRUNCATED = re.compile(r":\s*(?:\.\.\.|…)\s*$")       # "...uses the following rule: ..." (a digest's cut)
_INTRO = re.compile(
    r"\b(?:in this (?:note|section|post|article|chapter|series)\b[^.]{0,60}\bwe (?:will|are going to)"
    r"|in (?:this|the following) (?:note|section|post|article|chapter)s?,? we (?:will )?(?:first )?"
    r"(?:talk|discuss|analy[sz]e|present|explain|see|look|introduce|describe|cover))", re.IGNORECASE)
_SELF = re.compile(  # the note speaking of itself: "NOTE: this note should be reviewed", "my jupyter-notebook notes"
    r"\b(?:this|these|my|our)\s+(?:[\w/-]+\s+){0,5}?(?:notes?|notebooks?|posts?|pages?|articles?|blogs?)\b"
    r"|\bthis is (?:a|an|my)\s+(?:[\w-]+\s+){0,3}?(?:note|post|page|article)\b", re.IGNORECASE)
UNIT_VECTORS = "5"   # how ingest embeds units (2: those of text in another language under their heading path; 3:
                     # list lines also under their label, see `in_context`; 4: a run of list stubs no longer takes the
                     # line after it, see `_opens_next`; 5: a bullet that carries a wrapped line on joins it, see
                     # `_carries_on`); a version keeps what its first build used, so `rag ingest` says when --rebuild
                     # would renew them
QUOTABLE = ("prose", "item", "intro", "list")
RECORD = "record"   # a table row a question asks about: made per question by rag.answer.tables, never by chunk_units
MIN_WORDS = 4          # shorter units (titles, labels) are merged into the unit after them
MAX_CHARS = 600        # longer units are cut at clause boundaries
UNIT_MEMO = 2048       # chunk texts whose units are kept


def is_table_row(line: str) -> bool:
    """A table row: cells separated by tabs or pipes."""
    return line.count("\t") >= 2 or line.count("|") >= 2


def _line_units(text: str) -> list[tuple[int, int]]:
    """Spans of logical lines: wrapped lines are joined; blank lines, bullets, table rows and closed lines break, but
    a bullet that opens in lower case under a line cut after a function word carries that line on: an export that
    put a marker on each line of a wrapped item ("- ... and increases with" / "- each subsequent layer ...")."""
    units: list[list[int]] = []
    prev_open = False
    for m in re.finditer(r"[^\n]+", text):
        line = m.group()
        if not line.strip():
            prev_open = False
            continue
        gap = text[units[-1][1]:m.start()].count("\n") > 1 if units else True
        if gap or not prev_open or (_BULLET.match(line) and not _carries_on(text[units[-1][0]:units[-1][1]], line)) \
                or is_table_row(line):
            units.append([m.start(), m.end()])
        else:
            units[-1][1] = m.end()
        prev_open = not _END.search(line) and len(line.split()) >= MIN_WORDS and not is_table_row(line)
    return [(a, b) for a, b in units]


def _carries_on(above: str, line: str) -> bool:
    """Whether a bullet line goes on with the line above: it opens in lower case and the line above ends on a function
    word, which ends no sentence or item ("... code wherein the" / "- input size is larger than the output")."""
    words = above.split()
    rest = _BULLET.sub("", line, count=1)
    return bool(words) and words[-1].lower() in STOPWORDS and rest[:1].islower()


def _sentences_in(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """The sentences of one logical line, long ones cut at clause boundaries."""
    pieces = []
    for s, e in sentence_spans(text, a, b):
        while e - s > MAX_CHARS:
            cut = max(text.rfind(sep, s, s + MAX_CHARS) for sep in ("; ", ", ", " "))
            cut = cut + 1 if cut > s else s + MAX_CHARS
            pieces.append((s, cut))
            s = cut
        pieces.append((s, e))
    return [(s, e) for s, e in pieces if text[s:e].strip()]


def _list_line(text: str, at: int, lines: dict[int, ListLine]) -> ListLine | None:
    """The list line a unit starting at `at` opens, or None when it opens no list line."""
    start = text.rfind("\n", 0, at) + 1
    return lines.get(start) if not text[start:at].strip() else None


def _line_before(text: str, at: int, lines: dict[int, ListLine]) -> ListLine | None:
    """The list line on the last non-blank line before offset `at` (a line start), or None when that line is no list
    line."""
    before = text[:at].rstrip()
    return lines.get(before.rfind("\n") + 1) if before else None


def _opens_next(text: str, span: tuple[int, int], after: tuple[int, int] | None, lines: dict[int, ListLine]) -> bool:
    """Whether a unit is no sentence of its own but the start of the next one: the title of the list lines under it,
    a stub before a sibling line (a run of item names, or "- Stacking" over "- Uses a meta-classifier" in a flat
    list; a stub after another stub opens only a stub: the run lists names, and the line after it says nothing of
    its last one), or another short line without a sentence end."""
    a, b = span
    if _HEADING.match(text, text.rfind("\n", 0, a) + 1):
        return False                      # a heading is a unit of its own: the context of what follows
    item = _list_line(text, a, lines)
    if item is not None and item.title is not None and not item.label:
        return True
    if item is not None and item.stub(MIN_WORDS):   # into a sibling: a stub, or what a flat list says of it
        follow = _list_line(text, after[0], lines) if after else None
        if follow is None or follow.indent != item.indent or follow.title is not None:
            return False
        before = _line_before(text, item.start, lines)
        in_run = before is not None and before.indent == item.indent and before.stub(MIN_WORDS)
        return not in_run or follow.stub(MIN_WORDS)   # a run of names is a list: its last names no line after it
    return len(_MARKER.sub("", text[a:b], count=1).split()) < MIN_WORDS and not _END.search(text[a:b])


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans [start, end) in `text`; short title-like units are merged into the next one (a list title into
    its first line: "Stacking - Uses a meta-classifier ..."; a stub only into a sibling stub)."""
    spans = [s for a, b in _line_units(text) for s in _sentences_in(text, a, b)]
    spans = [(a + len(text[a:b]) - len(text[a:b].lstrip()), b - (len(text[a:b]) - len(text[a:b].rstrip())))
             for a, b in spans]
    lines = outline(text)
    merged: list[tuple[int, int]] = []
    carry = None
    for i, (a, b) in enumerate(spans):
        opens = _opens_next(text, (a, b), spans[i + 1] if i + 1 < len(spans) else None, lines)
        if carry is not None:
            a = carry
            carry = None
        if opens:
            carry = a
            continue
        merged.append((a, b))
    if carry is not None:
        if merged:
            merged[-1] = (merged[-1][0], len(text.rstrip()))
        else:
            merged.append((carry, len(text.rstrip())))
    return merged


def attach_anaphora(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join a sentence with a pronoun among its first words ("It can ...", "Each input shown to them ...") to the
    unit before it, unless that unit is no answer text (a label, a byline, a table row...)."""
    out: list[tuple[int, int]] = []
    lines = outline(text)
    for a, b in spans:
        if (out and _ANAPHOR.match(text[a:b]) and b - out[-1][0] <= MAX_CHARS
                and kind_of(text, out[-1], lines) in QUOTABLE):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def unmarked(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The span without a leading list or heading marker, so quotes read as sentences ("- It can" -> "It can")."""
    a, b = span
    m = _MARKER.match(text, a)
    return (m.end(), b) if m and m.end() < b else span


def _stubs_only(text: str, a: int, b: int, lines: dict[int, ListLine]) -> bool:
    """Whether text[a:b] is list stubs only: item names with nothing said of them."""
    starts = [text.rfind("\n", 0, a) + 1] + [a + m.end() for m in re.finditer(r"\n", text[a:b])]
    found = [lines.get(start) for start in starts if text[start:b].strip()]
    return bool(found) and all(item is not None and item.stub(MIN_WORDS) for item in found)


def kind_of(text: str, span: tuple[int, int], lines: dict[int, ListLine] | None = None) -> str:
    """What a unit of `text` is: one of KINDS (see Unit); `lines` is outline(text) when the caller holds it."""
    a, b = span
    lines = outline(text) if lines is None else lines
    unit = text[a:b]
    line_start = text.rfind("\n", 0, a) + 1
    line_end = text.find("\n", b)
    line = text[line_start:len(text) if line_end < 0 else line_end]
    if _BYLINE.match(unit):
        return "byline"
    if is_table_row(line):
        return "table"
    if _HEADING.match(line) or _MARKUP_TITLE.match(unit):
        return "heading"
    bare = EMPHASIS.sub("", unit).strip()
    if bare.endswith(":"):
        return "label"
    if _TRUNCATED.search(bare):
        return "truncated"
    first = next(iter(sentence_spans(bare)), (0, len(bare)))
    if _INTRO.search(bare) or _SELF.search(bare[first[0]:first[1]]):
        return "intro"   # announcing topics, or opening with the note speaking of itself
    if _stubs_only(text, a, b, lines):
        item = lines.get(line_start)
        return "truncated" if item is not None and item.cut else "list"   # a title cut from its lines
    return "item" if _BULLET.match(line) else "prose"


@dataclass(frozen=True)
class Unit:
    """One unit of a chunk: text[start:end], its kind, and the label or title line it sits under in the chunk.

    Kinds: prose and item (a list line) are answer text; intro (a note announcing its topics or speaking of itself:
    "This is a very old note", "I will be re-reading my notes") and list (item names with nothing said of them,
    "AdaBoost 2. XGBoost") may be quoted but explain nothing; label (a title or sentence ending in a colon: it
    introduces what follows), heading (a markdown heading, or the title of a collapsible HTML section), table (a row
    of cells), byline (reading time, author) and truncated (a sentence whose content after a colon was cut off, "...:
    ...", or a list title the chunk cut from its lines) are never quoted. A table row becomes a RECORD, quoted whole,
    only for a question that asks what its table says of its first cell (rag.answer.tables).
    """

    start: int
    end: int
    kind: str
    context: str = ""
    announced: bool = False   # a line of a list its context announces ("Two ways to learn word embeddings:")
    parent_at: int = -1       # start of the list line it sits directly under (-1: none)

    @property
    def quotable(self) -> bool:
        """Whether the unit may be quoted as an answer sentence."""
        return self.kind in QUOTABLE


@lru_cache(maxsize=UNIT_MEMO)
def chunk_units(text: str) -> tuple[Unit, ...]:
    """Every unit of a chunk's text with its kind and context; instructions to the assistant are dropped. Memoised:
    one question reads the units of each retrieved chunk for its evidence, its abstention and the category check."""
    spans = [sp for sp in split_sentences(text) if not looks_like_instruction(text[sp[0]:sp[1]])]
    out: list[Unit] = []
    lines = outline(text)
    context, by_label, previous_end = "", False, 0
    for span in attach_anaphora(text, spans):
        kind = kind_of(text, span, lines)
        a, b = unmarked(text, span)
        if kind not in ("item", "list", "label") and "\n\n" in text[previous_end:span[0]]:
            context, by_label = "", False   # a new paragraph that is no list item leaves the list it followed
        previous_end = b
        item = _list_line(text, span[0], lines)
        if kind in ("label", "heading"):
            if item is None or not item.parent:   # a list title is the context of the lines under it only
                title = " ".join(EMPHASIS.sub("", _MARKUP.sub(" ", text[a:b])).split())
                context, by_label = title.strip(" :#"), kind == "label"
            continue
        if item is not None and item.under is not None:   # the topics of the list lines it sits under
            out.append(Unit(a, b, kind, item.under, item.announced, item.parent_at))
        else:
            out.append(Unit(a, b, kind, context, by_label and kind in ("item", "list")))
    return tuple(out)


def evidence_units(text: str) -> list[tuple[int, int]]:
    """The spans of `text` that can be quoted as evidence: quotable units, list and heading markers left out.
    Ingest embeds squash(text[a:b]) of each, so answering finds their vectors in the index."""
    return [(u.start, u.end) for u in chunk_units(text) if u.quotable]


def in_context(context: str, shown: str) -> str:
    """A list line as the label or title it sits under says of it ("Each encoder layer feeds them through the
    following sublayers: A multi-head attention layer"): what the line means, which it rarely says alone."""
    return f"{context}: {shown}"


def listed_in_context(text: str) -> list[str]:
    """Every list line of `text` under a label or title, as `in_context` writes it (whitespace squashed): ingest embeds
    them beside the evidence units, so answering finds their vectors."""
    return [in_context(u.context, squash(text[u.start:u.end])) for u in chunk_units(text)
            if u.kind == "item" and u.context]


def looks_like_instruction(text: str) -> bool:
    """Whether a note sentence addresses the assistant (prompt injection); such sentences are never evidence."""
    return bool(_INJECTION.search(text))
