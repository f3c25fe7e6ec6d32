"""Follow-up questions without a language model: earlier turns -> a standalone question and a retrieval prior.

A follow-up leans on the conversation in three general ways, each resolved from the earlier turns only:
- an ordinal ("the second one", "the last family", "the latter") names an item of a list in an earlier turn (the
  latest first; its question, then its answer), "the other one" the item of a pair the previous question did not
  ask about, and "which of them" the two things the previous question set side by side;
- a pronoun ("it", "they", "its", "that" ending a clause) or a demonstrative ("those technologies") stands for
  the subject of the previous turn, itself resolved the same way, so a subject carries across turns; after a
  question that asks for a thing it does not name ("what's the first step?", "how can you control how diverse the
  output is?"), the subject is what the answer names ("the dot product", "a temperature parameter");
- a relational noun without its complement ("what are the advantages?", "what's the formula?") is of the subject;
- an ellipsis ("what about X?", "and at inference time?", "why?") reuses the previous standalone question, and so
  does a condition ("and if I use a constant step size?"), which it then puts on that question.
Subjects and lists are read by rag.answer.phrases.
What a follow-up adds and what the conversation already said (`Followup.new_terms`, `Followup.repeats`) steer its
retrieval and evidence (rag.answer.followup_search).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.answer.abstain import REFUSAL
from rag.answer.citations import MARKER
from rag.answer.focus import mentions
from rag.answer.phrases import (
    AUX,
    ORDINALS,
    TOKEN,
    answer_entity,
    asks_for_entity,
    bare_relational,
    content_runs,
    enumerations,
    is_content,
    question_subject,
    trim,
)
from rag.answer.question import QUESTION_WORDS
from rag.core.errors import ConfigError
from rag.core.text import content_terms, stem

MAX_TURNS = 6          # earlier turns read; older ones no longer change how a question is understood
CONNECTIVE = re.compile(r"^\s*(?:and|but|so|also|then|ok(?:ay)?|now|right)\b[\s,]*", re.IGNORECASE)
WHAT_ABOUT = re.compile(r"^\s*(?:what|how)\s+about\s+(?P<rest>.+?)\s*[?.!]*\s*$", re.IGNORECASE)
WHAT_IF = re.compile(  # "and if ...?", "what if ...?"; not "if ..., what is ...?", which asks a question of its own
    r"^\s*(?:what\s+)?(?P<rest>(?:if|even\s+if|unless)\b(?:(?![,;]\s*(?:what|how|why|which|who|when|where|is|are|"
    r"does|do|can|should|would)\b).)+?)\s*[?.!]*\s*$", re.IGNORECASE)
ORDINAL = re.compile(r"\bthe\s+(?P<which>first|second|third|fourth|fifth|former|latter|last|final|other)"
                     r"(?:\s+(?P<noun>ones?\b|[A-Za-z][\w-]*))?", re.IGNORECASE)
ENTITY = re.compile(r"\b(?P<word>it|they|them|its|their)\b", re.IGNORECASE)
REPORTER = re.compile(  # "do they recommend", "does it say": the pronoun is the notes speaking, not the topic
    r"\s+(?:(?:also|really|actually|ever)\s+)?(?:recommend|suggest|say|mention|describe|propose|advise|claim|argue|"
    r"state|call|list|note|cite|write)s?\b", re.IGNORECASE)
CHOICE = re.compile(  # "which of them", "which one of these", "which one"
    r"\bwhich\s+(?:(?:one\s+)?of\s+(?P<set>them|these|those|the\s+two|both)\b|(?P<one>one)\b(?!\s+of\b))",
    re.IGNORECASE)
SECOND = re.compile(r"\b(?:compared\s+(?:to|with)|vs\.?|versus|than|and|or)\s+", re.IGNORECASE)
DEMONSTRATIVE = re.compile(r"\b(?P<word>this|that|these|those)\b(?P<after>\s*(?:[?.!,;:]|$|\s+(?P<next>[\w-]+)))",
                           re.IGNORECASE)
CLAUSE_BREAK = re.compile(r"[,;:()]|\s[-–—]\s|\s(?:and|or|but|vs\.?|versus|while|whereas)\s", re.IGNORECASE)
CONTINUATIONS = frozenset("and but also at in for during with without on after before under compared than".split())
GENERIC = frozenset("""example examples instance instances detail details detailed elaborate expand explain clarify
give show tell summary summarize summarise overview intuition simply simpler simple words term terms further""".split())
SINGULAR = frozenset("it its this that".split())
REPEAT_PENALTY = 0.2   # evidence score lost by a passage that repeats earlier turns outright (linear from half)
ASPECT_WEIGHT = 0.4    # evidence score for holding all of a follow-up's new words (the weight of question terms)


@dataclass(frozen=True)
class Exchange:
    """One earlier turn of a conversation."""

    question: str
    answer: str = ""


@dataclass
class Followup:
    """How a question was understood in its conversation."""

    question: str                  # as asked
    standalone: str                # as understood (retrieval, evidence and the prompt use this)
    subject: str | None = None     # what a pronoun in it stood for
    prior: str = ""                # the previous answer, whose notes are the retrieval prior
    how: list[str] = field(default_factory=list)   # the rules that rewrote it
    referent: str | None = None    # what the rewrite put in for a pronoun, ordinal or bare request
    said: frozenset[str] = frozenset()   # content terms of the earlier questions and answers

    def repeats(self, text: str) -> float:
        """Share of the content terms of `text` the earlier turns already used (1.0: it says nothing new)."""
        terms = content_terms(text)
        return len(terms & self.said) / len(terms) if terms else 1.0

    @property
    def new_terms(self) -> frozenset[str]:
        """Content terms of the standalone question the earlier turns never used: what the follow-up adds."""
        return frozenset(content_terms(self.standalone)) - self.said

    def penalty(self, text: str, on_topic: bool = True) -> float:
        """Evidence score a passage loses for repeating the conversation (none up to half its words, then growing to
        REPEAT_PENALTY for a passage the earlier turns said outright), less what a passage about the referent gains
        for holding the words the follow-up adds (ASPECT_WEIGHT times their share: the subject is given, the new
        words say what is asked; elsewhere they are a coincidence)."""
        new = self.new_terms
        gain = ASPECT_WEIGHT * len(new & content_terms(text)) / len(new) if new and on_topic else 0.0
        return REPEAT_PENALTY * max(0.0, self.repeats(text) - 0.5) * 2 - gain

    @property
    def rewritten(self) -> bool:
        """Whether the standalone question differs from the one asked."""
        return self.standalone != self.question


def parse_history(raw) -> list[Exchange]:
    """Exchanges from `[{"question", "answer"}]` (dicts or objects with those attributes); a clear error otherwise."""
    if raw is None:
        return []
    if not isinstance(raw, (list, tuple)):
        raise ConfigError("history must be a list of {\"question\", \"answer\"} turns")
    out = []
    for i, turn in enumerate(raw):
        if isinstance(turn, Exchange):
            out.append(turn)
            continue
        get = turn.get if isinstance(turn, dict) else lambda k, d=None, t=turn: getattr(t, k, d)
        question, answer = get("question"), get("answer", "") or ""
        if not isinstance(question, str) or not question.strip() or not isinstance(answer, str):
            raise ConfigError(f"history[{i}] needs a non-empty string 'question' and a string 'answer'")
        out.append(Exchange(question.strip(), answer.strip()))
    return out


# ---- rewriting ----------------------------------------------------------------------------------------------------

@dataclass
class _Context:
    """What an earlier turn leaves for the next one."""

    standalone: str
    subject: str | None
    lists: list[list[str]]
    mentions: set[str]


def _ordinal(question: str, ctx: _Context, how: list[str]) -> tuple[str, str | None]:
    """Put the list item an ordinal names ("the second one", "the last family", "the latter") in its place;
    returns the question and the first item named."""
    named = None
    for m in reversed(list(ORDINAL.finditer(question))):
        which, noun = m.group("which").lower(), m.group("noun") or ""
        related = noun.lower() in ("one", "ones") or bool({stem(noun), stem(noun + "s")} & ctx.mentions)
        if noun and is_content(noun) and not related and which not in ("former", "latter"):
            continue  # "the first layer" in a fresh question points at no list of the previous turn
        head = bool(noun) and related  # "the last family", "the second one"; not "the former" + "trained"
        pairs = [items for items in ctx.lists if len(items) == 2] if which in ("former", "latter", "other") else []
        if which == "other":   # the item of a pair the previous question did not ask about
            asked = [[mentions(ctx.standalone, item) for item in items] for items in pairs]
            chosen = [(items, hit.index(False)) for items, hit in zip(pairs, asked) if sum(hit) == 1]
            fits = [items for items, _ in chosen]
            index = chosen[0][1] if chosen else 0
        else:
            index = ORDINALS[which]
            fits = pairs or [items for items in ctx.lists if index < len(items)]
        if not fits:
            continue
        end = m.end() if head else m.end("which")
        named = fits[0][index]
        how.insert(0, f"'{question[m.start():end]}' -> '{named}'")
        question = question[:m.start()] + "the " + named + question[end:]
    return question, named


def _swapped(question: str, named: str, ctx: _Context, how: list[str]) -> str | None:
    """A bare item ("and the other one?" -> "the generator?") asks the previous question again about it: the item of
    its list that the previous question named is swapped for it ("How is the discriminator trained?" -> "How is the
    generator trained?"); None when the question asks something of its own or no such item is found."""
    tokens = [t.lower() for t in TOKEN.findall(question)]
    if any(t in QUESTION_WORDS or t in AUX for t in tokens):
        return None
    for items in ctx.lists:
        asked = [item for item in items if item != named and item.lower() in ctx.standalone.lower()]
        if named in items and asked:
            at = ctx.standalone.lower().index(asked[0].lower())
            how.append(f"the previous question, about '{named}'")
            return ctx.standalone[:at] + named + ctx.standalone[at + len(asked[0]):]
    return None


def _agrees(phrase: str, pronoun: str) -> bool:
    """Whether a singular pronoun ("it", "its", "this", "that") can stand for the phrase: not for a plural noun
    ("which step-size conditions guarantee its convergence?" points out of the question)."""
    last = phrase.split()[-1].lower()
    return pronoun.lower() not in SINGULAR or not (last.endswith("s") and not last.endswith(("ss", "us", "is")))


def _points_inside(question: str, start: int, possessive: bool, pronoun: str = "it") -> bool:
    """Whether a pronoun at `start` can refer to a phrase of its own question: one in an earlier clause ("what is
    label smoothing and why does it help?"), or for a possessive any earlier phrase ("how does LightGBM grow its
    trees?"), in either case one it agrees with in number. An object pronoun in the clause of its only phrase refers
    outside ("how does batch norm deal with it?"): a clause's own subject would be "itself"."""
    before = question[:start]
    clauses = CLAUSE_BREAK.split(before)
    earlier = " ".join(clauses[:-1]) if not possessive else before
    return any(_agrees(run, pronoun) for run, _, _ in content_runs(earlier))


def _choice(question: str, ctx: _Context, how: list[str], known_phrase: Callable[[str], bool] | None) -> str | None:
    """"Which of them ...?" / "which one ...?" after a question that set its subject beside another thing ("How do
    boosted trees build their trees compared to a random forest?"): both things in place of "them"; else the pair an
    earlier turn named ("The generator and the discriminator."); else None."""
    m = CHOICE.search(question)
    if m is None:
        return None
    pair = _beside(ctx, known_phrase) or next((" and ".join(items) for items in ctx.lists if len(items) == 2), None)
    if pair is None:
        return None
    which = "set" if m.group("set") else "one"
    how.append(f"'{m.group(which)}' -> '{pair}'")
    inserted = pair if which == "set" else f"of {pair}"
    return question[:m.start(which)] + inserted + question[m.end(which):]


def _beside(ctx: _Context, known_phrase: Callable[[str], bool] | None) -> str | None:
    """"A and B" when the previous question set its subject A beside B ("compared to B", "A vs B"); else None."""
    at = ctx.standalone.lower().find(ctx.subject.lower()) if ctx.subject else -1
    if at < 0:
        return None
    rest = ctx.standalone[at + len(ctx.subject):]
    joint = SECOND.search(rest)
    runs = content_runs(rest[joint.end():]) if joint else []
    return f"{ctx.subject} and {trim(runs[0][0], known_phrase, False)}" if runs else None


def _pronoun(question: str, subject: str | None, how: list[str]) -> tuple[str, int | None]:
    """Put the previous subject in place of the first pronoun or demonstrative that points back out of the
    question; returns the question and where the pronoun was."""
    if not subject:
        return question, None
    found = []
    for m in ENTITY.finditer(question):
        if m.group("word").lower() in ("it", "they") and REPORTER.match(question, m.end()):
            continue
        possessive = m.group("word").lower() in ("its", "their")
        if not _points_inside(question, m.start(), possessive, m.group("word")):
            found.append((m.start(), m.end(), subject + "'s" if possessive else subject))
        break
    for d in DEMONSTRATIVE.finditer(question):
        before = question[:d.start()].split()
        prev = before[-1].lower().strip(",") if before else ""
        nxt = d.group("next")
        if (_points_inside(question, d.start(), False, d.group("word"))
                or (nxt and stem(nxt) in content_terms(question[:d.start()]))):
            break             # "... into a vocabulary, how large is that vocabulary": named in the question
        if nxt is None:       # "on top of that?": the pronoun ends its clause
            found.append((d.start(), d.end("word"), subject))
        elif (not prev or not is_content(prev)) and is_content(nxt):   # "those technologies", not "models that use"
            found.append((d.start(), d.end("word"), "the " + subject))
        elif not is_content(nxt) and (d.group("word").lower() != "that" or prev in AUX or prev in QUESTION_WORDS):
            found.append((d.start(), d.end("word"), "the " + subject))   # "divide those by", "is that the same":
                                                                          # a pronoun itself, not "so that"
        else:
            continue
        break
    if not found:
        return question, None
    start, end, text = min(found)
    how.append(f"'{question[start:end]}' -> '{text}'")
    return question[:start] + text + question[end:], start


def _bridged(question: str, subject: str | None, how: list[str]) -> str | None:
    """A relational noun without its complement ("what are the advantages?", "what's the formula?") is about the
    subject: "what are the advantages of dropout?"; else None."""
    at = bare_relational(question)
    if not subject or at is None:
        return None
    how.append(f"'{question[:at].split()[-1]}' of '{subject}'")
    return f"{question[:at]} of {subject}{question[at:]}"


def _fragment(question: str, ctx: _Context, how: list[str]) -> str | None:
    """A question that only makes sense as a continuation of the previous one, completed from it: "and at
    inference time?" joins the previous question, "and the drawbacks?" asks about the subject, "why?" repeats
    the previous question; else None. A bare phrase ("dropout?") is a new question."""
    tokens = [t.lower() for t in TOKEN.findall(question)]
    has_content = any(is_content(t) for t in tokens)
    asks = any(t in QUESTION_WORDS or t in AUX for t in tokens)
    if has_content and (asks or len(tokens) > 6 or not tokens or tokens[0] not in CONTINUATIONS):
        return None
    rest = (CONNECTIVE.sub("", question) or question).rstrip(" ?.!")
    if not has_content:
        how.append("ellipsis: the previous question again")
        return f"{rest}: {ctx.standalone}"
    first = TOKEN.match(rest.strip())
    if ctx.subject and first and first.group().lower() not in CONTINUATIONS:
        how.append(f"ellipsis: '{rest}' of '{ctx.subject}'")
        return f"What about {rest} of {ctx.subject}?"
    how.append("ellipsis: continues the previous question")
    return f"{ctx.standalone.rstrip(' ?.!')} {rest}?"


def _generic(question: str, subject: str | None, how: list[str]) -> str | None:
    """A request that names nothing but asks for more ("can you give an example?", "explain in more detail"),
    tied to the subject; else None."""
    terms = [t.lower() for t in TOKEN.findall(question) if is_content(t)]
    if not subject or not terms or any(t not in GENERIC for t in terms):
        return None
    how.append(f"a request for more about '{subject}'")
    return f"{question.rstrip(' ?.!')} about {subject}?"


def _capital(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] if text else text


def _understand_one(question: str, ctx: _Context | None, known_phrase
                    ) -> tuple[str, str | None, list[str], str | None]:
    """(standalone, subject, how, referent) for one question given what the turns before it left."""
    how: list[str] = []
    asked = " ".join(question.split())
    own = question_subject(asked, known_phrase, skip_indefinite=ctx is not None)
    if ctx is None:
        return asked, own[0] if own else None, how, None
    text = CONNECTIVE.sub("", asked) or asked
    about = WHAT_ABOUT.match(text)
    lead = TOKEN.match(about.group("rest")) if about else None
    if about and lead and lead.group().lower() in CONTINUATIONS:    # "what about at test time?": a fragment
        how.append("ellipsis: continues the previous question")
        return _capital(f"{ctx.standalone.rstrip(' ?.!')} {about.group('rest')}?"), ctx.subject, how, None
    if about and ctx.subject and ctx.subject.lower() in ctx.standalone.lower():
        how.append(f"'what about' -> the previous question, about '{about.group('rest')}'")
        return (_capital(re.sub(re.escape(ctx.subject), about.group("rest"), ctx.standalone, count=1,
                                flags=re.IGNORECASE)), about.group("rest"), how, None)
    standalone, named = _ordinal(text, ctx, how)
    if named:
        return _capital(_swapped(standalone, named, ctx, how) or standalone), named, how, named
    both = _choice(text, ctx, how, known_phrase)
    if both is not None:
        return _capital(both), ctx.subject, how, ctx.subject
    standalone, at = _pronoun(text, ctx.subject, how)
    if at is not None:
        own = question_subject(text, known_phrase, skip_indefinite=True)
        return _capital(standalone), ctx.subject if own is None or own[1] > at else own[0], how, ctx.subject
    supposed = WHAT_IF.match(text)
    if supposed:    # "and if I use a constant step size?": the previous question, under that condition
        how.append("a condition on the previous question")
        return _capital(f"{ctx.standalone.rstrip(' ?.!')} {supposed.group('rest')}?"), ctx.subject, how, None
    joined = _fragment(asked, ctx, how)
    if joined is not None:
        return _capital(joined), ctx.subject, how, None
    bridged = _bridged(text, ctx.subject, how)
    if bridged is not None:
        return _capital(bridged), ctx.subject, how, ctx.subject
    scoped = _generic(text, ctx.subject, how)
    if scoped is not None:
        return _capital(scoped), ctx.subject, how, ctx.subject
    return asked, own[0] if own else ctx.subject, how, None


def _context(standalone: str, answer: str, subject: str | None, earlier: _Context | None) -> _Context:
    """What a turn leaves: its standalone question, subject, terms and lists (then the lists of the turns before)."""
    answer = MARKER.sub(" ", answer)
    return _Context(standalone, subject, enumerations(standalone) + enumerations(answer)
                    + (earlier.lists if earlier else []), content_terms(standalone) | content_terms(answer))


def understand(question: str, history, known_phrase: Callable[[str], bool] | None = None) -> Followup:
    """The question as understood after `history` (earlier turns, oldest first)."""
    turns = parse_history(history)[-MAX_TURNS:]
    ctx = None
    said: set[str] = set()
    for turn in turns:
        standalone, subject, _, _ = _understand_one(turn.question, ctx, known_phrase)
        names = asks_for_entity(standalone) and not turn.answer.startswith(REFUSAL)   # a refusal names no answer
        named = answer_entity(MARKER.sub(" ", turn.answer), known_phrase) if names else None
        ctx = _context(standalone, turn.answer, named or subject, ctx)
        said |= content_terms(standalone) | content_terms(MARKER.sub(" ", turn.answer))
    question = " ".join(question.split())
    if ctx is None:
        return Followup(question, question)
    standalone, _, how, referent = _understand_one(question, ctx, known_phrase)
    return Followup(question, standalone, ctx.subject, MARKER.sub(" ", turns[-1].answer).strip(), how, referent,
                    frozenset(said))


def anchored_parts(parts: tuple[str, ...], referent: str | None, focus: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The parts of a follow-up, each about what the follow-up refers to: a later part that does not name it gets it
    in place of a pronoun pointing out of the part ("how do they work?"), else after it ("what's the catch?") unless
    the part names a specific word of its own (one of the question's `focus` terms: "how does XGBoost do it?")."""
    if not referent or len(parts) < 2:
        return parts
    out = [parts[0]]
    for part in parts[1:]:
        resolved, at = _pronoun(part, referent, [])
        if mentions(part, referent):
            out.append(part)
        elif at is not None:
            out.append(resolved)
        elif any(mentions(part, term) for term in focus):
            out.append(part)
        else:
            out.append(f"{part.rstrip(' ?.!')} of {referent}?")
    return tuple(out)
