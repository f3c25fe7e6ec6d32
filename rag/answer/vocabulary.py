"""The words of the indexed notes, note by note, for telling question words the notes never use (inflections,
word families and abbreviations of two notes words tolerated) and which notes hold a word."""
from __future__ import annotations

import re
from collections.abc import Callable

from rag.answer.abbreviations import defined
from rag.answer.quantity import numbers
from rag.answer.question import NAME_SYMBOL
from rag.core.text import stem, word_parts

INFLECTION_PREFIX = 6  # words are compared on this many leading letters, so inflections match ("generalize" and
                       # "generalization"; "autoencoders" and "autoencoder")
MIN_PIECE = 3    # an abbreviation's pieces ("conv" + "nets") are at least this long
FAMILY = (4, 8)  # a word's stem, cut to at most 8 letters and at least 4, opens the words of its family
DECADE = re.compile(r"(\d0)s")   # a decade written short: "60s" for "1960s"
SLIP_LETTERS = 5  # question words this long or longer match a notes word one slip of typing away ("convnet",
                  # "covnet"; "monro", "moro")
REGIONAL = tuple((re.compile(pattern), other) for pattern, other in (   # one word's British and American spellings
    (r"our(s|ed|ing|ite|ites|able)?$", r"or\1"), (r"or(s|ed|ing|ite|ites|able)?$", r"our\1"),    # neighbours
    (r"is(e|es|ed|ing|ation|ations|er|ers)$", r"iz\1"), (r"iz(e|es|ed|ing|ation|ations|er|ers)$", r"is\1"),  # normalise
    (r"ys(e|es|ed|ing|er|ers)$", r"yz\1"), (r"yz(e|es|ed|ing|er|ers)$", r"ys\1"),                # analyse
    (r"(?<=[^aeiou][aeiou])ll(ed|ing)$", r"l\1"), (r"(?<=[^aeiou][aeiou])l(ed|ing)$", r"ll\1"),      # modelling
    (r"tre(s)?$", r"ter\1"), (r"ter(s)?$", r"tre\1"),                                                # centre
))


