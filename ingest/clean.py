"""Cleaning real notes without rewriting them: inline text normalisation and boilerplate line selection.

Cleaning never edits the document text that citations quote. It only decides which original lines
are kept (boilerplate lines are dropped) and how a kept span reads in a chunk's `text`; chunk
offsets always index the original text.
"""
from __future__ import annotations

import re
from collections import Counter

_SPACE_CHARS = "\u00a0\u2007\u202f\u2009\u200a\u3000\r\f\v"   # tabs stay: they separate table cells
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_TRANSLATE = {**dict.fromkeys(map(ord, _SPACE_CHARS), " "), **dict.fromkeys(map(ord, _INVISIBLE), None)}
_EMBED = re.compile(r"!\[\[[^\[\]\n]*\]\]")                       # Obsidian embed: dropped
_WIKI = re.compile(r"\[\[([^\[\]|\n]*)(?:\|([^\[\]\n]*))?\]\]")    # [[target]] / [[target|text]]
_MD_IMAGE = re.compile(r"!\[([^\[\]\n]*)\]\([^()\n]*\)")           # ![alt](url) -> alt
_MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\([^()\s]*\)")              # [text](url) -> text
_SPACES = re.compile(r" {2,}")
_CELL_GAP = re.compile(r" *\t[ \t]*")   # a tab with spaces around it: one table-cell separator
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•▪◦·]\s|\d{1,3}[.)]\s|[a-zA-Z][.)]\s)")
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{3,8}$")
_ATX = re.compile(r"^#{1,6}\s")

# A run of short UI lines is dropped when its score (+1 per short line, -3 per content line) reaches
# this, and it looks like UI: repeated lines or many "Label:" lines.
UI_RUN_MIN_SCORE = 8
CONTENT_PENALTY = 3
UI_MAX_DISTINCT_RATIO = 0.7
UI_MIN_LABEL_RATIO = 0.25
UI_TAIL_MAX_LINES = 12       # lines left after a UI run at the end of a note that are dropped with it


def _wiki(m: re.Match) -> str:
    """[[a|b]] -> b, [[a#h]] -> 'a h'."""
    return (m.group(2) if m.group(2) is not None else m.group(1).replace("#", " ")).strip()


def clean_prose(s: str) -> str:
    """One line of prose as it should read in a chunk: spaces normalised, links reduced to their text."""
    s = s.translate(_TRANSLATE)
    if "[" in s:
        s = _EMBED.sub("", s)
        s = _WIKI.sub(_wiki, s)
        s = _MD_IMAGE.sub(lambda m: m.group(1), s)
        s = _MD_LINK.sub(lambda m: m.group(1), s)
    return _CELL_GAP.sub("\t", _SPACES.sub(" ", s)).strip()


def clean_code(s: str) -> str:
    """One line of code: indentation kept, odd spaces and invisible characters normalised."""
    return s.replace("\t", "    ").translate(_TRANSLATE).rstrip()


def clean_heading(s: str) -> str:
    """Heading text without '#' marks or emphasis."""
    s = s.strip().lstrip("#").rstrip("#")
    return clean_prose(s.replace("**", "").replace("__", "")).strip(" *_:")


def is_list_item(s: str) -> bool:
    """A bullet or numbered list line."""
    return bool(_LIST_MARKER.match(s))


def _is_short(s: str, max_words: int = 4) -> bool:
    """A short UI-like line: few words, not a list item or table row."""
    return (len(s.split()) <= max_words and len(s) <= 40 and "\t" not in s
            and not is_list_item(s))


def _is_label(s: str) -> bool:
    """'Align:', '#ffffff', 'ESC', '1 28': labels and values of a web UI."""
    return (s.endswith(":") or bool(_HEX_COLOUR.match(s)) or (s.isupper() and len(s) <= 5)
            or s.replace(" ", "").isdigit())


def _ui_runs(lines: list[str], protected: set[int]) -> set[int]:
    """Maximal-score runs of short lines that look like site UI (the end of a scraped page)."""
    dropped: set[int] = set()

    def finish(run: list[int]) -> None:
        short = [lines[i].strip() for i in run if _is_short(lines[i].strip())]
        if not short:
            return
        distinct = len(set(short)) / len(short)
        labels = sum(map(_is_label, short)) / len(short)
        if distinct <= UI_MAX_DISTINCT_RATIO or labels >= UI_MIN_LABEL_RATIO:
            dropped.update(range(run[0], run[-1] + 1))

    score, best, run, best_len = 0, 0, [], 0
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        gain = 1 if i not in protected and _is_short(s) else -CONTENT_PENALTY
        if score + gain <= 0:
            if best >= UI_RUN_MIN_SCORE:
                finish(run[:best_len])
            score, best, run, best_len = 0, 0, [], 0
            continue
        score += gain
        run.append(i)
        if score > best:
            best, best_len = score, len(run)
    if best >= UI_RUN_MIN_SCORE:
        finish(run[:best_len])
    if dropped:   # a page's UI often runs to its very end: take a short remainder with it
        rest = [i for i in range(max(dropped) + 1, len(lines)) if lines[i].strip()]
        short = sum(1 for i in rest if i not in protected and _is_short(lines[i].strip(), 6))
        if len(rest) <= UI_TAIL_MAX_LINES and short * 2 >= len(rest):
            dropped.update(range(max(dropped) + 1, len(lines)))
    return dropped


def _logo_paragraphs(lines: list[str], protected: set[int]) -> set[int]:
    """Paragraphs of 2+ tiny lines that repeat in the note (slide footers, logos) or are all labels."""
    counts = Counter(s.strip() for s in lines if s.strip())
    dropped: set[int] = set()
    para: list[int] = []
    for i in range(len(lines) + 1):
        s = lines[i].strip() if i < len(lines) else ""
        if s and i not in protected and not _ATX.match(s):
            para.append(i)
            continue
        texts = [lines[j].strip() for j in para]
        if (len(para) >= 2 and all(_is_short(t, 3) and t[-1] not in ".!?" for t in texts)
                and (any(counts[t] >= 2 for t in texts) or sum(map(_is_label, texts)) * 2 >= len(texts))):
            dropped.update(para)
        para = []
    return dropped


def boilerplate_lines(lines: list[str], protected: set[int]) -> set[int]:
    """Indices of lines to leave out of chunks; `protected` lines (code, math) are never dropped."""
    return (_ui_runs(lines, protected) | _logo_paragraphs(lines, protected)) - protected
