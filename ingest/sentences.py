"""Split one line of prose into sentence spans, never inside math, code spans or wiki links."""
from __future__ import annotations

import re

_PROTECTED = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|\\\(.*?\\\)|\\\[.*?\\\]|`[^`\n]+`|\[\[.*?\]\]")
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]*_]*\s+(?=[\"'“‘(\[*$\\A-Z0-9])")
_ABBREVIATIONS = frozenset("e.g i.e etc vs al fig figs eq eqs dr mr mrs ms cf approx no sec ch vol st jr sr "
                           "ref refs resp incl".split())


def sentence_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `line`, surrounding whitespace excluded."""
    guarded = [(m.start(), m.end()) for m in _PROTECTED.finditer(line)] if ("$" in line or "\\" in line
                                                                           or "`" in line or "[[" in line) else []
    cuts = []
    g = 0
    for m in _BOUNDARY.finditer(line):
        pos = m.start()
        while g < len(guarded) and guarded[g][1] <= pos:
            g += 1
        if g < len(guarded) and guarded[g][0] <= pos < guarded[g][1]:
            continue
        word = line[:pos].rsplit(None, 1)[-1].lstrip("([\"'") if line[:pos].strip() else ""
        if (word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())) and line[pos] == ".":
            continue
        cuts.append(m.end())
    spans, start = [], 0
    for cut in cuts + [len(line)]:
        piece = line[start:cut]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + lead + len(stripped)))
        start = cut
    return spans
