"""Abbreviations the notes define ("Variational Autoencoders (VAE)", "GAN (Generative Adversarial Network)"), found
by the rule of Schwartz and Hearst (2003): each letter of the short form occurs in the long form in order, the first
one opening a word of it, and the long form is the shortest run of words before the parentheses that holds them."""
from __future__ import annotations

import re

_SHORT = r"[A-Z][A-Za-z0-9-]{1,9}"   # "VAE", "GANs", "ViT", "BDTs"
_LONG_THEN_SHORT = re.compile(rf"((?:[\w'-]+[ \t]+){{1,12}}?)\(\s*({_SHORT})\s*\)")
_SHORT_THEN_LONG = re.compile(rf"\b({_SHORT})[ \t]*\(([^()\n]{{3,80}})\)")


def is_short_form(word: str) -> bool:
    """Whether a word is written as an abbreviation: two capitals at least ("VAE", "GANs", "ViT")."""
    return sum(ch.isupper() for ch in word) >= 2 and bool(re.fullmatch(_SHORT, word))


def _spelled_out(short: str, words: list[str]) -> str | None:
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
    for m in _LONG_THEN_SHORT.finditer(text):
        short = m.group(2)
        if is_short_form(short):
            long = _spelled_out(short, m.group(1).split())
            if long and " " in long:
                out.setdefault(short.lower().rstrip("s"), long)
    for m in _SHORT_THEN_LONG.finditer(text):
        short, long = m.group(1), m.group(2).strip()
        if is_short_form(short) and " " in long and _spelled_out(short, long.split()) == long:
            out.setdefault(short.lower().rstrip("s"), long)
    return out

