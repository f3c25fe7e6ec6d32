"""Whether the notes explain what a question is about, or only mention it: a term named in a list of items, a title,
a table row or an intro that announces topics is mentioned, not explained; terms a question connects ("why did
Google release CLIP") must occur together in some note for its premise to be in the notes."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from rag.core.text import stem, word_parts
from rag.index.units import RECORD, Unit

EXPLAINING = ("prose", "item", RECORD)   # unit kinds that can explain a term (see rag.index.units.Unit)
_ITEM = r"(?:(?!\s[-–]\s)[^,;:()\n]){1,40}(?:\s*\([^()\n]{1,30}\))?"   # an item may carry its abbreviation:
# "Gradient Boosting (GBM)"; a spaced dash, like a colon, ends the label that names a list ("Programming language -
# python, r, sql and java"): the label is not one of its items
_ENUMERATION = re.compile(  # "a, b, c and d"; "techniques like A or B"; the last item ends where the list does, so
    # "Navina, a medical AI startup, built a generative AI assistant that ..." is no list
    rf"(?:{_ITEM}\s*,\s*){{2,}}(?:(?:and|or)\s+)?{_ITEM}(?=\s*(?:[,.;:!?)\n]|$))"
    rf"|\b(?:such as|like|e\.g\.,?|including|for example)\s+{_ITEM}?\s(?:,|or|and)\s{_ITEM}", re.IGNORECASE)


def mentions(text: str, term: str) -> bool:
    """Whether `text` holds the term (each of its parts, in order and side by side, inflections tolerated)."""
    want = [stem(p) for p in word_parts(term)]
    have = [stem(p) for p in word_parts(text)]
    if not want:
        return False
    for i in range(len(have) - len(want) + 1):
        if all(_same_word(h, w) for h, w in zip(have[i:], want)):
            return True
    joined = _joined(term)
    return joined in "".join(word_parts(text)).lower() and joined in _runs(text)   # the cheap test first: it is hot


def _same_word(have: str, want: str) -> bool:
    """Whether a stemmed text word is the stemmed wanted word, an inflection of a long one tolerated."""
    return have == want or (len(want) >= 5 and have.startswith(want[:min(len(want), 8)]))


def uses_all(text: str, phrase: str) -> bool:
    """Whether `text` uses every word of the phrase, in any order: as itself, an inflection, or the longer word it
    shortens ("batch norm" in "normalization of each batch")."""
    have = {stem(p) for p in word_parts(text)}
    return all(any(_same_word(h, w) or (len(w) >= 4 and h.startswith(w)) for h in have)
               for w in (stem(p) for p in word_parts(phrase)))


def _joined(words: str) -> str:
    """Words run together, lowercased, without a plural s: the one spelling of "Conv2DTranspose", "Conv2d Transpose"
    and "conv2d-transpose"."""
    joined = "".join(word_parts(words)).lower()
    return joined[:-1] if joined.endswith("s") else joined


def _runs(text: str, longest: int = 3) -> set[str]:
    """Every run of up to `longest` adjacent words of text, joined as _joined joins them."""
    words = [w.lower() for w in word_parts(text)]
    runs = {"".join(words[i:i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)}
    return {r[:-1] if r.endswith("s") else r for r in runs}


def in_enumeration(text: str, term: str) -> bool:
    """Whether every mention of the term in `text` is one item of a list of short items ("metrics like accuracy,
    precision, recall, F1-score, etc.", "techniques like Xavier initialization or He initialization")."""
    runs = [m.group() for m in _ENUMERATION.finditer(text)]
    items = [item for run in runs for item in re.split(r",|\band\b|\bor\b", run)]
    in_items = any(mentions(item, term) and len(item.split()) <= 4 for item in items)
    outside = _ENUMERATION.sub(" ", text)
    return in_items and not mentions(outside, term)


def explains(text: str, unit: Unit, term: str) -> bool:
    """Whether a unit says something about the term: it is prose or a list line and names the term outside any
    enumeration, or sits under a list label or title that names it ("1980s - SVMs:" over "SVMs were introduced")."""
    if unit.kind not in EXPLAINING:
        return False
    return (mentions(text, term) and not in_enumeration(text, term)) or mentions(unit.context, term)


def unexplained(terms: Iterable[str], units: list[tuple[str, Unit]], names: Iterable[str] = (),
                long_forms: dict[str, str] | None = None) -> list[str]:
    """The terms that some retrieved unit mentions but none explains, and the `names` (terms the notes hold) that no
    retrieved unit mentions at all: what the passages found say is then about something else. Names with fewer than
    three letters ("1-D", "F1") are left out of the second test: notes write them in too many ways ("1D", "one-
    dimensional"). An abbreviation the notes define is also mentioned and explained by its long form (`long_forms`:
    rag.answer.abbreviations.defined): "VAE" by a passage on "Variational Autoencoders". `units` are (text, Unit)
    pairs."""
    names = {n for n in names if sum(c.isalpha() for c in n) >= 3}
    long_forms = long_forms or {}
    out = []
    for term in terms:
        forms = [term, *filter(None, [long_forms.get(term.lower()) or long_forms.get(term.lower().rstrip("s"))])]
        mentioned = [(text, u, form) for text, u in units for form in forms
                     if mentions(text, form) or mentions(u.context, form)]
        explained = any(explains(text, u, form) for text, u, form in mentioned)
        if not explained and (mentioned or term in names):
            out.append(term)
    return out


def unconnected(parts_terms: Iterable[tuple[str, ...]], notes_with: Callable[[str], set[int]]) -> list[str]:
    """For each part, its terms when no note holds them all ("google + clip"); `notes_with(term)` is the set of notes
    holding a term. Parts with fewer than two terms are not checked."""
    out: list[str] = []
    for terms in parts_terms:
        if len(terms) < 2:
            continue
        found = [(term, notes_with(term)) for term in terms]
        found = [(term, rows) for term, rows in found if rows]   # a term known only by an abbreviation is not checked
        if len(found) >= 2 and not set.intersection(*(rows for _, rows in found)):
            out.append(" + ".join(term for term, _ in found))
    return out
