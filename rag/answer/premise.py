"""Whether the evidence contradicts a question's premise.

By one swapped word: asked why the slides use "mean squared error" between the predicted and the true noise, the best
sentence says "mean absolute error" between them. The question's phrase must be a term the notes use elsewhere (so
the note chose another term, and the question is no paraphrase: "the raw input" for "the original input"), missing
from every retrieved passage of that sentence's note, and the sentence must share other words of the question, so it
is about the same thing and not a neighbour topic.

By another name: asked why UpSampling2D causes checkerboard artifacts, the sentence that speaks of checkerboard
artifacts says "the Conv2d Transpose method can lead to artifacts", and none that names UpSampling2D speaks of them.

By polarity: asked why SVMs "don't need feature scaling", the best sentence on SVMs says "They require feature
scaling"; asked why they are "non-parametric", it says "SVMs are parametric"; asked why decision trees "need feature
scaling", a sentence on them says "they do not require feature scaling". Words one side denies the other affirms, in
a sentence that shares another word of the question, and that no evidence sentence denies (or affirms) as well.

By degree: asked why lowering the learning rate makes boosted trees "generalize worse", a sentence says "Lower
learning rate values generally lead to better generalization". Each degree word of a question that presumes (a
why-question, one that states what the notes say: "My slides say strides = 2 halves the input size", or one that grants
it: "given that ...") is paired with the word of its scale (more / less, better / worse, double / halve, before /
after, ...) in the sentence that stands among most of the same words; an odd number of pairs at opposite poles says the
opposite of what the question presumes (lower and better against lowering and worse is one).

By number: told "predictive maintenance lifts productivity by 70%, as my slides put it", a sentence says "it
increases productivity by 25%, reduces breakdowns by 70%": the number the question gives a thing, the sentence gives
another, and no sentence gives it that one ("400 thousand text-image pairs" against "400 million")."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from rag.answer.focus import mentions
from rag.answer.quantity import STATED_VALUE, stated_value
from rag.answer.question import META_WORDS, NOTE_NOUN, is_name
from rag.answer.vocabulary import INFLECTION_PREFIX
from rag.core.text import STOPWORDS, WORD, stem, word_parts, words

MIN_SHARED = 2   # question words besides the phrase that the contradicting sentence must also hold
_WHY = re.compile(r"\bwhy\b", re.IGNORECASE)
NEGATORS = frozenset("""not never no without cannot neither nor""".split())
QUESTION_OPENERS = frozenset("what which who whom whose how why when where".split())
COPULAS = frozenset("is are was were be being been".split())
NEGATION_REACH = 3   # content words after a negator that it denies ("don't need feature scaling", "does not need
                     # to worry about covariance")
_CLAUSE_MARK = re.compile(r"[,;:.!?()\[\]—–]")   # punctuation between two words ends the clause of the first
_CONTRAST = frozenset("but whereas while although though yet".split())
_ALTERNATIVE = frozenset({"or", "nor"})   # after a denied word, what it coordinates is denied with it
MIN_DENIED = 2       # content words one side denies and the other affirms; a "non-" word alone is enough
SCALES = (   # degree words by scale, as (one pole, the other), compared by stem
    ("more most increase higher highest high greater greatest larger largest large bigger biggest raise rise grow",
     "less least fewer fewest decrease lower lowest low smaller smallest small reduce drop shrink"),
    ("better best improve outperform beat", "worse worst degrade hurt harm"),
    ("faster quicker", "slower"),
    ("easier", "harder"),
    ("deeper deep", "shallower shallow"),
    ("up upward upwards", "down downward downwards"),
    ("double doubling", "halve halving"),
    ("before earlier", "after later"),
)
_POLE = {stem(w): (scale, sign) for scale, poles in enumerate(SCALES) for sign, group in enumerate(poles)
         for w in group.split()}
NUMBER_REACH = 2     # words each side of a number that say what it counts ("400 million text-image pairs",
                     # "productivity by 25%")
_VALUE_OR_WORD = re.compile(rf"{STATED_VALUE.pattern}|[^\W\d_]+", re.IGNORECASE)
_ATTRIBUTED = re.compile(r"\b(?:as|per|according\s+to)\s+(?:my|the|our)\b", re.IGNORECASE)   # "as my slides put it"
_SAYS = re.compile(  # "My gen AI slides say ...", opening a sentence: what "what do my slides say?" asks, stated
    rf"(?:^|[.;:!?]\s+)(?:my|the|our)\s+(?:[\w.\-]+\s+){{0,4}}?{NOTE_NOUN}\s+(?:say|says|said|state|states|claim|claims)\b",
    re.IGNORECASE)
_GRANTED = re.compile(r"\b(?:given|seeing|considering|now)\s+that\b", re.IGNORECASE)   # "Given that the root holds
# 8 birds, ...": a clause that grants what follows it
DEGREE_REACH = 2     # words each side of a degree word that say what it is said of ("generalize worse", "better
                     # generalization", "lower learning rate"); further ones belong to other phrases


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


def _polar(text: str) -> tuple[set[str], set[str]]:
    """(affirmed, denied) stems of the content words of text: a word is denied within NEGATION_REACH words after a
    negator ("not", "never", "don't", ...), and the word after "non" is, marked "non:". A negator that opens a
    question ("why don't decision trees ...", "isn't ...") is not read: its subject comes between, unmarked."""
    affirmed, denied = set(), set()
    reach = 0
    tokens, opens = _clauses(text)
    for i, token in enumerate(tokens):
        low = token.lower()
        if i in opens:
            reach = 0   # a denial ends with its clause: "do not account for uncertainty, but randomness matters"
        if _negator(low):
            reach = 0 if _opens_question(tokens, i) else NEGATION_REACH
            continue
        if low in _ALTERNATIVE and i > 0 and stem(tokens[i - 1].lower()) in denied:
            reach = max(reach, 1)   # "not account for uncertainty or randomness": the alternative is denied too
        after_non = i > 0 and tokens[i - 1].lower() == "non"
        if _content(token) and low != "non":
            word = ("non:" if after_non else "") + stem(low)
            (denied if reach or after_non else affirmed).add(word)
            reach = max(reach - 1, 0)
    return affirmed, denied


def _tokens(text: str) -> list[str]:
    """The words of a text, a typographic apostrophe read as "'" ("doesn’t" as typed in notes is "doesn't")."""
    return words(text.replace("\u2019", "'"))


def _clauses(text: str) -> tuple[list[str], set[int]]:
    """`_tokens(text)`, and the positions of those that open a clause: after a punctuation mark, or a contrasting
    conjunction itself ("but", "whereas")."""
    found = list(WORD.finditer(text.replace("\u2019", "'")))
    tokens = [m.group() for m in found]
    return tokens, {i for i, m in enumerate(found) if i and (
        _CLAUSE_MARK.search(text, found[i - 1].end(), m.start()) or tokens[i].lower() in _CONTRAST)}


def _negator(token: str) -> bool:
    return token.lower() in NEGATORS or token.lower().endswith("n't")


def _opens_question(tokens: list[str], i: int) -> bool:
    """Whether tokens[i] opens the text or follows a question word ("why can't ...")."""
    return i == 0 or tokens[i - 1].lower() in QUESTION_OPENERS


def _asks_negated(text: str) -> bool:
    """Whether a negator opens the question, or follows a question word ("why can't ...", "isn't ..."): what it
    denies is what it asks about, its subject between (`_polar` leaves such a negator unread)."""
    tokens = _tokens(text)
    return any(_negator(t) and _opens_question(tokens, i) for i, t in enumerate(tokens))


def _flipped(denied: set[str], affirmed: set[str]) -> set[str]:
    """The words of denied's "non-" words that affirmed holds plain ("non-parametric" against "parametric")."""
    return {w[4:] for w in denied if w.startswith("non:")} & affirmed