class Vocabulary:
    """The words of the indexed notes: which occur, which occur side by side, and in which notes."""

    def __init__(self, texts):
        self.words: set[str] = set()
        self._pairs: set[tuple[str, str]] = set()
        self._docs: dict[str, set[int]] = {}   # a prefix of FAMILY length, or a whole word -> the notes holding it
        self.long_forms: dict[str, str] = {}   # abbreviations the notes define (rag.answer.abbreviations.defined)
        self.numbers: set[str] = set()   # the numbers the notes write in digits (rag.answer.quantity.numbers)
        self.symbol_names: set[str] = set()   # names the notes close with a symbol ("c++"), lowercased
        for i, t in enumerate(texts):
            self.long_forms = {**defined(t), **self.long_forms}
            self.numbers |= numbers(t)
            self.symbol_names |= {w.lower() for w in re.findall(rf"[\w-]+{NAME_SYMBOL}", t)}
            seq = [w.lower() for w in word_parts(t)]
            self.words.update(seq)
            self._pairs.update((a[:INFLECTION_PREFIX], b[:INFLECTION_PREFIX]) for a, b in zip(seq, seq[1:]))
            for w in set(seq):
                for key in {w, *(w[:k] for k in range(FAMILY[0], min(len(w), FAMILY[1]) + 1))}:
                    self._docs.setdefault(key, set()).add(i)
        self._by_head: dict[str, list[tuple[str, str]]] = {}
        for a, b in self._pairs:
            self._by_head.setdefault(a[:MIN_PIECE], []).append((a, b))

    def _keys(self, word: str) -> list[str]:
        """The lookups of a word's family: itself, its plural and singular, and its stem as a prefix."""
        w = word.lower()
        root = stem(w)[:FAMILY[1]]
        return [w, w.rstrip("s"), w + "s", w + "es", *([root] if len(root) >= FAMILY[0] else [])]

    def notes_with(self, term: str) -> set[int]:
        """The notes (by position in the texts given) holding every word of `term`, word families tolerated."""
        common: set[int] | None = None
        for part in word_parts(term):
            found = set().union(*(self._docs.get(key, set()) for key in self._keys(part)))
            common = found if common is None else common & found
        return common or set()

    def knows(self, word: str) -> bool:
        """Whether the word or one of its family ("encode": "encoder", "encoding") occurs in the notes."""
        return any(key in self._docs for key in self._keys(word))

    def respelled(self, text: str, whole: Callable[[str], bool]) -> dict[str, str]:
        """The words of `text` the notes never use, at least SLIP_LETTERS long, each with how the notes write it: in
        the other of British and American spelling ("neighbours": "neighbors"), else the notes words one slip of
        typing away (one letter dropped or added, or two neighbours swapped): "convnet": "convent covnet" where the
        notes write both. A letter changed for another is no slip ("tagging" is not "bagging"), and a word that
        `whole(word)` says is a word of the language, one piece of the embedder's vocabulary, is no slip either
        ("factory" is not "factor"). A decade written short is the decades the notes write in full ("60s": "1960s")."""
        out: dict[str, str] = {}
        for word in dict.fromkeys(word_parts(text)):
            w = word.lower()
            decade = DECADE.fullmatch(w)
            if decade and w not in self.words:
                full = [d for d in (f"19{decade.group(1)}s", f"20{decade.group(1)}s") if d in self.words]
                if full:
                    out[word] = " ".join(full)
                continue
            if len(w) < SLIP_LETTERS or self.knows(w):
                continue
            other = next((v for v in regional(w) if self.knows(v)), None)
            if other:
                out[word] = other
                continue
            if whole(w):
                continue
            near = sorted(x for x in self.words if abs(len(x) - len(w)) <= 1 and one_slip(w, x))
            if near:
                out[word] = " ".join(near)
        return out

    def knows_phrase(self, phrase: str) -> bool:
        """Whether every adjacent word pair of the phrase occurs adjacently somewhere in the notes."""
        seq = [w.lower() for w in word_parts(phrase)]
        return all((a[:INFLECTION_PREFIX], b[:INFLECTION_PREFIX]) in self._pairs for a, b in zip(seq, seq[1:]))

    def knows_compound(self, word: str) -> bool:
        """Whether the word reads as two adjacent notes words run together or shortened ("convnets" from
        "convolutional networks", "finetuning" from "fine tuning"): a first piece opening one word and a second
        opening the next."""
        w = word.lower().replace("-", "")
        if w.endswith("s"):
            w = w[:-1]
        for i in range(MIN_PIECE, len(w) - MIN_PIECE + 1):
            a, b = w[:i], w[i:i + INFLECTION_PREFIX]
            pairs = self._by_head.get(a[:MIN_PIECE], ())
            if any(x.startswith(a[:INFLECTION_PREFIX]) and y.startswith(b) for x, y in pairs):
                return True
        return False

    def knows_term(self, term: str) -> bool:
        """Whether a question term (a word, or a hyphenated compound such as "f1-score") occurs in the notes: as
        itself, its parts side by side, or an abbreviation of two notes words; the number in "5-fold" is left out
        (the notes may say "k-fold"). A name closed by a symbol ("k-means++") occurs only as written."""
        if re.search(rf"{NAME_SYMBOL}$", term):
            return term.lower() in self.symbol_names
        parts = word_parts(term)
        if len(parts) > 1 and any(not p.isdigit() for p in parts):
            parts = [p for p in parts if not p.isdigit()]
        term = " ".join(parts)
        if len(parts) > 1:
            return self.knows_phrase(term) or self.knows("".join(parts)) or self.knows_compound(term)
        return self.knows(term) or self.knows_compound(term)


def one_slip(a: str, b: str) -> bool:
    """Whether two different words are one letter dropped or added, or two neighbouring letters swapped, apart."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long = sorted((a, b), key=len)
    if len(long) - len(short) != 1:
        return False
    i = next((k for k in range(len(short)) if short[k] != long[k]), len(short))
    return short[i:] == long[i + 1:]


def regional(word: str) -> list[str]:
    """The word in the other of British and American spelling (REGIONAL), either way: "normalise" -> "normalize",
    "modeling" -> "modelling"; [] for a word with no such ending."""
    w = word.lower()
    return [other for other in dict.fromkeys(p.sub(o, w) for p, o in REGIONAL if p.search(w)) if other != w]
