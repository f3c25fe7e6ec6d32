"""Table rows as records: a row is about the entity in its first cell, and answers a question that names that entity
and one of its table's column headers ("how many tokens was GPT-NeoX trained on?" over a row "GPT-NeoX 20B 472B"
under "Total Parameters | Total Data Size (in tokens)"), or one of its values written with digits and a column
header ("which models were trained on 300B tokens?").

For such a question that row becomes a RECORD unit: quoted whole (the row line, which the citation quotes exactly),
shown with its cells labelled by the header ("GPT-NeoX - Total Parameters: 20B; Total Data Size (in tokens): 472B"),
and it explains its entity. Every other table row stays unquoted (rag.index.units): a row that only names a term
("vector database" in a cell of the RAG row), a question that asks what the entity is ("what is Dolly?" over a row
of hallucination rates) or why ("why does BloombergGPT do well on finance tasks?") is still a mention, not an
explanation.
"""
from __future__ import annotations

import re
from collections import Counter

from rag.answer.focus import mentions
from rag.answer.question import Question
from rag.core.text import plain, squash
from rag.index.units import RECORD, Unit, chunk_units, is_table_row

_SEPARATOR = re.compile(r"^[\s|:\-]+$")   # a markdown table's rule under its header: "|---|:--:|"
_ASIDE = re.compile(r"\([^()]*\)")        # "(RAG)", "(research-only)"
_WHY = re.compile(r"\bwhy\b", re.IGNORECASE)
LINES_ABOVE = 200   # how far above a chunk the header of a table it continues is looked for
LABEL_WORDS = 5   # a header cell names a column in at most this many words ("Total Data Size (in tokens)": 3)


def cells(line: str) -> list[str]:
    """The cells of a table row (tab- or pipe-separated), stripped; a pipe table's border bars make no cells."""
    line = line.strip(" \r")
    if "\t" not in line:
        line = line.strip(" |")
    return [plain(c) for c in re.split(r"\t|\|", line)]


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line of text."""
    out, at = [], 0
    for line in text.split("\n"):
        out.append((at, at + len(line)))
        at += len(line) + 1
    return out


def _labels(row: list[str]) -> bool:
    """Whether a row's cells are column names: none longer than LABEL_WORDS words, asides aside."""
    return all(len(_ASIDE.sub(" ", c).split()) <= LABEL_WORDS for c in row)


def _header(text: str, lines: list[tuple[int, int]], i: int) -> list[str] | None:
    """The header cells of the table whose row is line i: the first line of its run of rows (a markdown rule under it
    skipped) when its cells are column names, or the line just above the run when it has one cell fewer (a header
    whose entity column is unnamed, its leading tab lost). A run that opens with a data row continues a table that
    text interrupted: the header is that of the nearest run above with as many cells. None when there is none."""
    def line(j: int) -> str:
        return text[lines[j][0]:lines[j][1]]

    def in_table(j: int) -> bool:
        return bool(is_table_row(line(j)) or _SEPARATOR.match(line(j)))

    width = len(cells(line(i)))
    if _SEPARATOR.match(line(i)):
        return None
    last = i
    while last >= 0:
        first = last
        while first > 0 and in_table(first - 1):
            first -= 1
        above = line(first - 1) if first > 0 else ""
        if ("\t" in above or "|" in above) and len(cells(above)) == width - 1 and _labels(cells(above)):
            return [""] + cells(above)
        header = cells(line(first))
        if len(header) == width and _labels(header) and first < i:
            return header
        last = first - 1
        while last >= 0 and not (is_table_row(line(last)) and len(cells(line(last))) == width):
            last -= 1
    return None


def _key_asked(question: str, key: str) -> bool:
    """Whether the question names the row's entity: its first cell, or the abbreviation in its parentheses."""
    names = [squash(_ASIDE.sub(" ", key))] + [a.strip("() ") for a in _ASIDE.findall(key)]
    return any(sum(ch.isalnum() for ch in name) >= 2 and mentions(question, name) for name in names)


def _values(question: str) -> set[str]:
    """The words of a question written with digits, lowercased ("300b"): values a row may hold as it writes them
    ("which models were trained on 300B tokens?" over "GPT-3 175B 300B" asks for the rows that hold one)."""
    return {w.lower() for w in re.findall(r"\S*\d\S*", question.rstrip("?.!"))}


def labelled(row: list[str], header: list[str] | None) -> str:
    """A row as a reader should see it: its entity, then each other cell after its column's header."""
    if header is None:
        return "; ".join(c for c in row if c)
    pairs = "; ".join(f"{h.rstrip(' :')}: {c}" if h else c for h, c in zip(header[1:], row[1:]) if c)
    return f"{row[0]} - {pairs}" if row[0] else pairs


def lines_above(document: str, start: int) -> str:
    """The whole lines of a note before offset `start` (where its chunk begins), the last LINES_ABOVE of them."""
    end = document.rfind("\n", 0, start) + 1
    begin = end
    for _ in range(LINES_ABOVE):
        begin = document.rfind("\n", 0, begin - 1) + 1
        if begin == 0:
            break
    return document[begin:end]


def records(question: Question, text: str, above: str = "") -> list[tuple[Unit, str]]:
    """The rows of a chunk's tables that the question asks about, as (RECORD unit over the row line, shown text); none
    for a question that asks why (a row holds values, not reasons). The words naming the note a question points at
    may name the column ("what's listed for Alpaca in my hallucination slide" over "Hallucination rate"); a question
    that names two rows of one table compares them, and needs name no column ("prompt engineering or RAG: what are
    the pros and cons of each?" over "Advantages | Considerations").
    `above`: the note's lines before the chunk (`lines_above`), where the header lies of a table whose last rows a
    chunk boundary cut off from it."""
    if _WHY.search(question.text):
        return []
    whole = above + text
    lines = _lines(whole)
    values = _values(question.text)
    asked = []
    for i, (a, b) in enumerate(lines):
        line = whole[a:b]
        if not is_table_row(line):
            continue
        row = cells(line)
        named = bool(row[0]) and _key_asked(question.text, row[0])
        if not (named or row[0] and a >= len(above) and any(c.lower() in values for c in row[1:])):
            continue
        header = _header(whole, lines, i)
        if header is not None:
            asked.append((a, line, row, header, named))
    compared = Counter(tuple(header) for *_, header, named in asked if named)
    out = []
    for a, line, row, header, named in asked:
        if a < len(above) or not (named and compared[tuple(header)] > 1 or any(
                mentions(" ".join(header[1:]), term) for term in question.terms | question.note_words)):
            continue
        start = a - len(above) + len(line) - len(line.lstrip())
        out.append((Unit(start, a - len(above) + len(line.rstrip()), RECORD), labelled(row, header)))
    return out


def question_units(question: Question, text: str, above: str = "") -> list[tuple[Unit, str]]:
    """Every unit of a chunk with the text it shows (whitespace squashed), and the records the question asks about, in
    the order of the text; `above` as for `records`."""
    units = [(u, squash(text[u.start:u.end])) for u in chunk_units(text)]
    return sorted(units + records(question, text, above), key=lambda pair: pair[0].start)


def quotable(unit: Unit) -> bool:
    """Whether a unit may be quoted for this question: an answer unit of the notes, or a record it asks about."""
    return unit.quotable or unit.kind == RECORD