def _said_of_its_subject(sentence: str, word: str) -> bool:
    """Whether "non-<word>" in the sentence is said of its subject, after a copula ("SVMs are non-parametric", "is a
    non-linear function"), rather than naming another kind of thing ("non-recurrent neural networks have no memory")."""
    tokens = [t.lower() for t in words(sentence)]
    return any(t == "non" and i + 1 < len(tokens) and stem(tokens[i + 1]) == word
               and COPULAS & set(tokens[max(0, i - 3):i]) for i, t in enumerate(tokens))


def opposed(part: str, sentence: str, others: Iterable[str] = ()) -> set[str] | None:
    """The words the question part denies and `sentence` affirms (at least MIN_DENIED, or one "non-" word either
    way, the sentence's only where it says it of its subject: see `_said_of_its_subject`), when the sentence shares
    another content word of the part (it is about the same thing) and none of `others` (the part's other evidence)
    that does so denies them too. A sentence that denies what the part affirms answers a question ("dropout is not
    applied at test time" answers "what does dropout do at test time?"), but not a why-question, which presumes it:
    "they do not require feature scaling", said of decision trees, against "why do my notes say decision trees need
    feature scaling?" (MIN_DENIED words; no other sentence that shares what the first is said of affirms them; a
    why-question that denies something itself, "why can't a perceptron learn XOR?", presumes the denial)."""
    asked, said = _polar(part), _polar(sentence)
    both = {w for w in asked[1] if not w.startswith("non:")} & said[0]
    named = {w for w in _flipped(said[1], asked[0]) if _said_of_its_subject(sentence, w)}
    presumed = asked[0] & {w for w in said[1] if not w.startswith("non:")} \
        if _WHY.search(part) and not _asks_negated(part) else set()
    presumed = presumed if len(presumed) >= MIN_DENIED else set()
    clash = _flipped(asked[1], said[0]) | named | (both if len(both) >= MIN_DENIED else set()) | presumed
    if not clash:
        return None
    subject = _plain(asked) - clash

    def about(polar: tuple[set[str], set[str]]) -> bool:
        return bool(subject & _plain(polar))

    other = [p for p in map(_polar, others) if about(p)]
    same = subject & _plain(said)   # what the sentence is said of: another sentence affirming it too of that
    if not about(said) or any((clash - presumed) & _plain((set(), p[1])) for p in other) or \
            any(presumed <= p[0] and same <= _plain(p) for p in other if presumed):
        return None
    return clash


