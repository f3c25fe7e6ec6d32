"""Document structure of a note: lines, fenced code, LaTeX blocks, headings and paragraphs."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.clean import boilerplate_lines, clean_heading, is_list_item

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(\S.*?)\s*$")
_BEGIN = re.compile(r"^\s*\\begin\{([A-Za-z*]+)\}")
MATH_MAX_LINES = 60            # an unclosed $$ or \[ opener further than this is treated as prose
TITLE_MAX_WORDS = 12
TITLE_MAX_CHARS = 90


@dataclass
class Block:
    """A run of original lines [first, last] (0-based, inclusive) of one kind."""

    kind: str          # heading | code | math | para
    first: int
    last: int
    level: int = 0
    title: str = ""


def line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) char offsets of each line, without its newline or a trailing '\\r'."""
    spans, start, n = [], 0, len(text)
    while start <= n:
        end = text.find("\n", start)
        if end < 0:
            end = n
        stop = end - 1 if end > start and text[end - 1] == "\r" else end
        spans.append((start, stop))
        start = end + 1
    return spans


def _fence_end(lines: list[str], i: int, marker: str) -> int:
    """Index of the closing fence line (the last line when the fence never closes)."""
    for j in range(i + 1, len(lines)):
        s = lines[j].strip()
        if s.startswith(marker[0] * len(marker)) and not s.strip(marker[0]):
            return j
    return len(lines) - 1


def _math_end(lines: list[str], i: int) -> int | None:
    """Last line of a display-math block opening at line i, or None when line i opens none."""
    s = lines[i].strip()
    if s.startswith("$$"):
        closer, rest = "$$", s[2:]
    elif s.startswith("\\["):
        closer, rest = "\\]", s[2:]
    elif m := _BEGIN.match(s):
        closer, rest = f"\\end{{{m.group(1)}}}", s[m.end():]
    else:
        return None
    if closer in rest:   # opened and closed on this line: a math line only if nothing follows
        return i if s.endswith(closer) else None
    for j in range(i + 1, min(len(lines), i + MATH_MAX_LINES)):
        if closer in lines[j]:
            return j
    return None


def _is_title(s: str) -> bool:
    """A short line that reads like a slide or section title."""
    words = s.split()
    first = next((c for c in s if c.isalpha()), "")
    return (0 < len(words) <= TITLE_MAX_WORDS and len(s) <= TITLE_MAX_CHARS and first.isupper()
            and sum(c.isalpha() for c in s) >= 3 and s[-1] not in ".,;:!-" and "\t" not in s and ", " not in s
            and not is_list_item(s) and not s.startswith(("|", ">", "$", "\\", "<", "!", "[")))


def parse_blocks(lines: list[str]) -> tuple[list[Block], set[int]]:
    """Blocks in document order and the set of dropped (boilerplate) line indices."""
    special: dict[int, Block] = {}
    protected: set[int] = set()
    i = 0
    while i < len(lines):
        if m := _FENCE.match(lines[i]):
            j = _fence_end(lines, i, m.group(1))
            special[i] = Block("code", i, j)
        elif (j := _math_end(lines, i)) is not None:
            special[i] = Block("math", i, j)
        else:
            i += 1
            continue
        protected.update(range(i, j + 1))
        i = j + 1
    atx = {i: m for i, line in enumerate(lines) if i not in protected and (m := _ATX.match(line))}
    dropped = boilerplate_lines(lines, protected)
    markdown = bool(atx)

    def blank(k: int) -> bool:
        return k < 0 or k >= len(lines) or k in dropped or not lines[k].strip()

    blocks: list[Block] = []
    para: list[int] = []

    def flush() -> None:
        if para:
            blocks.append(Block("para", para[0], para[-1]))
            para.clear()

    i = 0
    while i < len(lines):
        if i in special:
            flush()
            blocks.append(special[i])
            i = special[i].last + 1
            continue
        s = lines[i].strip()
        if blank(i):
            flush()
        elif markdown and i in atx:
            flush()
            m = atx[i]
            title = clean_heading(m.group(2))
            if title:
                blocks.append(Block("heading", i, i, level=len(m.group(1)), title=title))
        elif not markdown and blank(i - 1) and blank(i + 1) and _is_title(s):
            flush()
            blocks.append(Block("heading", i, i, level=1, title=clean_heading(s)))
        else:
            para.append(i)
        i += 1
    flush()
    return blocks, dropped
