"""Abstention: decide whether the notes cover the question, from what it is about and from retrieval scores.

Structural rules come first and need no threshold: a specific word the notes never use (nor abbreviate), a number a
why question presumes that they never write, a word the retrieved passages only mention (in a list, a title, a
cut-off intro), specific words the question connects but no passage holds together (a false premise), a phrase of the
question that the best evidence says otherwise, a category the notes file the asked thing beside, not under (more
false premises), a count no retrieved sentence gives, or a default no retrieved passage speaks of. Dense-score
thresholds then catch questions nothing relevant matches.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.answer import focus, premise, quantity
from rag.answer.evidence import Evidence
from rag.answer.phrases import COUNTS
from rag.answer.question import (
    ARTICLES,
    META_WORDS,
    QUESTION_WORDS,
    RELATIONAL,
    Question,
    quoted_terms,
    says_language,
)
from rag.answer.vocabulary import Vocabulary
from rag.core.settings import AnswerSettings
from rag.core.text import STOPWORDS, plain, word_parts
from rag.core.types import SearchResult
from rag.index.units import Unit

REFUSAL = "I could not find this in your notes."   # how every refusal opens
_TERM_GLUE = ARTICLES | {"of"}   # inside a term: "the perplexity of a language model"
_COORDINATION = frozenset({"and", "or"})   # joins items of one kind: "narrow AI, general AI and superintelligence"
_CLAUSE_BREAK = re.compile(r"[,;:.?!()\[\]—–]+|\s-\s")
_ASIDE = re.compile(r"\s*\(([^()]*)\)")
_COMPOUND_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")   # "out-of-bag" one word, "XGBoost's" two
_ALTERNATIVES = re.compile(r"([\w-]+)\s*/\s*(?=([\w-]+))")   # "pharma / drug discovery": two names of one thing
_VERB_AFTER = r"used|mean|do|does|work|say"   # a verb that ends the subject: "what does batch norm do"
_ADVERB = r"(?:[a-z]+ly\s+)?"   # an adverb before that verb is no part of the subject: "what does dropout actually do"
_SUBJECT = re.compile(  # "what is label smoothing and why ..." -> "label smoothing"
    r"^\s*(?:what|who)\s+(?:is|are|was|were|(?P<aux>does|do))\s+(?:an?\s+|the\s+)?"
    r"(?P<subject>[a-z0-9][a-z0-9 -]*?)"
    rf"(?=\s+{_ADVERB}(?:in|of|for|and|as|according|when|on|{_VERB_AFTER})\b|\s*[,?.;:]|\s*$)",
    re.IGNORECASE)
_WHICH = re.compile(  # "which vector database do they recommend" -> "vector database"
    r"^\s*which\s+(?P<subject>[a-z0-9][a-z0-9 -]*?)(?=\s+(?:do|does|did|is|are|was|were|can|could|should|would|"
    r"has|have)\b)", re.IGNORECASE)


def compound_subject(question: str) -> str | None:
    """The compound term a "what is X" or "which X does" question asks about ("label smoothing"), or None: single
    words are checked as terms, subjects with function words ("difference between A") are no compound, and neither
    is a counted category ("which three noise schedulers", "the 3 main families"): it names what to list in the
    asker's words, nor an aspect of a thing ("the basic goal of an autoencoder": the thing is what the notes must
    hold). In "what does X require" the last word before any function word is the verb, not part of X ("what does
    the perceptron convergence theorem guarantee about ...")."""
    m = _SUBJECT.match(question) or _WHICH.match(question)
    if not m:
        return None
    words = word_parts(m.group("subject"))
    verb_next = re.match(rf"\s+{_ADVERB}(?:{_VERB_AFTER})\b", question[m.end("subject"):], re.IGNORECASE)
    if m.re is _SUBJECT and m.group("aux") and not verb_next:   # "what does X guarantee about ...": up to its verb
        words = list(itertools.takewhile(lambda w: w.lower() not in STOPWORDS, words))[:-1]
    if not 2 <= len(words) <= 4 or any(w.lower() in STOPWORDS | RELATIONAL for w in words):
        return None
    if words[0].lower() in COUNTS or quantity.is_numeral(words[0]):
        return None
    return " ".join(words)


def names_a_term(word: str, question: str, knows: Callable[[str], bool]) -> bool:
    """Whether a word of the question stands beside a content word the notes know, in one clause, naming a term with
    it ("focal loss", "isolation forest", "GAN paper", "the perplexity of a language model": "of" and an article after
    it join a term; another article opens one, so "finished a first version" is a verb and its object): the notes
    lack that term. A word the notes never use that stands alone among function words or other unknown words ("if
    I'm putting together", "what can it draft", "how do people fix it", "an autoencoder with a bottleneck as wide as
    its input") is the asker's phrasing, not the subject; so is one given as another name of a word the notes know
    ("pharma / drug discovery"). `knows(word)`: whether the notes use it."""
    for m in _ALTERNATIVES.finditer(question):
        pair = [w.lower() for w in m.groups()]
        if word in pair and knows(pair[1 - pair.index(word)]):
            return False
    asides = _ASIDE.findall(question)   # "nucleus (top-p) sampling": the parenthesis is an aside inside a term
    for clause in [*_CLAUSE_BREAK.split(_ASIDE.sub(" ", question)), *asides]:
        raw = compound_words(clause)
        words = [w for k, w in enumerate(raw)   # an article stays where it opens another term: not after "of"
                 if w not in _TERM_GLUE or w in ARTICLES and not (k and raw[k - 1] == "of")]
        content = set(question_terms(clause)) | {w for w in words if "-" in w}
        for i, w in enumerate(words):
            if w == word and any(n in content and n != word and knows(n) for n in _beside(words, i)):
                return True
    return False


def _beside(words: list[str], i: int) -> list[str]:
    """The words next to words[i], and across an "and" / "or" next to it the two words of the item it is listed with:
    in "general AI and superintelligence" the word stands beside "general AI", a term among the terms it is
    coordinated with."""
    near = words[max(0, i - 1):i + 2]
    if i > 0 and words[i - 1] in _COORDINATION:
        near += words[max(0, i - 3):i - 1]
    if i + 1 < len(words) and words[i + 1] in _COORDINATION:
        near += words[i + 2:i + 4]
    return near


def compound_words(text: str) -> list[str]:
    """The words of `text`, lowercased, a hyphenated compound one word ("out-of-bag")."""
    return [w.lower() for w in _COMPOUND_WORD.findall(text)]


def compounds(question: str) -> list[str]:
    """The hyphenated compounds of a question other than measures, names of a note and of a language ("out-of-bag",
    "top-p"; not "4-sample", "write-up", "Italian-language"): a term the notes hold only where they write its words
    together."""
    return [w for w in dict.fromkeys(compound_words(question))
            if "-" in w and not quantity.is_value(w) and w.replace("-", "") not in META_WORDS and not says_language(w)]


def in_notes_spelling(term: str, spelled: dict[str, str]) -> str:
    """A hyphenated term with each part the notes write otherwise in their spelling ("robbins-monro" ->
    "robbins-moro" where `spelled` maps "monro" to "moro": its first spelling)."""
    return "-".join(spelled[p].split()[0] if p in spelled else p for p in term.split("-"))


def question_terms(question: str) -> list[str]:
    """Content words of a question (stopwords, question words, words naming an aspect of a thing ("downsides"),
    and numbers other than years dropped)."""
    return [w for w in (p.lower() for p in word_parts(question)) if w not in STOPWORDS | QUESTION_WORDS | META_WORDS
            | RELATIONAL and len(w) > 2 and not quantity.is_value(w)]


@dataclass
class Coverage:
    """The signals abstention is decided from."""

    top_dense: float            # best dense cosine of a retrieved passage
    top_evidence: float
    unknown_terms: list[str] = field(default_factory=list)
    term_share: float = 1.0     # share of question terms known to the notes
    unknown_subject: str | None = None  # the asked-about phrase when its words never occur together in the notes
    unknown_focus: list[str] = field(default_factory=list)      # specific words the notes never use
    unexplained_focus: list[str] = field(default_factory=list)  # specific words the passages only mention
    unconnected: list[str] = field(default_factory=list)        # a part's names no note holds together
    foreign_terms: dict[str, float] = field(default_factory=dict)  # unknown focus word -> best mapped e5 score of a
                                                                   # retrieved unit in another language
    contradicted: list[str] = field(default_factory=list)       # '"what the notes say", not "what was asked"'
    top_sentence: float = 0.0   # best dense cosine of an evidence sentence with its part of the question
    uncounted: str | None = None  # what a "how many" question counts when no retrieved sentence gives its number
    undefaulted: str | None = None  # the default a question asks for ("default value") when no retrieved passage
                                    # speaks of a default
    unused_subject: str | None = None   # the unknown subject when no retrieved unit uses all its words in any order
    unwritten: list[str] = field(default_factory=list)   # numbers a why question presumes that no note writes
    asks_nothing: bool = False  # the question holds no content word, name or quoted term ("/", "vs vs vs")
    unknown_names: list[str] = field(default_factory=list)  # the unknown focus words written as names, acronyms or
                                                            # numbers

    @property
    def similarity(self) -> float:
        """How close anything in the notes comes to the question: its best passage or sentence. A short question
        about one line of a long passage ("what does bagging do") matches the line, not the passage."""
        return max(self.top_dense, self.top_sentence)

    def finding(self, s: AnswerSettings) -> str | None:
        """What the notes lack, in a sentence for the reader, when a structural rule found it."""
        if self.asks_nothing:
            return "Your question names nothing to look for: ask about a topic of your notes."
        unknown_focus = never_mentioned(self, s)
        if unknown_focus:
            return f"Your notes never mention {', '.join(unknown_focus)}."
        if self.unused_subject:
            return f"Your notes never mention {self.unused_subject}."
        if self.unwritten:
            return f"Your notes never write {', '.join(self.unwritten)}."
        if self.contradicted:
            return f"Your notes say {'; '.join(self.contradicted)}."
        if self.unexplained_focus:
            return f"Your notes mention {', '.join(self.unexplained_focus)} but do not explain it."
        if self.unconnected:
            return f"No note of yours connects {'; '.join(c.replace(' + ', ' with ') for c in self.unconnected)}."
        if self.uncounted:
            return f"Your notes give no number of {self.uncounted}."
        if self.undefaulted:
            return f"Your notes give no {self.undefaulted}."
        return None

    def to_dict(self) -> dict:
        """JSON-ready form for diagnostics."""
        return {"top_dense": round(self.top_dense, 4), "top_evidence": round(self.top_evidence, 4),
                "unknown_terms": self.unknown_terms, "term_share": round(self.term_share, 4),
                "unknown_subject": self.unknown_subject, "unused_subject": self.unused_subject,
                "unknown_focus": self.unknown_focus, "unknown_names": self.unknown_names,
                "unexplained_focus": self.unexplained_focus, "unconnected": self.unconnected,
                "foreign_terms": self.foreign_terms, "contradicted": self.contradicted,
                "top_sentence": round(self.top_sentence, 4), "uncounted": self.uncounted,
                "undefaulted": self.undefaulted, "asks_nothing": self.asks_nothing, "unwritten": self.unwritten}


def contradicted(query: Question, results: list[SearchResult], evidence: list[Evidence], vocab: Vocabulary) \
        -> list[str]:
    """For each part whose best evidence sentence swaps a word of one of its terms, '"the note's phrase", not "the
    question's"' (the term is looked for in the retrieved passages of that sentence's note); else the first of its
    evidence sentences that affirms what it denies (premise.opposed), that says what it presumes of a name of
    another name (premise.reassigned), that gives another number to what it presumes a number of
    (premise.renumbered), or that says the opposite degree of it (premise.reversed_degree), quoted as shown (plain)."""
    out = []
    for i, part in enumerate(query.parts):
        own = sorted((e for e in evidence if e.part == i), key=lambda e: -e.score)
        if not own:
            continue
        best = own[0]
        note = best.result.chunk.source
        passages = (r.chunk.text for r in results if r.chunk.source == note)
        found = premise.swapped(part, best.text, passages, vocab.knows_phrase)
        if found:
            out.append(f'"{found[1]}", not "{found[0]}"')
            continue
        clash = next((e for e in own if premise.opposed(part, e.text, [o.text for o in own if o is not e])), None)
        if clash is not None:
            out.append(f'"{plain(clash.text)}"')
            continue
        texts = [e.text for e in own]
        other = premise.reassigned(part, query.names, texts) or premise.renumbered(part, texts)
        if other is None:
            other = next((t for t in texts if premise.reversed_degree(part, t)), None)
        if other is not None:
            out.append(f'"{plain(other)}"')
    return out


def measure(query: Question, results: list[SearchResult], evidence: list[Evidence], vocab: Vocabulary | None,
            units: list[tuple[str, Unit]] = (), foreign_match=None, misfiled: list[str] = (),
            given: str | None = None, spelled: dict[str, str] | None = None) -> Coverage:
    """Coverage signals for one question; `units` are the (text, Unit) pairs of the retrieved chunks;
    `foreign_match(terms, texts) -> {term: score}` scores focus words the notes never use against the units in another
    language (rag.answer.foreign.ForeignScores.term_matches); `misfiled`: '"the notes' heading", not "the asked
    category"' for a thing the question files under a category the notes file it beside (rag.answer.category);
    `given`: the subject its conversation gives a follow-up (what its pronoun stood for); `spelled`: the short forms
    of the question the notes never use, each with the name a retrieved passage writes out for it
    (rag.answer.abbreviations.spelled_in): known words, explained by their long form.

    Words the notes never use count against a question unless it names its subject otherwise: a term it quotes or
    the conversation gives that the notes hold (its other words set the scene: "in NLP jargon", "crank it way up"), or
    its best evidence in another language (where only names are written as the question writes them); names count
    always."""
    top_dense = max((r.dense_score for r in results if r.dense_score is not None), default=0.0)
    top_ev = max((e.score for e in evidence), default=0.0)
    terms = list(dict.fromkeys(question_terms(query.text) + compounds(query.text)))
    spelled = {short.lower(): long for short, long in (spelled or {}).items()}   # "bn": "Batch Normalization"

    def knows(word: str) -> bool:
        """Whether the notes use a word, or write a hyphenated compound's words together (in their spelling)."""
        return vocab.knows_term(in_notes_spelling(word, spelled)) if "-" in word else vocab.knows(word)

    unknown = [t for t in terms if vocab is not None and not knows(t) and t not in spelled]
    share = 1.0 - len(unknown) / len(terms) if terms else 1.0
    unknown = [t for t in unknown if names_a_term(t, query.text, knows)]
    subject = compound_subject(query.text)
    unknown_subject = subject if subject and vocab is not None and not vocab.knows_phrase(subject) else None
    unknown_focus = [t for t in query.focus if vocab is not None and not vocab.knows_term(in_notes_spelling(t, spelled))
                     and t not in spelled
                     and (t in query.names or "-" in t or names_a_term(t, query.text, knows))]
    named = [*quoted_terms(query.text), *([given] if given else [])]
    named_known = vocab is not None and any(vocab.knows_term(t) if " " not in t else vocab.knows_phrase(t)
                                            for t in named)
    # the best evidence is in another language, where the question's words cannot occur
    in_translation = bool(evidence) and max(evidence, key=lambda e: e.score).foreign
    if named_known or in_translation:
        unknown = [t for t in unknown if t in query.names]
        unknown_focus = [t for t in unknown_focus if t in query.names]
    known = [t for t in query.focus if t not in unknown_focus]
    parts = [tuple(t for t in query.names if t in known and t not in spelled and focus.mentions(part, t))
             for part in query.parts]   # a short form stands for the long form the question now holds beside it
    foreign = foreign_match(unknown_focus, [text for text, _ in units]) if foreign_match and unknown_focus else {}
    asked = known + ([subject] if subject and not unknown_subject and subject not in known else [])
    # "for things like summarization or translation": examples the asker gives of where the asked thing helps; a year
    # dates what it is said of and names nothing to explain ("that 2009 Google paper"); against evidence in another
    # language only a name, written alike in any, can go unexplained
    asked = [t for t in asked if not focus.in_enumeration(query.text, t) and not quantity.is_year(t)
             and (t in query.names or not in_translation)]
    sentences = [(text, u.context) for text, u in units]
    return Coverage(float(top_dense), float(top_ev), unknown, share, unknown_subject, unknown_focus,
                    focus.unexplained([in_notes_spelling(t, spelled) for t in asked], list(units),
                                      [in_notes_spelling(t, spelled) for t in query.names if t in asked],
                                      {**(vocab.long_forms if vocab is not None else {}), **spelled}),
                    focus.unconnected(parts, vocab.notes_with) if vocab is not None else [],
                    foreign_terms=foreign,
                    contradicted=(contradicted(query, results, evidence, vocab) if vocab is not None else [])
                    + list(misfiled),
                    top_sentence=max((e.similarity for e in evidence), default=0.0),
                    uncounted=quantity.uncounted(query.text, sentences, query.names),
                    undefaulted=quantity.undefaulted(query.text, sentences),
                    unused_subject=unknown_subject if unknown_subject and not any(
                        focus.uses_all(f"{text} {u.context}", unknown_subject) for text, u in units) else None,
                    unwritten=quantity.unwritten(query.text, vocab.numbers) if vocab is not None else [],
                    asks_nothing=not terms and not query.focus and not named,
                    unknown_names=[t for t in unknown_focus if t in query.names])


def never_mentioned(cov: Coverage, s: AnswerSettings) -> list[str]:
    """The focus words the notes never use, in any language: a word some retrieved unit in another language matches
    at least foreign_term_min_e5 is there in translation ("reconstruction" where the note says "ricostruzione"). A word
    that is no name counts only while no evidence sentence scores unknown_term_max_evidence: such a sentence answers
    the question in the notes' words ("the GAN approach for sharpening poor medical images" where the note says
    "enhance the quality of low-resolution medical images"); a name the notes never write is never theirs."""
    strong = cov.top_evidence >= s.unknown_term_max_evidence
    return [t for t in cov.unknown_focus if cov.foreign_terms.get(t, float("-inf")) < s.foreign_term_min_e5
            and (t in cov.unknown_names or not strong)]


def decide(cov: Coverage, s: AnswerSettings) -> str | None:
    """The reason to abstain, or None to answer; every threshold comes from settings.

    Words or phrases the notes never use count only while no evidence sentence matches strongly: a question
    may say "store" or "advantage" where the notes say "stored" in other words.
    """
    if cov.asks_nothing:
        return "the question names nothing to look for"
    unknown_focus = never_mentioned(cov, s)
    if unknown_focus:
        return f"the notes never mention {', '.join(unknown_focus)}"
    if cov.unused_subject:
        return f"no retrieved passage uses the words of '{cov.unused_subject}' together"
    if cov.unwritten:
        return f"the notes never write {', '.join(cov.unwritten)}"
    if cov.contradicted:
        return f"the notes say {'; '.join(cov.contradicted)}"
    if cov.similarity < s.min_retrieval_score:
        return f"best passage or sentence similarity {cov.similarity:.2f} < {s.min_retrieval_score:.2f}"
    if cov.top_evidence < s.min_evidence_score:
        return f"best evidence score {cov.top_evidence:.2f} < {s.min_evidence_score:.2f}"
    if cov.unexplained_focus:
        return f"the notes mention {', '.join(cov.unexplained_focus)} but do not explain it"
    if cov.unconnected:
        return f"no note connects {'; '.join(cov.unconnected)}"
    if cov.uncounted:
        return f"no retrieved sentence gives a number of {cov.uncounted}"
    if cov.undefaulted:
        return f"no retrieved passage gives a {cov.undefaulted}"
    if cov.top_evidence >= s.unknown_term_max_evidence:  # a sentence answers it in other words
        return None
    if cov.unknown_terms and cov.similarity < s.unknown_term_min_dense:
        return (f"question terms absent from the notes ({', '.join(cov.unknown_terms)}) "
                f"and best similarity {cov.similarity:.2f} < {s.unknown_term_min_dense:.2f}")
    if cov.unknown_subject and cov.similarity < s.unknown_term_min_dense:
        return (f"the notes never use the phrase '{cov.unknown_subject}' "
                f"and best similarity {cov.similarity:.2f} < {s.unknown_term_min_dense:.2f}")
    return None


def refusal(results: list[SearchResult], finding: str | None = None, limit: int = 3) -> str:
    """A refusal that says what the notes lack (when known) and names the closest notes found."""
    seen: list[str] = []
    for r in results:
        label = r.chunk.source + (f" ({r.chunk.heading})" if r.chunk.heading else "")
        if label not in seen:
            seen.append(label)
        if len(seen) >= limit:
            break
    lead = REFUSAL + (f" {finding}" if finding else "")
    if not seen:
        return f"{lead} The index has nothing close."
    return f"{lead} The closest notes are: " + "; ".join(seen) + "."
