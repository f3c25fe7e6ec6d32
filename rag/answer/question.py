"""What a question asks: its parts (a multi-part or comparison question asks several things), its content terms,
and its focus terms (the specific words it is about, which the notes must hold for it to be answerable)."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from rag.answer.quantity import is_value
from rag.core.text import STOPWORDS, content_terms, is_function_word, stem, word_parts

LANGUAGES = frozenset(  # the language a note is written or an answer wanted in: "the Italian one", "in English"
    """english italian french german spanish portuguese dutch chinese japanese korean russian arabic hindi""".split())
NOTES_LANGUAGE = "english"   # the language the notes are read in (MiniLM's); a question naming another one points at
                             # notes written in it ("my Italian autoencoder notes")
# Words that point at the notes themselves or ask for an answer, never at the subject ("my GenAI slides say").
META_WORDS = frozenset("""note notes slide slides blog blogs post summary summaries review reviews page pages author
series digest lecture lectures file files document chapter section according mention mentioned mentions say says
said give gives list lists describe describes explain explains call called name names quote quotes quoted claim
claims claimed warn warns warned write writes wrote written writeup deck decks handout handouts timeline timelines
notebook notebooks overview overviews writeups cheatsheet cheatsheets blurb blurbs excerpt excerpts snippet snippets
recap recaps intro intros""".split()) | LANGUAGES
RELATIONAL = frozenset("""idea ideas intuition point purpose goal role meaning step steps stage stages part parts kind
kinds type types advantage advantages benefit benefits drawback drawbacks disadvantage disadvantages limitation
limitations pros cons upside upsides downside downsides strength strengths weakness weaknesses pitfall pitfalls caveat
caveats tradeoff tradeoffs trade-off trade-offs takeaway takeaways lesson lessons formula formulas equation equations
application applications""".split())   # "the idea behind X", "the formula for X", "the downsides of X": an aspect of X,
# never what a question is about
QUESTION_WORDS = frozenset("""what which who whom whose how why when where does do did is are was were can could
should would will difference differ differs between compare versus vs explain describe mean meaning define
definition whats hows whys""".split())   # "whats" as typed without its apostrophe
_CLAUSE = re.compile(  # ", and which ...", "; how ...", " and what ...", "? Also, how ...", " and with which ...":
    # where a new question begins; after a question mark a request begins one too ("...? Walk me through the indexing
    # part")
    r"\s*(?:[,;]\s*(?:and\s+|or\s+|but\s+)?|\s+and\s+|\s+or\s+|\?\s+(?:and\s+|but\s+|also,?\s+)?)"
    r"(?=(?:what|which|who|whom|whose|how|why|when|where|does|do|did|is|are|can|should)\b)"
    r"|(?:,?\s+and\s+|\?\s+)(?=(?:with|in|for|by|on|at|from|under|through)\s+(?:what|which|whom)\b)"
    r"|\?\s+(?=(?:explain|describe|walk|give|list|name|tell|summari[sz]e|show|compare)\b)", re.IGNORECASE)
_VERSUS = re.compile(  # the first side starts after the question's verb: "is bagging vs boosting" compares two things
    r"\b(?P<a>(?!(?:" + "|".join(sorted(QUESTION_WORDS)) + r")\b)[\w\-]+(?: [\w\-]+)?)\s+(?:vs\.?|versus)\s+"
    r"(?P<b>[\w\-]+(?: [\w\-]+){0,3})", re.IGNORECASE)
_BETWEEN = re.compile(r"\b(?:between|compare|comparing)\s+(?P<a>.+?)\s+(?:and|with|to)\s+(?P<b>.+?)(?=[?,.;:]|$)",
                      re.IGNORECASE)
_DIFFER = re.compile(  # "how does A differ from B", "how is A different from B"
    r"\b(?:does|do|is|are)\s+(?P<a>[\w\-']+(?: [\w\-']+){0,3})\s+"
    r"(?P<cmp>(?:differs?|different)\s+from\s+(?P<b>.+?))(?=[?,.;:]|$)", re.IGNORECASE)
_BOTH_DIFFER = re.compile(  # "how do A and B differ ..."
    r"\b(?:do|does|are|is)\s+(?P<a>[\w\-']+(?: [\w\-']+){0,3}?)\s+and\s+(?P<b>[\w\-']+(?: [\w\-']+){0,3}?)\s+"
    r"(?:differ|compare)\b", re.IGNORECASE)
_DIFFERENTLY = re.compile(  # "how does A treat X differently from B"
    r"\b(?:does|do|is|are)\s+(?P<a>(?:(?:the|a|an)\s+)?[\w\-']+)(?:\s+[\w\-']+){1,4}?\s+"
    r"(?P<cmp>differently\s+from\s+(?P<b>.+?))(?=[?,.;:]|$)", re.IGNORECASE)
_PRONOUN = re.compile(r"^(?:it|they|this|that|these|those|them|each|each one|the two|both)$", re.IGNORECASE)
_SUBORDINATE = re.compile(r"^(?:when|if|once|during|besides|given|after|before|while|since|for|in|according|as)\b",
                          re.IGNORECASE)
_REQUESTS = frozenset("name names list give say tell show".split())   # a request that asks like a question
_EXCEPTING = r"besides|except(?:\s+for)?|other\s+than"   # words that set a thing aside, anywhere in a question
_EXCEPTING_OPENER = r"(?:apart|aside)\s+from"           # ... where they open a clause ("what sets A apart from B"
                                                        # compares)
_EXCEPT = re.compile(rf"^(?:{_EXCEPTING}|{_EXCEPTING_OPENER})\b", re.IGNORECASE)
_SET_ASIDE = re.compile(  # "Apart from learning curves, how ...": what the asker already has, up to the question
    rf"(?:\b(?:{_EXCEPTING})|(?:^|[,;:]\s*){_EXCEPTING_OPENER})\s+(?P<what>.+?)"
    r"(?=,?\s*\b(?:what|which|how|why|who|where|when)\b|[?;:]|$)", re.IGNORECASE)
_ITEM_BREAK = re.compile(r"\s*(?:,|/|\band\b|\bor\b)\s*", re.IGNORECASE)
DO_QUESTION = re.compile(r"^\s*(?:how|why|when|where|what|which|who)\s+(?:does|do|did|can|could|should|would|will|"
                         r"is|are|was|were|has|have)\b", re.IGNORECASE)
_LEAD = re.compile(r"^(?P<lead>(?:in|according to|from|for)\b[^,:?]{3,80})[,:]\s*", re.IGNORECASE)   # "In the X: ..."
NOTE_NOUN = (r"(?:slides?|summary|summaries|notes?|review|blog|page|digest|lectures?|posts?|series|timelines?|"
             r"notebooks?|overviews?|write-?ups?|decks?|cheat-?sheets?|handouts?|chapters?|sections?|articles?|files?|"
             r"documents?|intros?)")
_NAME_WORD = r"(?!(?:in|on|at|from|my|our|your|the|this|these|those)\b)[\w.\-']+"   # a word of a note's name: no
# determiner, nor a place it is in ("the posts in my blog" names none)
NOTE_NAME = re.compile(  # "the GenAI slides", "my ML summary", "my Deep Learning with Python notes": names of a note;
    # "Q,K,V" is one word
    rf"\b(?:the|my|our|your|this|these|those)\s+(?P<words>(?:{_NAME_WORD}(?:,[\w.\-']+)*\s+){{1,4}}?){NOTE_NOUN}\b",
    re.IGNORECASE)
NOTE_PART = re.compile(  # "the Deep Learning with Python part of my notes": where to look, though what it names may
    # be what is asked about too ("the Transformer part of my review")
    rf"\b(?:the|my|our|your|this|that)\s+(?P<words>(?:{_NAME_WORD}\s+){{1,4}}?)(?:part|portion|half|bit)s?\s+of\s+"
    rf"(?:the|my|our|your|this|these)\s+(?:[\w.\-']+\s+){{0,4}}?{NOTE_NOUN}\b", re.IGNORECASE)
_QUOTED = re.compile(r"(?<!\w)['\"\u2018\u201c](?P<term>[^'\"\u2019\u201d?]{2,40}?)['\"\u2019\u201d](?!\w)"
                     rf"(?!\s+(?:{NOTE_NOUN}|tables?|headings?|titles?)\b)")   # "the 'Types of AI' slides": a title
_SPECIAL = re.compile(r"\d|[A-Z].*[A-Z]|.[A-Z]|\+\+$|#$")   # digits, acronyms, inner capitals and a closing symbol:
# "F1", "XLNet", "GPT", "k-means++", "C#"
NAME_SYMBOL = r"(?:\+\+|#)"   # a symbol that closes a name: "C++" is no "C", "k-means++" no "k-means"
ARTICLES = frozenset("a an the".split())
_SENTENCE_START = re.compile(r"(?:^|[.?!]\s+)[\W_]*$")   # what stands before a word that opens a sentence
_MODIFIER = re.compile(r"-(?:style|like|based|type|esque|ish|wise|driven|oriented)$", re.IGNORECASE)  # "BERT-style"


@dataclass(frozen=True)
class Question:
    """A question as the chain reads it."""

    text: str
    parts: tuple[str, ...]          # what it asks, in the order asked; one part for a simple question
    terms: frozenset[str]           # stemmed content terms, meta words left out
    focus: tuple[str, ...]          # the specific words it is about ("xlnet", "f1-score"), as written, lowercased
    names: tuple[str, ...] = ()     # the focus words written as names, acronyms or numbers ("google", "clip", "2019")
    lead: str = ""                  # the leading context its parts all carry ("In the slides", "When sampling text")
    note_words: frozenset[str] = frozenset()   # stems that only name the note it points at ("the deep-learning
                                               # review": deep, learn), left out of its terms
    clauses: tuple[int, ...] = ()   # the clause each part comes from: the two sides of a comparison share one
    set_aside: tuple[frozenset[str], ...] = ()   # stemmed terms of each thing it sets aside ("apart from learning
                                                 # curves"): evidence about one of them is what the asker has
    other_language: bool = False    # it names a language other than the notes' own ("the Italian AE intro"): it asks
                                    # about what the notes say in another language

    def part_terms(self, i: int) -> frozenset[str]:
        """Stemmed content terms of part i, without those only of what the question sets aside."""
        return asked_terms(self.parts[i]) - META_STEMS - self.note_words - self.aside_only

    @property
    def aside_only(self) -> frozenset[str]:
        """Stems of what the question sets aside that it does not ask about elsewhere."""
        aside = frozenset().union(*self.set_aside)
        return aside - asked_terms(_SET_ASIDE.sub(" ", self.text)) if aside else aside

    def own_terms(self, i: int) -> frozenset[str]:
        """The terms of part i without those of the leading context every part carries: what it asks ("When sampling
        text, what trade-off does it involve?" -> trade-off, involve). Compared parts keep the aspect they share."""
        own = self.part_terms(i) - frozenset(content_terms(self.lead))
        return own or self.part_terms(i)


META_STEMS = frozenset(stem(w) for w in META_WORDS | QUESTION_WORDS)


def _compared(clause: str) -> tuple[str, ...]:
    """A comparison clause as one clause per compared thing ("L1 vs L2 weight regularization" -> "L1 weight
    regularization ...", "L2 weight regularization ..."); any other clause as itself."""
    for pattern in (_VERSUS, _BETWEEN, _BOTH_DIFFER, _DIFFER, _DIFFERENTLY):
        m = pattern.search(clause)
        if not m or _PRONOUN.match(m.group("a").strip()) or _PRONOUN.match(m.group("b").strip()):
            continue
        a, b = m.group("a").strip(), m.group("b").strip()
        bare, a_bare = (s.split()[1:] if s.split()[0].lower() in ARTICLES else s.split() for s in (b, a))
        if pattern in (_VERSUS, _BETWEEN) and len(bare) > len(a_bare):
            a = " ".join([a, *bare[len(a_bare):]])   # "L1 vs L2 weight decay": both are weight decay
        if pattern in (_DIFFER, _DIFFERENTLY):   # "how does A treat X differently from B" -> "how does A treat X",
                                                 # "how does B treat X"
            shared = clause[m.end("a"):m.start("cmp")].rstrip() + clause[m.end("cmp"):]
            return (clause[:m.end("a")] + shared, clause[:m.start("a")] + b + shared)
        head, tail = clause[:m.start("a")], clause[m.end("b"):]
        if head.split()[-1:] and head.split()[-1].lower() in ARTICLES:
            b = " ".join(bare)   # "on the compression side vs the decompression side": the head has the article
        return (f"{head}{a}{tail}".strip(), f"{head}{b}{tail}".strip())
    return (clause,)


def _bare_subordinate(clause: str) -> bool:
    """Whether a clause only sets a condition or a scene ("when tokens are indexed", "in the slides") and its
    question follows; "when does it fail?" asks one."""
    return bool(_SUBORDINATE.match(clause)) and not clause.endswith("?") and not DO_QUESTION.match(clause)


def _asks_nothing(clause: str) -> bool:
    """Whether a clause holds no question word, no request ("name", "list") and no comparison: "At sampling time"
    before ", how does ..." only sets the scene."""
    words = {w.lower() for w in word_parts(clause)}
    return not words & (QUESTION_WORDS | _REQUESTS) and len(_compared(clause)) == 1


def split_parts(question: str) -> tuple[str, ...]:
    """The sub-questions of a multi-part or comparison question in the order asked, each carrying the question's
    leading context ("In the slides, what ... and why ..." -> "In the slides, what ...", "In the slides, why ...";
    "When sampling text, what ... and what ..." alike)."""
    return _split(question)[1]


def _split(question: str) -> tuple[str, tuple[str, ...], tuple[int, ...]]:
    """(the leading context the parts carry, or "" for a question of one part; the parts; the clause each part comes
    from): see split_parts."""
    q = " ".join(question.split())
    lead = _LEAD.match(q)
    prefix = lead.group("lead") + ", " if lead else ""
    body = q[lead.end():] if lead else q
    clauses: list[str] = []
    waiting = False   # the last clause is a subordinate one ("when tokens are indexed") whose question comes next
    for piece in (p.strip(" ,;") for p in _CLAUSE.split(body)):
        if len(word_parts(piece)) < 2:
            if not clauses and not prefix and word_parts(piece):   # "Intuitively, what ... and what ...": a leading
                prefix = piece + ", "                              # adverb is the context of every part
            continue
        # a leading one is the context of every part; "besides X, which ...?" excepts X from its own question only
        if waiting and len(clauses) == 1 and not prefix and not _EXCEPT.match(clauses[0]):
            prefix = clauses.pop() + ", "
        if waiting and clauses:
            clauses[-1] = f"{clauses[-1]}, {piece}"       # "What is X, and when it fails, why ...": one question
            waiting = False
        else:
            waiting = _bare_subordinate(piece) or (not clauses and _asks_nothing(piece))
            clauses.append(piece)
    sides = [(n, prefix + p) for n, clause in enumerate(clauses) for p in _compared(clause)]
    if len(sides) < 2:
        return "", (q,), (0,)
    return prefix.rstrip(", "), tuple(p for _, p in sides), tuple(n for n, _ in sides)


def says_language(word: str) -> bool:
    """Whether a word names a language, alone or qualifying another ("Italian", "Italian-language", "English-only")."""
    return word.lower().split("-")[0] in LANGUAGES


def names_other_language(question: str) -> bool:
    """Whether a question names a language other than the one the notes are read in ("my Italian notes", "the part
    in Italian"); "explain in English" does not."""
    return any(says_language(w) and w.lower() != NOTES_LANGUAGE for w in word_parts(question))


def is_name(word: str) -> bool:
    """A word written as a name, acronym or number: digits or capitals past its first letter ("XLNet", "F1", "2019",
    "U-Net", "k-means++"); a capitalised word counts where it opens no sentence of the question (the caller
    decides)."""
    return bool(_SPECIAL.search(word.strip("-'.")))


def is_specific(word: str, count_pieces: Callable[[str], int]) -> bool:
    """A word specific enough that notes which never use it cannot be about it: a name, acronym or number as written,
    or a word the embedder's vocabulary only knows in pieces ("perceptron", "lightgbm"); a hyphenated word is specific
    when one of its parts is ("f1-score" yes, "step-size" no). A word naming an aspect of a thing ("downsides",
    "takeaway": RELATIONAL) is not: the thing is what the notes must hold."""
    bare = word.strip("-'.")
    if is_function_word(bare) or bare.lower() in META_WORDS | QUESTION_WORDS | RELATIONAL or len(bare) < 2:
        return False
    if is_name(bare):
        return True
    return any(count_pieces(p.lower()) > 1 for p in word_parts(bare) if p.lower() not in STOPWORDS)


def focus_terms(question: str, count_pieces: Callable[[str], int]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The specific words of a question and the names among them, lowercased, in order; a capitalised word opening a
    sentence counts only by its pieces ("... in English? Answer briefly."), numbers other than years ("1.5", "10x",
    "20B") are left out (a question may compute with them or give them as an example), and so are the words naming a
    note or a part of one ("the GenAI slides", "my ML summary", "the Keras part of my notes") or the language it or
    the answer is written in; a hyphenated word that only makes a name a modifier counts as the name ("BERT-style",
    "transformer-based")."""
    described = {w.lower() for pattern in (NOTE_NAME, NOTE_PART) for m in pattern.finditer(question)
                 for w in m.group("words").split()}
    out: list[str] = []
    names: list[str] = []
    for m in re.finditer(rf"[A-Za-z0-9][A-Za-z0-9\-'.]*[A-Za-z0-9]{NAME_SYMBOL}?|[A-Za-z0-9]{NAME_SYMBOL}?", question):
        word = _MODIFIER.sub("", re.sub(r"'s$", "", m.group()))   # a "GPT-style" model is asked of as GPT's kind
        if is_value(word):
            continue
        opens = _SENTENCE_START.search(question[:m.start()]) is not None   # "... in English? Answer briefly."
        probe = word.lower() if opens else word
        if word.lower() in described or says_language(word):   # where to look, or in what language: not what is asked
            continue
        name = is_name(probe) or (not opens and word[:1].isupper() and not is_function_word(word)
                                  and word.lower() not in META_WORDS)
        if (name or is_specific(probe, count_pieces)) and word.lower() not in out:
            out.append(word.lower())
            if name:
                names.append(word.lower())
    return tuple(out), tuple(names)


def quoted_terms(question: str) -> tuple[str, ...]:
    """The terms (one to four words) a question puts in quotes, lowercased ("In NLP jargon, what does 'lexicon' refer
    to?" -> lexicon): the words the asker marks as the ones asked about. A quote that titles a slide, section or table
    ("the 'activation and last layer' table") names where to look, not what is asked."""
    terms = (m.group("term").strip().lower() for m in _QUOTED.finditer(question))
    return tuple(t for t in terms if 1 <= len(t.split()) <= 4)


def compared_words(parts: tuple[str, ...], clauses: tuple[int, ...]) -> list[str]:
    """The last word that tells each side of a comparison from the other, lowercased ("claude vs chatgpt - which one
    ...?" -> claude, chatgpt; "plain autoencoder vs VAE" -> autoencoder, vae): it names the thing compared, however
    common the word; the words before it only qualify it."""
    out: list[str] = []
    for i, j in ((i, j) for i in range(len(parts)) for j in range(len(parts)) if i != j and clauses[i] == clauses[j]):
        other = {w.lower() for w in word_parts(parts[j])}
        own = [w.lower() for w in word_parts(parts[i]) if w.lower() not in other and len(w) > 2 and w.lower() not in
               STOPWORDS | META_WORDS | QUESTION_WORDS | RELATIONAL | ARTICLES and not is_value(w)]
        out += own[-1:]
    return list(dict.fromkeys(out))


def asked_terms(text: str) -> frozenset[str]:
    """Stemmed content terms of a question's text, with every word it quotes, however common ("what's an
    'instance'?" asks about instance)."""
    return frozenset(content_terms(text)) | {stem(w) for term in quoted_terms(text) for w in word_parts(term)}


def note_words(question: str) -> frozenset[str]:
    """Stemmed words of the question that only name the note it points at ("Which capabilities of TensorFlow does the
    deep-learning review highlight?" -> deep, learn; "what does Naive Bayes do, according to the old Naive Bayes
    note?" -> old): they say where to look, not what to quote."""
    named = {t for m in NOTE_NAME.finditer(question) for t in content_terms(m.group("words"))}
    return frozenset(named - set(content_terms(NOTE_NAME.sub(" ", question))))


def set_aside(question: str) -> tuple[frozenset[str], ...]:
    """The things a question sets aside, each as its stemmed content terms: "Apart from learning curves, how do I catch
    high variance?" -> learning curves; "Besides shuffling/mini-batches, initialization and LR schedules, what else
    ...?" -> each of the four."""
    items = (item for m in _SET_ASIDE.finditer(question) for item in _ITEM_BREAK.split(m.group("what")))
    return tuple(terms for terms in (frozenset(content_terms(item)) for item in items) if terms)


def analyse(question: str, count_pieces: Callable[[str], int]) -> Question:
    """The parts, terms and focus of a question; `count_pieces(word)` is the embedder's word-piece count."""
    specific, names = focus_terms(question, count_pieces)
    lead, parts, clauses = _split(question)
    named = note_words(question)
    specific = (*specific, *(w for w in compared_words(parts, clauses) if w not in specific))
    aside = set_aside(question)
    query = Question(question, parts, asked_terms(question) - META_STEMS - named, specific, names, lead, named,
                     clauses, aside, names_other_language(question))
    return replace(query, terms=query.terms - query.aside_only)
