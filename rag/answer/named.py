"""The note a question names: by its title ("my autoencoder note", "the Italian autoencoder write-up" for the note
titled "Autoencoders"), else by the heading of a section it holds ("the old Naive Bayes note" for the note with a
section headed "Naïve Bayes"). A question that names one note asks what that note says, so it is answered from it."""
from __future__ import annotations

from rag.answer.question import META_STEMS, NOTE_NAME
from rag.answer.vocabulary import INFLECTION_PREFIX
from rag.core.text import content_terms, unaccented

_POSSESSIVE = frozenset("my our your".split())


def _keys(text: str) -> set[str]:
    return {t[:INFLECTION_PREFIX] for t in content_terms(unaccented(text)) - META_STEMS}


def named_note(question: str, labels: dict[str, list[str]], singular: bool = False) -> str | None:
    """The one note (source) that one of its labels (its title, or its section headings) lets the question name: every
    content word of the label is a word of a note name in the question ("my Italian autoencoder write-up" names
    "Autoencoders"; "my deep learning notes" does not name "Review of Machine Learning / Deep Learning Notes: Part
    2"); None when it names no note, or several. `singular`: only names of one note count ("the old Naive Bayes
    note", not "the transformer notes": the notes on a topic, wherever its sections sit), as section headings ask.
    Where the asker also owns a note by name ("the autoencoder slide of my gen AI deck"), only what they own names
    the note: the other names a part of it."""
    phrases = [m for m in NOTE_NAME.finditer(question) if not singular or not m.group(0).lower().endswith("s")]
    owned = [m for m in phrases if m.group(0).split()[0].lower() in _POSSESSIVE]
    names = [_keys(m.group("words")) for m in owned or phrases]
    found = {source for source, texts in labels.items() for text in texts
             if (wanted := _keys(text)) and any(wanted <= name for name in names)}
    return found.pop() if len(found) == 1 else None


def names_a_note(question: str) -> bool:
    """Whether the question names a note at all ("my ... note", "the ... slides")."""
    return NOTE_NAME.search(question) is not None
