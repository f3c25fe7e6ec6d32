"""Phrases of questions and answers, read without a model: runs of content words, what a question is about, and
the lists a text names ("dropout, weight decay and early stopping")."""
from __future__ import annotations

import re
from collections.abc import Callable

from rag.answer.question import ARTICLES, DO_QUESTION, NOTE_NAME, QUESTION_WORDS, RELATIONAL
from rag.core.text import CLITIC, EMPHASIS, STOPWORDS

TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'/.,+-]*[A-Za-z0-9+]|[A-Za-z0-9]")  # "Q,K,V" and "1,500" are one token
FRAME = re.compile(  # "does my ML hierarchy say", "according to my notes": the user's documents, not the topic
    r"\b(?:do|does|did)\s+my\s+(?:[\w/-]+\s+){0,4}?(?:say|says|claim|describe|mention|define)\b"
    r"|,?\s*\b(?:according\s+to|in|from)\s+(?:my|the)\s+notes\b,?", re.IGNORECASE)
COPULA_WHAT = re.compile(r"^\s*(?:what|who|which)\s+(?:is|are|was|were|'s)\b\s*", re.IGNORECASE)
COPULA_SUBJECT = re.compile(r"\s*(?:an?\s+|the\s+)?(?P<x>.+?)(?=\s+(?:in|of|for|used|according|when|on|to|and\s+"
                            r"(?:why|how|what|when|where|which))\b|\s*[,?.;:!]|\s*$)", re.IGNORECASE)
PAIR = re.compile(r"[\w/.+-]+(?:\s+[\w/.+-]+){0,3}\s+(?:and|or|vs\.?|versus)\s+(?:the\s+|an?\s+)?"
                  r"[\w/.+-]+(?:\s+[\w/.+-]+){0,3}", re.IGNORECASE)
AUX = frozenset("does do did can could should would will is are was were has have had may might must".split())
ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "former": 0,
            "latter": -1, "last": -1, "final": -1}
CLAUSE = re.compile(r"[;:.?!()\n]+")
LIST_SPLIT = re.compile(r"\s*,\s*(?:and|or)\s+|\s*,\s*|\s+(?:and|or)\s+", re.IGNORECASE)
CONJUNCTION = re.compile(r"\s(?:and|or)\s", re.IGNORECASE)
RELATIVE = re.compile(r",\s*(?:which|who|that)\b[^,;:.?!()\n]*(?=,|[;:.?!()\n]|$)", re.IGNORECASE)
COMPLEMENT = re.compile(r"\s*(?:behind|of|for|about)\s+(?:(?:the|an?)\s+)?", re.IGNORECASE)
MEANS = re.compile(  # "how can you control how diverse the output is?": a way to act on a property, not a thing
    r"^(?:[^,?]*,\s*)?how\s+(?:can|could|do|should|would|might)\s+(?:you|we|i|one)\s+[\w-]+\s+"
    r"(?:how|what|which|whether|when)\b", re.IGNORECASE)
MAX_ITEM_WORDS = 6
COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "2": 2, "3": 3, "4": 4, "5": 5}
_COUNTED_ASK = re.compile(r"\b(?:the|which|what|name|list)\s+(?P<n>two|three|four|five|[2-5])\b", re.IGNORECASE)


_STEPS_ASK = re.compile(  # "step by step", "walk me through ...", "what steps turn ...", "the stages of ..."
    r"\bstep[- ]by[- ]step\b|\bwalk\s+(?:me\s+|us\s+)?through\b"
    r"|\b(?:what|which)\s+(?:[\w-]+\s+)?(?:steps|stages|phases)\b(?!\s+sizes?\b)"
    r"|\b(?:the|main|key|basic)\s+(?:[\w-]+\s+)?(?:steps|stages|phases)\s+(?:of|to|in|for|that|involved)\b",
    re.IGNORECASE)


_STEPS_LABEL = re.compile(r"^(?:the\s+)?(?:[\w-]+\s+){0,3}?(?:steps|stages|phases|procedure|process)$", re.IGNORECASE)


def names_steps(label: str) -> bool:
    """Whether a list's label names it as the steps of a procedure ("Steps", "Training steps", "The process")."""
    return bool(_STEPS_LABEL.match(label.strip(" :*_")))


def asks_steps(question: str) -> bool:
    """Whether a question asks for a procedure, its steps in order ("walk me through one training step of ...",
    "how does X work, step by step?"), not for one fact about a step ("what happens at each step")."""
    return bool(_STEPS_ASK.search(question))


def asked_count(question: str) -> int | None:
    """How many things a question asks for by number ("name the three tricks ...", "which two losses ..."), or None."""
    m = _COUNTED_ASK.search(question)
    return COUNTS[m.group("n").lower()] if m else None


def is_content(token: str) -> bool:
    """Whether a token is a content word: no stop word, question word, auxiliary or ordinal."""
    word = CLITIC.sub("", token.lower())   # "what's", "they're": the function word itself
    return word not in STOPWORDS and word not in QUESTION_WORDS and word not in AUX and word not in ORDINALS


