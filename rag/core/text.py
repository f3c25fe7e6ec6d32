"""The one text toolkit of ingest, the index and the chain: sentence spans, the word pattern, stop words, a light
stemmer and the whitespace normaliser.

Deliberately separate: the judge in eval/ keeps its own word handling (it must stay independent of the chain it
grades); rag/index/bm25.py keeps its tokenizer (see its docstring); rag/answer/citations.py splits generated
answers at their citation markers, not note text.
"""
from __future__ import annotations

import re
import unicodedata

# ---- whitespace -------------------------------------------------------------------------------------------------


def squash(text: str) -> str:
    """Whitespace runs collapsed to single spaces, ends trimmed: the form that chunk and evidence-unit hashes are
    taken of (rag/index/store/db.py), so ingest and answering find the same stored vectors."""
    return " ".join(text.split())


def unaccented(text: str) -> str:
    """Text with its accents dropped ("Naïve" -> "Naive"), for matching words written with or without them."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


# ---- markup -----------------------------------------------------------------------------------------------------

EMPHASIS = re.compile(r"\*\*|__|(?<![\w*\\])\*(?=\S)|(?<=\S)\*(?![\w*])|</?mark[^>]*>")  # markdown bold/italic
_CODE_TICK = re.compile(r"`")
_LEADING_MARKER = re.compile(r"^\s*(?:[-*+•▪◦‣>]|\d{1,3}[.)]|#{1,6})\s+")


def plain(text: str) -> str:
    """Text as a reader should see it in an answer: markdown bold and italics, code ticks, highlight tags and a
    leading list or heading marker removed (math left as written), whitespace squashed. Citations keep the exact
    note text."""
    text = _LEADING_MARKER.sub("", text)
    out, pos = [], 0
    for start, end in _guarded(text):
        out.append(_CODE_TICK.sub("", EMPHASIS.sub("", text[pos:start])))
        out.append(text[start:end] if text[start] == "$" or text[start] == "\\" else text[start:end].strip("`"))
        pos = end
    out.append(_CODE_TICK.sub("", EMPHASIS.sub("", text[pos:])))
    return squash("".join(out))


# ---- sentences --------------------------------------------------------------------------------------------------

SPLITTER_VERSION = "2"   # how notes are cut (sentence_spans, hence chunks and units): an index cut by another version
                         # re-reads every note once at the next ingest, its unchanged chunks reused by text hash
                         # (2: display formulas end sentences)
_PROTECTED = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|\\\(.*?\\\)|\\\[.*?\\\]|`[^`\n]+`|\[\[.*?\]\]")  # math, code, wiki
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]*_]*\s+(?=[\"'“‘(\[$\\A-Z0-9]|\*\S)")  # "* (" is a product
_DISPLAY_END = re.compile(r"\s*(?=[A-Z][a-z]+\b)")   # a display formula's end before a capitalised word
ABBREVIATIONS = frozenset("e.g i.e eg ie etc vs al fig figs eq eqs dr mr mrs ms cf approx no sec ch vol st jr sr "
                          "ref refs resp incl".split())


def _guarded(text: str) -> list[tuple[int, int]]:
    """Spans no sentence boundary may fall in: inline and display math, code spans, wiki links."""
    if "$" in text or "\\" in text or "`" in text or "[[" in text:
        return [(m.start(), m.end()) for m in _PROTECTED.finditer(text)]
    return []


def _abbreviation_before(text: str, pos: int) -> bool:
    """Whether the full stop at `pos` ends an abbreviation ("e.g.", "et al."), an initial ("J. Smith", "U. S.") or
    the number opening a numbered list line."""
    if text[pos] != "." or not text[:pos].strip():
        return False
    word = text[:pos].rsplit(None, 1)[-1].lstrip("([\"'")
    if word.isdigit() and not text[text.rfind("\n", 0, pos) + 1:pos - len(word)].strip():
        return True   # "4. **1980s ...": a list's number, not a sentence
    return word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isupper())  # "partition i." ends one


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of text[start:end], surrounding whitespace excluded.

    A sentence ends at . ! ? or … (with closing quotes, brackets or emphasis) before whitespace and a capital,
    digit, opening quote or bracket, math or a backslash; never inside math, code spans or wiki links, and never
    after an abbreviation or an initial. A display formula ($$...$$ or \\[...\\]) is a block of its own in markdown:
    a capitalised word after it opens a new sentence ("... $$ We simplified the term ...").
    """
    part = text[start:len(text) if end is None else end]
    guarded = _guarded(part)
    cuts = [m.end() for a, b in guarded if part.startswith(("$$", "\\["), a)
            for m in [_DISPLAY_END.match(part, b)] if m and b < len(part)]
    g = 0
    for m in _BOUNDARY.finditer(part):
        pos = m.start()
        while g < len(guarded) and guarded[g][1] <= pos:
            g += 1
        if g < len(guarded) and guarded[g][0] <= pos < guarded[g][1]:
            continue
        if not _abbreviation_before(part, pos):
            cuts.append(m.end())
    spans, begin = [], 0
    for cut in sorted(set(cuts)) + [len(part)]:
        piece = part[begin:cut]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + begin + lead, start + begin + lead + len(stripped)))
        begin = cut
    return spans