def _plain(polar: tuple[set[str], set[str]]) -> set[str]:
    """Every word of an (affirmed, denied) pair, "non:" marks dropped."""
    return {w.removeprefix("non:") for w in polar[0] | polar[1]}


def reassigned(part: str, names: Iterable[str], sentences: list[str]) -> str | None:
    """The first of `sentences` (best first) that says what a why-question part presumes of the names it holds, but of
    another name: it shares MIN_SHARED of the part's other content words, holds none of its names and a name the part
    does not hold, and no sentence that holds one of the part's names shares as many of those words."""
    names = [n for n in names if mentions(part, n)]
    if not names or not _WHY.search(part):
        return None
    presumed = {stem(w.lower()) for w in word_parts(part) if _content(w) and not any(mentions(w, n) for n in names)}

    def shared(sentence: str) -> int:
        return len(presumed & set(_stems(sentence)))

    for sentence in sentences:
        k = shared(sentence)
        if k < MIN_SHARED or any(mentions(sentence, n) for n in names):
            continue
        if not any(is_name(w) and not mentions(part, w) for w in word_parts(sentence)[1:]):
            continue
        if any(shared(o) >= k for o in sentences if any(mentions(o, n) for n in names)):
            continue
        return sentence
    return None


def presumes(part: str) -> bool:
    """Whether a part states what it asks about as given: a why-question, a statement it attributes to the notes
    ("as my slides put it", "per the GenAI slides", "My slides say ..." opening a sentence) or a clause it grants
    ("given that the root holds 8 birds"); "what do my slides say ...?" asks."""
    return any(p.search(part) for p in (_WHY, _ATTRIBUTED, _SAYS, _GRANTED))


def _bound(text: str) -> list[tuple[str, set[str]]]:
    """(value, the words it is said of) of each number a text states ("productivity by 25%": 25, productivity): the
    content words within NUMBER_REACH, in its clause, that are nearer to it than to any other number ("70% training,
    15% validation": training is 70's), compared as `_key` reads them. A ratio's numbers ("70/15/15") are left out."""
    text = text.replace("\u2019", "'")
    found = list(_VALUE_OR_WORD.finditer(text))
    clause = [0] * len(found)   # the clause each token is in: punctuation between two tokens parts them
    for k in range(1, len(found)):
        clause[k] = clause[k - 1] + bool(_CLAUSE_MARK.search(text, found[k - 1].end(), found[k].start()))
    at = [i for i, m in enumerate(found) if m.group("digits")
          and "/" not in text[max(0, m.start() - 1):m.end() + 1]]   # "50/25/25 into ...": a ratio, said respectively
    near = _said_of([m.group() for m in found], at, NUMBER_REACH, clause)
    return [(stated_value(found[i]), near[i]) for i in at]


