"""A "how many / how much" question ("what is the number of ...") asks for a quantity. When no retrieved sentence
gives a number together with the thing counted, and with what the question names ("how many training tokens was
GPT-4 trained on?" over notes that count GPT-3's tokens but no one's for GPT-4), the notes do not answer it, whatever
else they say about it. A question that gives numbers itself ("1000 samples ... how many runs happen?") asks for a
computation the notes' explanation supports, and is not checked.

A question that asks for a default ("what's the default value Keras uses for patience?") asks what a tool does when
nobody sets it: a sentence that sets a value ("Let's say we set the patience value to 5") does not answer it; only a
passage that speaks of a default can.

A why question states what it asks the reason for ("why does my review recommend a dropout rate of around 0.8?"): a
number written in digits in its why clause is a value it presumes the notes give, and notes that never write that
number do not say what it presumes."""
from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from rag.answer.focus import mentions
from rag.core.text import content_terms

_THING = (  # up to three words, as few as reach a verb, preposition or the end: "training tokens" in "... was"
    r"(?P<thing>[a-z][\w-]*(?:\s+[a-z][\w-]*){0,2}?)(?=\s+(?:is|are|was|were|do|does|did|has|have|had|can|could|"
    r"will|would|should|must|might|may|it|they|there|in|of|per|for|on|at|to|from|with|by|make|makes|made|happen|"
    r"happens|used|that|which)\b|\s*[?.,;:!]|\s*$)")
_COUNTED = re.compile(  # "how much gets lost" asks a degree: a verb, not a thing, follows (a verb's -s, not "bias")
    rf"\bhow\s+(?:many|much(?!\s+[a-z]*[b-hj-rtv-z]s\b))\s+{_THING}", re.IGNORECASE)
_NUMBER_OF = re.compile(  # "what is the (default) number of <thing>": the same question
    rf"\bwhat(?:'s|\s+is|\s+was|\s+are)\s+the\s+(?:[a-z]+\s+)?(?:number|count|amount)\s+of\s+{_THING}", re.IGNORECASE)
_VALUE_OF = re.compile(  # "what offset value does ... use", "what starting and ending beta values": a number, too;
    # a verb or an article is no modifier: "what is the learning rate?" may ask what it is, "what does the learning
    # rate set?" what it does
    r"\bwhat\s+(?P<thing>(?:(?!(?:is|are|was|were|do|does|did|can|could|should|would|will|has|have|had|may|might|"
    r"must|the|a|an)\b)[a-z][\w-]*\s+){1,4}?(?:values?|rates?|percentages?))\b", re.IGNORECASE)
_DEFAULT = re.compile(r"\bdefaults?\b(?:\s+(?P<thing>[a-z][\w-]*))?", re.IGNORECASE)
_NUMERAL = r"\d[\d,.]*(?:x\d+)*[kmbtx]?"  # "175", "10,000", "1.5", "300B", "4x", "28x28"; not "GPT-4", "T5"
_CARDINAL = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
             r"hundreds?|thousands?|millions?|billions?|trillions?|dozens?)")
_NUMBER = re.compile(  # a standalone numeral or a number word
    rf"(?<![\w.-]){_NUMERAL}(?![\w-])|\b(?:{_CARDINAL}|single|twice|double|half)\b", re.IGNORECASE)
_DIGITS = r"\d+(?:[.,]\d+)*"   # "0.8", "1,000", the "300" of "300B"
_STATED = re.compile(rf"(?<![\w.-]){_DIGITS}")   # ... standing alone in a question: not the "4" of "GPT-4"
_MAGNITUDE = {"thousand": 3, "k": 3, "million": 6, "m": 6, "billion": 9, "b": 9, "trillion": 12, "t": 12}
STATED_VALUE = re.compile(  # a number standing alone, with the magnitude it is written with: "400 million", "175B"
    r"(?<![\w.-])(?P<digits>\d+(?:,\d{3})*(?:\.\d+)?)(?:\s*(?P<word>thousand|million|billion|trillion)s?\b|"
    r"(?P<suffix>[kmbt]))?(?!\w|[.,]\d)",   # not a version ("0.2.5")
    re.IGNORECASE)
_WHY_CLAUSE = re.compile(r"\bwhy\b(?:[^.?!;]|\.(?=\S))*", re.IGNORECASE)   # to its sentence's end ("e.g. " ends it)
_MEASURE = re.compile(rf"{_CARDINAL}|{_NUMERAL}(?:-[a-z]+)?", re.IGNORECASE)   # "five", "5", "4-sample"; not the
                                                                             # term "one-hot"