# ---- words ------------------------------------------------------------------------------------------------------

_PART = r"[a-z0-9]+"
WORD = re.compile(rf"{_PART}(?:[.']{_PART})*", re.IGNORECASE)  # "e.g", "0.9999" and "don't" stay one word
PART = re.compile(_PART, re.IGNORECASE)                          # the pieces a WORD joins with . and '
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each either else etc even ever every few for from further
get gets got had has have having he her here hers him his how however i if in into is it its itself just
let like may me might more most much must my need no nor not of off often on once one only or other our out
over own per quite rather really same she should since so some such than that the their them then there these
they this those though through thus to too under until up upon us use used uses using very via was we well were
what when where whether which while who whom whose why will with within without would yet you your
e.g i.e eg ie vs say says said tell tells according note notes explain describe described mean means meant way ways
thing things something many kind kinds type types sort sorts example examples instance instances does
bunch lot lots couple handful pile piles plenty
anyone anybody anything everyone everybody everything someone somebody nobody together
inside outside across along around beyond behind beside toward towards onto among amongst throughout beneath
besides despite except unlike amid regarding concerning versus apart aside
underneath""".split())


CLITIC = re.compile(r"(?:n't|'(?:s|re|ve|ll|d|m))$", re.IGNORECASE)   # "I've", "they're", "don't", "what's"


def is_function_word(word: str) -> bool:
    """A stop word, alone or with its clitic ("I've", "what's", "they're"), or a negated auxiliary ("don't", "won't");
    "the model's" is the model."""
    low = word.lower()
    return CLITIC.sub("", low) in STOPWORDS or low.endswith("n't")


def words(text: str) -> list[str]:
    """The words of `text` as written, in order."""
    return WORD.findall(text)


def word_parts(text: str) -> list[str]:
    """The words of `text` cut at their inner dots and apostrophes ("XGBoost's" -> "XGBoost", "s"): for keyword and
    vocabulary lookups, where a possessive or a version number must not hide the word."""
    return PART.findall(text)


def stem(word: str) -> str:
    """A deliberately light suffix stripper (plural, -ing, -ed, -ly) so inflections match."""
    w = word.lower().replace("'", "")
    if w.endswith("ss") or w.isdigit():
        return w
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("ly", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: len(w) - len(suffix)] + keep
            break
    return w[:-1] if w.endswith("e") and len(w) > 3 else w


def content_terms(text: str) -> set[str]:
    """Stemmed content words (stop words dropped; numbers kept)."""
    return {stem(t) for t in words(text) if not is_function_word(t) and (len(t) > 1 or t.isdigit())}
