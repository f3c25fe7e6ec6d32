"""The note a question names by its title: "my autoencoder note", "the Italian autoencoder write-up" for the note
titled "Autoencoders". A question that names one note asks what that note says, so it is answered from that note."""
from __future__ import annotations

from rag.answer.question import META_WORDS, NOTE_NAME
from rag.core.text import content_terms, stem

PREFIX = 6   # words are compared on this many leading letters of their stems ("autoencoders" / "autoencoder")
_META = frozenset(stem(w) for w in META_WORDS)


def _keys(text: str) -> set[str]:
    return {t[:PREFIX] for t in content_terms(text) - _META}


def named_note(question: str, titles: dict[str, str]) -> str | None:
    """The one note (source) whose title the question names: every content word of the title is a word of a note
    name in the question ("my Italian autoencoder write-up" names "Autoencoders"; "my deep learning notes" does not
    name "Review of Machine Learning / Deep Learning Notes: Part 2"); None when it names no note, or several."""
    names = [_keys(m.group("words")) for m in NOTE_NAME.finditer(question)]
    found = {source for source, title in titles.items() if (wanted := _keys(title))
             and any(wanted <= name for name in names)}
    return found.pop() if len(found) == 1 else None