def content_runs(text: str) -> list[tuple[str, str, int]]:
    """(run of adjacent content words, the word before it, its offset) in order; punctuation ends a run."""
    runs: list[tuple[list[str], str, int]] = []
    prev_end, prev_word, prev_content = None, "", False
    for m in TOKEN.finditer(text):
        token = m.group()
        adjacent = prev_end is not None and not text[prev_end:m.start()].strip()
        if is_content(token):
            if runs and adjacent and prev_content:
                runs[-1][0].append(token)
            else:
                runs.append(([token], prev_word, m.start()))
        prev_end, prev_word, prev_content = m.end(), token, is_content(token)
    return [(" ".join(words), before, start) for words, before, start in runs]


def trim(run: str, known_phrase: Callable[[str], bool] | None, verb_last: bool) -> str:
    """The longest prefix of a run the notes use as a phrase; else the run less a trailing verb."""
    words = run.split()
    if known_phrase is not None:
        for n in range(len(words), 0, -1):
            if known_phrase(" ".join(words[:n])):
                return " ".join(words[:n])
    return " ".join(words[:-1]) if verb_last and len(words) > 1 else run


def question_subject(question: str, known_phrase: Callable[[str], bool] | None = None,
                     skip_indefinite: bool = False) -> tuple[str, int] | None:
    """What a question is about and where it starts: "what is X" -> X ("A and B" kept whole), else the first run of
    content words, less a do-question's trailing verb. Runs owned by "my" (the user's own documents) are skipped,
    and with `skip_indefinite` those after "a"/"an" too: an indefinite phrase introduces no topic to refer back to."""
    text = _blank(FRAME, question)
    notes = [m.group("words").strip() for m in NOTE_NAME.finditer(text)]
    text = _blank(NOTE_NAME, text)     # "the diffusion slides" name a note, not a topic
    copula = COPULA_WHAT.match(text)
    if copula:
        phrase = COPULA_SUBJECT.match(text, copula.end())
        if phrase and PAIR.fullmatch(phrase.group("x")):
            return " ".join(phrase.group("x").split()), phrase.start("x")
    verb_last = not copula and bool(DO_QUESTION.match(text))
    skip = {"my", "a", "an"} if skip_indefinite else {"my"}
    runs = content_runs(text)
    for i, (run, before, start) in enumerate(runs):
        if before.lower() not in skip:
            return _of_relational(run, start, text, runs[i + 1:], notes) or (trim(run, known_phrase, verb_last), start)
    return None


def _blank(pattern: re.Pattern, text: str) -> str:
    """`text` with what `pattern` matches replaced by spaces (offsets kept)."""
    return pattern.sub(lambda m: " " * len(m.group()), text)


def _unframed(question: str) -> str:
    """The question with the words that frame or name the user's notes blanked out (offsets kept)."""
    return _blank(NOTE_NAME, _blank(FRAME, question))


def bare_relational(question: str) -> int | None:
    """Where the complement of the relational noun heading a question's first run of content words would go, when it
    has none ("what are the main advantages?" -> after "advantages", "the pros and cons?" -> after "cons"; not "the
    advantages of dropout"); else None."""
    text = _unframed(question)
    runs = content_runs(text)
    if not runs or runs[0][0].split()[-1].lower() not in RELATIONAL:
        return None
    end, i = runs[0][2] + len(runs[0][0]), 1
    while i < len(runs) and runs[i][0].split()[-1].lower() in RELATIONAL and CONJUNCTION.fullmatch(
            text[end:runs[i][2]].replace("the ", "")):
        end, i = runs[i][2] + len(runs[i][0]), i + 1
    after = COMPLEMENT.match(text, end)
    return None if after and i < len(runs) and runs[i][2] == after.end() else end


def asks_for_entity(question: str) -> bool:
    """Whether a question asks for a thing it does not name, so that its answer names what the conversation is about
    next: a way ("how can you control how diverse the output is?") or a relational noun without its complement
    ("In my attention note, what's the first step?")."""
    return bool(MEANS.match(_unframed(question))) or bare_relational(question) is not None


def answer_entity(answer: str, known_phrase: Callable[[str], bool] | None = None) -> str | None:
    """The first noun phrase an answer introduces with a determiner ("By adding a temperature parameter ..." ->
    "temperature parameter"; "Compute the dot product ..." -> "dot product"), or None."""
    for run, before, _ in content_runs(EMPHASIS.sub("", answer)):
        if before.lower() in ARTICLES:
            return trim(run, known_phrase, False)
    return None


def _of_relational(run: str, start: int, text: str, later: list[tuple[str, str, int]],
                   notes: list[str]) -> tuple[str, int] | None:
    """The topic of a run headed by a relational noun: "basic idea behind autoencoders" -> autoencoders, "the purpose
    of dropout" -> dropout; without a complement, the note the question names ("In my attention note, what's the first
    step?" -> attention). None for any other run."""
    words = run.split()
    head = next((n for n, w in enumerate(words) if w.lower() in RELATIONAL), None)
    if head is None or head + 1 < len(words) and words[head + 1].lower() != "behind":
        return None
    if head + 2 < len(words):
        return " ".join(words[head + 2:]), start + run.index(words[head + 2])
    after = COMPLEMENT.match(text, start + len(run))
    if after and later and later[0][2] == after.end():
        return later[0][0], later[0][2]
    return (notes[0], start) if notes else None