def _said_of(tokens: list[str], at: list[int], reach: int, clause: list[int] | None = None) -> dict[int, set[str]]:
    """For each position in `at` (a degree word, a number), the content words of `tokens` within `reach` of it that
    are nearer to it than to any other position in `at` (a word as near to two belongs to neither), in its clause
    where `clause` gives each token's, compared as `_key` reads them."""
    near: dict[int, set[str]] = {i: set() for i in at}
    for j, token in enumerate(tokens):
        if j in near or not _content(token):
            continue
        dist = sorted((abs(i - j), i) for i in at if abs(i - j) <= reach and (clause is None or clause[i] == clause[j]))
        if dist and (len(dist) == 1 or dist[0][0] < dist[1][0]):
            near[dist[0][1]].add(_key(token))
    return near


def renumbered(part: str, sentences: list[str]) -> str | None:
    """The first of `sentences` (best first) that gives another number to what a part presumes a number of: a part
    that presumes (`presumes`: "lifts productivity by 70%, as my slides put it") binds a value to words (see
    `_bound`), and the sentence, sharing MIN_SHARED of the part's content words, binds another value to one of them
    ("increases productivity by 25%, reduces breakdowns by 70%") while no sentence binds the part's value to it."""
    if not presumes(part):
        return None
    asked = [(value, near) for value, near in _bound(part) if near]
    if not asked:
        return None
    bound = [_bound(sentence) for sentence in sentences]
    words = {_key(w) for w in word_parts(part) if _content(w)}
    for sentence, said in zip(sentences, bound):
        if len(words & {_key(w) for w in word_parts(sentence)}) < MIN_SHARED:
            continue
        for value, near in asked:
            if any(v != value and near & n for v, n in said) and \
                    not any(v == value and near & n for b in bound for v, n in b):
                return sentence
    return None


def _degrees(text: str) -> list[tuple[int, int, set[str]]]:
    """(scale, pole, the words it is said of) of each degree word of text: the content words within DEGREE_REACH that
    are nearer to it than to any other degree word (a word as near to two belongs to neither; words naming the notes
    are left out), compared on their leading INFLECTION_PREFIX letters."""
    tokens = [t.lower() for t in _tokens(text)]
    at = [i for i, t in enumerate(tokens) if stem(t) in _POLE]
    near = _said_of(tokens, at, DEGREE_REACH)
    return [(*_POLE[stem(tokens[i])], near[i]) for i in at]


def reversed_degree(part: str, sentence: str) -> bool:
    """Whether the sentence says the opposite degree of what a part presumes (`presumes`; see the module docstring):
    it shares MIN_SHARED of the part's other content words, and an odd number of the part's degree words pair with
    the other pole of their scale. A degree word pairs with the sentence's word of its scale whose surrounding words
    it shares most (at least one); where both poles share as many, or none, it pairs with nothing."""
    if not presumes(part):
        return False
    asked, said = _degrees(part), _degrees(sentence)
    others = {_key(w) for w in word_parts(part) if _content(w) and stem(w.lower()) not in _POLE}
    if len(others & {_key(w) for w in word_parts(sentence)}) < MIN_SHARED:
        return False
    flips = 0
    for scale, pole, near in asked:
        best: dict[int, int] = {}
        for s_scale, s_pole, s_near in said:
            if s_scale == scale:
                best[s_pole] = max(best.get(s_pole, 0), len(near & s_near))
        top = max(best.values(), default=0)
        paired = [p for p, k in best.items() if k == top]
        if top > 0 and len(paired) == 1:
            flips += paired[0] != pole
    return flips % 2 == 1


def _key(word: str) -> str:
    """A word as degree contexts compare it: its stem's leading INFLECTION_PREFIX letters, a quality's noun read as
    the quality ("purity" and "pure", "randomness" and "random": a less pure node is a node of lower purity)."""
    return re.sub(r"(?<=\w{3})(?:ity|ness)$", "", stem(word.lower()))[:INFLECTION_PREFIX]