def is_numeral(word: str) -> bool:
    """Whether a word is a number written in digits, with a magnitude or multiplier ("10x", "20B") or without."""
    return re.fullmatch(_NUMERAL, word, re.IGNORECASE) is not None


def is_value(word: str) -> bool:
    """Whether a word is a number other than a year ("1.5", "10x", "20B", "five", not "2019" or "1980s"), alone or
    measuring a word after a hyphen ("4-sample", "3-layer"): a value the question computes with, gives as an example
    or counts what it asks for by ("the five principles"), not something the notes must name."""
    return _MEASURE.fullmatch(word) is not None and not is_year(word)


def is_year(word: str) -> bool:
    """Whether a word is a year or a decade ("2019", "1980s")."""
    return re.fullmatch(r"1[0-9]{3}s?|20[0-9]{2}s?", word) is not None


def counted(question: str) -> str | None:
    """The thing a "how many / how much", "what is the number of" or "what X value / rate" question counts or
    measures ("training tokens", "offset value"), unless it gives numbers itself."""
    m = _COUNTED.search(question) or _NUMBER_OF.search(question) or _VALUE_OF.search(question)
    if m is None or _NUMBER.search(re.sub(r"\b(?:one|single|half|double)\b", " ", question, flags=re.I)):
        return None
    return m.group("thing")


def uncounted(question: str, sentences: Iterable[tuple[str, str]], names: Iterable[str] = ()) -> str | None:
    """The thing the question counts when no sentence holds a number and the thing's head word, nor sits under a list
    line or heading naming the thing (its lines can be counted), with, when the question names something ("GPT-4"),
    that name in the sentence or its context (the headings and list lines above it); else None. `sentences` are
    (text, context) pairs."""
    thing = counted(question)
    if thing is None:
        return None
    head, names = thing.split()[-1], list(names)

    def counts(text: str, context: str) -> bool:
        named = not names or any(mentions(text, n) or mentions(context, n) for n in names)
        listed = mentions(context, head)   # under "Approaches to ML": the lines can be counted
        return named and (listed or bool(_NUMBER.search(text)) and mentions(text, head))

    return None if any(counts(text, context) for text, context in sentences) else thing


def undefaulted(question: str, sentences: Iterable[tuple[str, str]]) -> str | None:
    """What a question asks the default of ("default value", "default beta1") when no sentence speaks of a default
    together with most of the question's content terms, its headings and list lines above it counted (a default
    of something else, "TensorFlow is Keras's default backend", does not answer "what default patience does Keras
    use?"); else None. `sentences` are (text, context) pairs."""
    m = _DEFAULT.search(question)
    asked = content_terms(question)
    if m is None or any(_DEFAULT.search(f"{text} {context}")
                        and 2 * len(asked & content_terms(f"{text} {context}")) > len(asked)
                        for text, context in sentences):
        return None
    return " ".join(filter(None, ("default", m.group("thing"))))


def numbers(text: str) -> set[str]:
    """The numbers a text writes in digits anywhere ("0.5" in "0.2-0.5"), thousands commas dropped ("1,000" ->
    "1000")."""
    return {n.replace(",", "") for n in re.findall(_DIGITS, text)}


def stated_value(m: re.Match) -> str:
    """The value a STATED_VALUE match writes, thousands commas dropped and its magnitude applied ("1,000" -> "1000",
    "400 thousand" -> "400000", "400M" -> "400000000")."""
    magnitude = (m.group("word") or m.group("suffix") or "").lower()
    value = Decimal(m.group("digits").replace(",", "")).scaleb(_MAGNITUDE.get(magnitude, 0))
    return format(value.normalize(), "f")


def unwritten(question: str, written: set[str]) -> list[str]:
    """The numbers the why clauses of a question state that are not among the `written` ones (`numbers` of the
    notes): "0.8" in "why does my review recommend a dropout rate of around 0.8?". A number before the why clause
    ("with 1000 samples, why ...") or after an "e.g." is the asker's own."""
    found = [m.group() for clause in _WHY_CLAUSE.finditer(question) for m in _STATED.finditer(clause.group())]
    return [n for n in dict.fromkeys(found) if n.replace(",", "") not in written]