DEFINES = r"(?:\s*\([^)]*\))?\s*(?::|\s(?:is|are|refers\s+to|means|stands\s+for)\s)"   # "X (Y) is", "X: ..."


def defined_term(part: str, lead: str = "") -> str | None:
    """The X a "what is X?" question (or part, after its leading context) asks to define; else None."""
    text = part[len(lead):].lstrip(" ,") if lead and part.startswith(lead) else part
    copula = COPULA_WHAT.match(text)
    phrase = COPULA_SUBJECT.match(text, copula.end()) if copula else None
    return " ".join(phrase.group("x").split()) if phrase and content_runs(phrase.group("x")) else None


ACTION = re.compile(  # "what exactly does the Gini index measure when ...?" -> ("Gini index", "measure")
    r"^\s*what\s+(?:exactly\s+)?(?:does|do)\s+(?:the\s+|an?\s+)?(?P<x>[\w-]+(?:\s+[\w-]+){0,3}?)\s+(?P<verb>[a-z]+)"
    r"(?=\s*[?,.;:]|\s*$|\s+(?:when|while|in|for|on|during|at|after|if|and|to|with|from)\b)", re.IGNORECASE)
LABEL = re.compile(r"^[^:.!?]{1,40}:\s*")   # "What it Measures: " before a list line's sentence


def asked_action(part: str, lead: str = "") -> tuple[str, str] | None:
    """(X, verb) of a "what does X <verb>?" part ("what does the Gini index measure?"); else None."""
    text = part[len(lead):].lstrip(" ,") if lead and part.startswith(lead) else part
    m = ACTION.match(text)
    if m is None or not all(is_content(w) for w in m.group("x").split()) or not is_content(m.group("verb")):
        return None
    return " ".join(m.group("x").split()), m.group("verb").lower()


def does(sentence: str, subject: str, verb: str) -> bool:
    """Whether a sentence, after a label it may open with, says what `subject` does with `verb`: "The Gini index
    measures ...", "**What it Measures**: The Gini index measures ..."."""
    plain = LABEL.sub("", EMPHASIS.sub("", sentence).lstrip("-• "), count=1)
    words = r"\s+".join(re.escape(w) for w in subject.split())
    return bool(re.match(rf"(?:the\s+|an?\s+)?{words}\s+{re.escape(verb)}(?:e?s)?\b", plain, re.IGNORECASE))


def defines(sentence: str, term: str) -> bool:
    """Whether a sentence opens by defining `term`: "The EMA network is ...", "Dropout (a regulariser) is ...",
    "**Latent space**: ..." (emphasis ignored, a plural of the term counted)."""
    plain = EMPHASIS.sub("", sentence).lstrip("-• ")
    words = r"\s+".join(re.escape(w) for w in term.split())
    return bool(re.match(rf"(?:the\s+|an?\s+)?{words}(?:e?s)?{DEFINES}", plain, re.IGNORECASE))


# ---- lists --------------------------------------------------------------------------------------------------------

def _edge_phrase(part: str, last: bool) -> str | None:
    """The noun phrase at the end (last=True) or the start of a list part."""
    runs = content_runs(part)
    if not runs:
        return None
    if last:
        run = runs[-1][0]
        return run if part.rstrip().endswith(run.split()[-1]) else None
    run = runs[0][0]
    head = part.strip().split()
    lead = head[1] if head and head[0].lower() in ("the", "a", "an") and len(head) > 1 else head[0] if head else ""
    return run if lead and run.startswith(lead) else None


def enumerations(text: str) -> list[list[str]]:
    """Lists of two or more noun phrases joined by commas and a final "and"/"or", clause by clause; a relative clause
    after an item ("the generator, which turns noise into images, and the discriminator") is no item, nor is a
    phrase that counts the items before them ("two adversaries, the generator and the discriminator")."""
    out = []
    for clause in CLAUSE.split(RELATIVE.sub("", text)):
        conj = list(CONJUNCTION.finditer(clause))
        if not conj:
            continue
        head, tail = clause[:conj[-1].start()], clause[conj[-1].end():]
        parts = [p for p in LIST_SPLIT.split(head) if p.strip()]
        last = _edge_phrase(tail, last=False)
        if not parts or not last:
            continue
        items = [last]
        for part in reversed(parts):
            words = part.split()
            whole = [w for w in words if w.lower() not in ("the", "a", "an")]
            if len(whole) <= MAX_ITEM_WORDS and whole and all(is_content(w) for w in whole):
                items.append(" ".join(whole))
                continue
            edge = _edge_phrase(part, last=True)
            if edge:
                items.append(edge)
            break
        items.reverse()
        if len(items) > 2 and COUNTS.get(items[0].split()[0].lower()) == len(items) - 1:
            items = items[1:]   # "two adversaries, the generator and the discriminator": the count names the list
        if len(items) >= 2:
            out.append(items)
    return out
