"""Abbreviations the notes define ("Variational Autoencoders (VAE)", "GAN (Generative Adversarial Network)"), found
by the rule of Schwartz and Hearst (2003): each letter of the short form occurs in the long form in order, the first
one opening a word of it, and the long form is the shortest run of words before the parentheses that holds them."""
from __future__ import annotations

import re
from collections.abc import Callable

from rag.core.text import word_parts
from rag.core.types import SearchResult

_SHORT = r"[A-Z][A-Za-z0-9-]{1,9}"   # "VAE", "GANs", "ViT", "BDTs"
_SHORT_IN_PARENTHESES = re.compile(rf"(?<=[ \t])\(\s*({_SHORT})\s*\)")
_WORDS_BEFORE = re.compile(r"[\w'-]+(?:[ \t]+[\w'-]+)*[ \t]*$")   # the run of words a parenthesis follows
LONG_FORM_WORDS = 12                                               # at most this many of them,
LONG_FORM_CHARS = 300                                              # read from this many characters before it
_JOINERS = frozenset("of the for and to in on".split())   # small words a spelled-out name may hold
COMPOUND_PIECE = 3   # the shortest known word a compound spelling a short form out is read as holding ("flow")
_SHORT_THEN_LONG = re.compile(rf"\b({_SHORT})[ \t]*\(([^()\n]{{3,80}})\)")


def is_short_form(word: str) -> bool:
    """Whether a word is written as an abbreviation: two capitals at least ("VAE", "GANs", "ViT")."""
    return sum(ch.isupper() for ch in word) >= 2 and bool(re.fullmatch(_SHORT, word))


def _long_form(short: str, words: list[str]) -> str | None:
    """The shortest run of the last `words` that spells `short` out, or None (see the module doc)."""
    letters = [ch.lower() for ch in short.rstrip("s") if ch.isalnum()]
    for first in range(len(words) - 1, -1, -1):
        long = " ".join(words[first:])
        if long[0].lower() != letters[0]:
            continue
        at = 0
        for ch in letters:
            at = long.lower().find(ch, at) + 1
            if at == 0:
                break
        else:
            if len(words) - first <= len(letters) + 2:   # no more words than letters allow (Schwartz and Hearst)
                return long
    return None


def defined(text: str) -> dict[str, str]:
    """The abbreviations a text defines: short form (lowercased, without a plural s) -> long form as written."""
    out: dict[str, str] = {}
    for m in _SHORT_IN_PARENTHESES.finditer(text):
        short = m.group(1)
        line_start = text.rfind("\n", max(0, m.start() - LONG_FORM_CHARS), m.start()) + 1
        before = _WORDS_BEFORE.search(text, max(line_start, m.start() - LONG_FORM_CHARS), m.start())
        if is_short_form(short) and before:
            long = _long_form(short, before.group().split()[-LONG_FORM_WORDS:])
            if long and " " in long:
                out.setdefault(short.lower().rstrip("s"), long)
    for m in _SHORT_THEN_LONG.finditer(text):
        short, long = m.group(1), m.group(2).strip()
        if is_short_form(short) and " " in long and _long_form(short, long.split()) == long:
            out.setdefault(short.lower().rstrip("s"), long)
    return out


def _pieces(short: str) -> list[str]:
    """The pieces of a short form, a plural s aside: each capital with the small letters after it, or a number ("BN"
    -> B, N; "UPenn" -> U, Penn; "ViTs" -> Vi, T); [] when it is not made of them."""
    stem = short[:-1] if len(short) > 2 and short.endswith("s") else short
    pieces = re.findall(r"[A-Z][a-z]*|\d+", stem)
    return pieces if "".join(pieces) == stem else []


def spelled_out(short: str, text: str) -> str | None:
    """The first run of capitalised words in `text` that spells the short form out, or None: each of its pieces (a
    capital and the small letters after it: "B", "N"; "U", "Penn"; "Vi", "T") opens the next capitalised word, with
    "of", "the", "for" and the like between them; a plural s aside. "Batch Normalization" for "BN", "University of
    Pennsylvania" for "UPenn": notes that write a name out in full hold what its abbreviation asks about."""
    pieces = _pieces(short)
    if not pieces:
        return None
    words = re.findall(r"[A-Za-z][\w'-]*", text)
    for first in range(len(words)):
        run: list[str] = []
        found = 0
        for word in words[first:]:
            if found == len(pieces):
                break
            if word[0].isupper() and word.lower().startswith(pieces[found].lower()):
                run.append(word)
                found += 1
            elif run and word.lower() in _JOINERS:
                run.append(word)
            else:
                break
        if found == len(pieces):
            return " ".join(run)
    return None


def compounded(short: str, text: str, knows: Callable[[str], bool]) -> str | None:
    """The first word of `text` that spells a short form out as one compound word, or None: the word opens with the
    short form's first piece and falls into as many pieces, each later one a word the notes know (`knows`) opening
    with the next letter: "autoencoder" (auto + encoder) for "AE", "TensorFlow" (tensor + flow) for "TF"."""
    pieces = [p.lower() for p in _pieces(short)]
    if len(pieces) < 2:
        return None

    def falls_into(rest: str, letters: list[str]) -> bool:
        """Whether `rest` is as many known words as `letters`, each opening with its letter."""
        if not letters:
            return not rest
        return rest.startswith(letters[0]) and any(knows(rest[:end]) and falls_into(rest[end:], letters[1:])
                                                   for end in range(COMPOUND_PIECE, len(rest) + 1))

    for word in dict.fromkeys(re.findall(r"[A-Za-z]+", text)):
        low = word.lower()
        if low.startswith(pieces[0]) and any(falls_into(low[head:], pieces[1:])
                                             for head in range(max(len(pieces[0]), 2), len(low))):
            return word
    return None


def with_long_forms(text: str, long_forms: dict[str, str]) -> str:
    """`text` with each short form of `long_forms` (as written) followed by its long form: "advantages of BN" ->
    "advantages of BN (Batch Normalization)"."""
    for short, long in long_forms.items():
        text = re.sub(rf"\b{re.escape(short)}\b", f"{short} ({long})", text)
    return text


def spelled_in(question: str, results: list[SearchResult], knows: Callable[[str], bool]) -> dict[str, str]:
    """The short forms of the question the notes never use (`knows(word)`: whether they do), "BN", each with the name
    the best ranked retrieved passage that writes one out gives it (see `spelled_out`), "Batch Normalization", or
    failing that one compound word of theirs (see `compounded`), "autoencoder" for "AE": the passages a question finds
    tell which name its abbreviation stands for."""
    out: dict[str, str] = {}
    for word in dict.fromkeys(word_parts(question)):
        if is_short_form(word) and not knows(word):
            long = next(filter(None, (spelled_out(word, r.chunk.text) for r in results)), None) or next(
                filter(None, (compounded(word, r.chunk.text, knows) for r in results)), None)
            if long:
                out[word] = long
    return out
