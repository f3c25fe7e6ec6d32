"""Whether the evidence contradicts a question's premise by one swapped word: asked why the slides use "mean squared
error" between the predicted and the true noise, the best sentence says "mean absolute error" between them. The
question's phrase must be a term the notes use elsewhere (so the note chose another term, and the question is no
paraphrase: "the raw input" for "the original input"), missing from every retrieved passage of that sentence's note,
and the sentence must share other words of the question, so it is about the same thing and not a neighbour topic."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from rag.answer.question import META_WORDS
from rag.core.text import STOPWORDS, stem, word_parts

MIN_SHARED = 2   # question words besides the phrase that the contradicting sentence must also hold


def _content(word: str) -> bool:
    w = word.lower()
    return len(w) > 2 and w not in STOPWORDS and w not in META_WORDS


def _anchors(a: str, c: str) -> bool:
    """Words around a swapped one: whole words, at least one of them a content word ("mean ... error")."""
    return all(len(w) > 2 and w.isalpha() for w in (a, c)) and (_content(a) or _content(c))


def _stems(text: str) -> list[str]:
    return [stem(w.lower()) for w in word_parts(text)]


def _holds(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))


def swapped(part: str, sentence: str, note_passages: Iterable[str], is_term: Callable[[str], bool]) \
        -> tuple[str, str] | None:
    """(the question's phrase, the sentence's phrase) when the sentence says "a x c" where the question part asks
    about "a b c" (b and x content words, `is_term("a b c")` true) and no passage of the note says "a b c"."""
    asked = word_parts(part)
    said = word_parts(sentence)
    said_stems = [stem(w.lower()) for w in said]
    passages = [_stems(p) for p in note_passages]
    for i in range(len(asked) - 2):
        triple = asked[i:i + 3]
        if not _content(triple[1]) or not _anchors(triple[0], triple[2]):
            continue
        a, b, c = (stem(w.lower()) for w in triple)
        if not is_term(" ".join(triple)) or any(_holds(p, (a, b, c)) for p in passages):
            continue
        others = {stem(w.lower()) for w in asked if _content(w)} - {a, b, c}
        if len(others & set(said_stems)) < MIN_SHARED:
            continue
        for j in range(len(said) - 2):
            x = said_stems[j + 1]
            if said_stems[j] == a and said_stems[j + 2] == c and x != b and _content(said[j + 1]):
                return " ".join(triple), " ".join(said[j:j + 3])
    return None
