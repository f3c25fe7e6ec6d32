"""The judge's grounding scorer: how well a window of 1-2 passage sentences supports a claim, no LLM involved.

Independent of rag/answer/ground.py (the chain's own filter): its feature weights are fitted by eval/checker_eval.py
on the labelled set built (eval/labelled.py) from eval/data/calibration.json only. Its sentence splitter, word
pattern, stop words, stemmer and synonyms are its own on purpose, not rag.core.text's: a judge that shares the
chain's text handling would share its blind spots.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS_PATH = Path(__file__).parent / "data" / "checker_weights.json"
# Each feature with the sign its weight must keep (+1 more support, -1 less): eval/checker_eval.py fits
# under these constraints so no weight can learn a backwards rule from the calibration set.
FEATURES = ("recall", "bigram_recall", "cosine", "cosine_x_recall", "number_mismatch", "negation_mismatch",
            "swapped", "substituted", "elsewhere", "novel_terms", "salient_missing")
SIGNS = (1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1)
Encode = Callable[[list[str]], np.ndarray]
WordSim = Callable[[str, str], float]

_MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W\d_]+(?:['-][^\W\d_]+)*", re.UNICODE)
_NEGATIONS = frozenset({"not", "no", "never", "cannot", "nothing", "neither", "nor", "none", "without", "non"})
_STOP = frozenset("""a an the and or but if then so of to in on at by for with from into onto as is are was were be
been being it its this that these those there their they them he she we you i our your can could will would
shall should may might must do does did done has have had having which who whom whose what when where why how
also only just very more most much many some any each every such than too not no nor never cannot about over
under up down out via per both either while because since thus however like e g i usually typically often""".split())


def strip_markers(text: str) -> str:
    """Remove inline citation markers such as [1] or [2, 3]."""
    return _MARKER.sub("", text).strip()


def split_sentences(text: str, min_words: int = 3, keep_markers: bool = False) -> list[str]:
    """Split prose into sentences (markers stripped unless kept); fragments under `min_words` words are dropped."""
    out = []
    for part in _SENT_END.split(text if keep_markers else strip_markers(text)):
        part = " ".join(part.split()).strip(" -*•")
        if len(_TOKEN.findall(part)) >= min_words:
            out.append(part)
    return out


_SUFFIXES = ("isation", "ization", "ations", "ation", "ising", "izing", "ised", "ized", "ises", "izes", "ise", "ize",
             "ments", "ment", "ness", "ings", "ing", "ies", "ied", "ly", "ed", "es", "er", "s")
_SYNONYM_GROUPS = (
    ("near", "close", "nearest", "closest"), ("big", "large", "huge"), ("small", "little", "tiny"),
    ("start", "begin", "initial"), ("stop", "halt", "end"), ("choose", "pick", "select", "chosen"),
    ("typical", "usual", "common", "often", "usually", "typically", "commonly"), ("few", "fewer", "less"),
    ("reduce", "decrease", "shrink", "lower", "cut"), ("increase", "grow", "raise"),
    ("fast", "quick", "quickly", "faster", "speed"), ("avoid", "prevent"), ("make", "create", "produce", "build"),
    ("use", "used", "using", "employ", "utilise", "rely"), ("help", "aid", "assist"),
    ("remove", "drop", "delete", "discard"), ("keep", "retain", "preserve", "store", "hold"),
    ("allow", "let", "enable", "permit"), ("change", "modify", "alter"),
    ("compute", "calculate", "evaluate", "recompute"), ("wrong", "incorrect"), ("each", "every", "per"),
    ("method", "technique", "approach"), ("loss", "error", "cost"), ("zero", "zeroes", "zeros"),
)


def _base(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


_SYNONYMS = {_base(w): _base(group[0]) for group in _SYNONYM_GROUPS for w in group}


def _stem(word: str) -> str:
    """Crude suffix stripping plus a small table of general synonyms, so paraphrases meet their source words."""
    base = _base(word)
    return _SYNONYMS.get(base, base)


def _number(token: str) -> str | None:
    if not token[0].isdigit():
        return None
    value = token.rstrip("%").replace(",", "")
    try:
        return repr(float(value)) + ("%" if token.endswith("%") else "")
    except ValueError:
        return value


def _negated(tokens: Sequence[str]) -> bool:
    return any(t in _NEGATIONS or t.endswith("n't") for t in tokens)


@lru_cache(maxsize=20000)
def analyse(text: str) -> tuple[tuple[str, ...], frozenset[str], bool]:
    """(stemmed content words in order, normalised numbers, has a negation) of a text."""
    tokens = [t.lower() for t in _TOKEN.findall(text)]
    content = tuple(_stem(t) for t in tokens if t not in _STOP and (len(t) > 1 or t.isdigit()))
    numbers = frozenset(n for n in (_number(t) for t in tokens) if n)
    negated = _negated(tokens)
    return content, numbers, negated


def _span_negated(claim: str, unit: str) -> bool:
    """Whether the unit's stretch aligned with the claim (first to last shared word, and one before) is negated."""
    c = ["" if t in _NEGATIONS else _stem(t) for t in (t.lower() for t in _TOKEN.findall(claim))]
    u = [t.lower() for t in _TOKEN.findall(unit)]
    u_stems = [_stem(t) for t in u]
    hits = [m for m in SequenceMatcher(None, c, u_stems, autojunk=False).get_matching_blocks()
            if m.size and any(w not in _STOP for w in u[m.b: m.b + m.size])]
    if not hits:
        return _negated(u)
    return _negated(u[max(hits[0].b - 1, 0): hits[-1].b + hits[-1].size])


def _edits(claim: Sequence[str], unit: Sequence[str]) -> tuple[int, list[tuple[str, str]]]:
    """(words exchanged in place, short local substitutions) in an alignment of claim and window words.

    An exchange moves words the other side also holds (roles swapped, or two neighbours transposed); a
    substitution replaces one or two unit words by words the unit lacks, next to a matching stretch.
    """
    c_set, u_set = set(claim), set(unit)
    u_pairs = set(zip(unit, unit[1:]))
    exchanged = sum((b, a) in u_pairs and (a, b) not in u_pairs for a, b in zip(claim, claim[1:]))
    substituted = []
    ops = SequenceMatcher(None, claim, unit, autojunk=False).get_opcodes()
    for k, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag != "replace":
            continue
        mine, theirs = claim[i1:i2], unit[j1:j2]
        if all(w in u_set for w in mine) and all(w in c_set for w in theirs):
            exchanged += len(mine)
        elif i2 - i1 <= 2 and j2 - j1 <= 2 and not any(w in u_set for w in mine) and \
                any(0 <= n < len(ops) and ops[n][0] == "equal" for n in (k - 1, k + 1)):
            substituted.append((" ".join(mine), " ".join(theirs)))
    return exchanged, substituted


def _salient(word: str) -> bool:
    """A name-like word: an acronym, inner capitals or digits, or long and hyphenated."""
    return (word[:1].isupper() and any(c.isupper() for c in word[1:])) or any(c.isdigit() for c in word) \
        or "-" in word


def features(claim: str, unit: str, cosine: float, passage_terms: frozenset[str],
             context_terms: frozenset[str], word_sim: WordSim | None = None) -> list[float]:
    """Feature vector (FEATURES order) of a claim against one passage window.

    `passage_terms` are the content words of the window's own passage, `context_terms` those of all passages:
    claim words found only in other passages point at stitched or substituted claims, words found nowhere at
    invented ones. `word_sim` (cosine of two words) lets a substitution by a near-synonym count less.
    """
    c_words, c_nums, c_neg = analyse(claim)
    u_words, u_nums, _ = analyse(unit)
    if not c_words:
        return [1.0, 1.0, cosine, cosine, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    u_set = set(u_words)
    recall = sum(w in u_set for w in c_words) / len(c_words)
    c_bi = list(zip(c_words, c_words[1:]))
    u_bi = set(zip(u_words, u_words[1:]))
    bigram = sum(b in u_bi for b in c_bi) / len(c_bi) if c_bi else recall
    exchanged, subs = _edits(c_words, u_words)
    substituted = sum(1.0 - max(word_sim(a, b), 0.0) if word_sim else 1.0 for a, b in subs)
    c_set = set(c_words)
    elsewhere = sum(w not in passage_terms and w in context_terms for w in c_set) / len(c_set)
    novel = sum(w not in context_terms for w in c_set) / len(c_set)
    u_lower = unit.lower()
    salient = sum(1 for t in _TOKEN.findall(claim) if _salient(t) and t.lower() not in u_lower)
    return [recall, bigram, cosine, cosine * recall, float(not c_nums <= u_nums),
            float(c_neg != _span_negated(claim, unit)), min(exchanged, 2) / 2, min(substituted, 2.0) / 2,
            elsewhere, novel, min(salient, 2) / 2]


def _flat(text: str) -> str:
    """Lower-cased words joined by single spaces, punctuation and markup dropped (for verbatim matching)."""
    return " ".join(t.lower() for t in _TOKEN.findall(text))


def _windows(n: int, width: int = 2) -> list[tuple[int, ...]]:
    """Sentence index runs: each sentence and each run of up to `width` consecutive sentences."""
    return [tuple(range(i, i + w)) for w in range(1, width + 1) for i in range(n - w + 1)]


@dataclass
class Judgement:
    """A claim's support score in [0, 1], the passage sentence that supports it best, and its passage index."""

    score: float
    supported: bool
    evidence: str
    passage: int


class Checker:
    """Sign-constrained logistic model over lexical, numeric, negation and embedding features; max over windows."""

    def __init__(self, weights: Sequence[float], bias: float, threshold: float, encode: Encode | None = None):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)
        self.threshold = float(threshold)
        self.encode = encode
        self._vectors: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, encode: Encode | None = None, path: Path = WEIGHTS_PATH) -> Checker:
        """The calibrated checker stored in eval/data/checker_weights.json."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: features {data['features']} differ from {FEATURES}; recalibrate")
        return cls(data["weights"], data["bias"], data["threshold"], encode)

    def _embed(self, texts: list[str]) -> dict[str, np.ndarray]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing and self.encode is not None:
            for t, v in zip(missing, self.encode(missing)):
                self._vectors[t] = np.asarray(v, dtype=np.float32)
        return self._vectors

    def _word_sim(self, a: str, b: str) -> float:
        """Cosine of two short word strings (how close a substitution is to a synonym)."""
        vecs = self._embed([a, b])
        return float(vecs[a] @ vecs[b])

    def _cosines(self, claim: str, sentences: list[str], runs: list[tuple[int, ...]]) -> list[float]:
        """Cosine of the claim to each run; a run's vector is the normalised sum of its sentence vectors."""
        if self.encode is None:
            return [0.0] * len(runs)
        vecs = self._embed([claim, *sentences])
        c = vecs[claim]
        out = []
        for run in runs:
            v = sum(vecs[sentences[i]] for i in run)
            out.append(float(c @ v) / max(float(np.linalg.norm(v)), 1e-9))
        return out

    def feature_rows(self, claim: str, passages: Sequence[str]) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Features of the claim against every window of 1-2 sentences of every passage, and those windows."""
        context = frozenset(w for p in passages for w in analyse(p)[0])
        rows, units = [], []
        for i, p in enumerate(passages):
            sentences = split_sentences(p, 2) or [p]
            runs = _windows(len(sentences))
            own = frozenset(analyse(p)[0])
            for run, cos in zip(runs, self._cosines(claim, sentences, runs)):
                unit = " ".join(sentences[k] for k in run)
                rows.append(features(claim, unit, cos, own, context, self._word_sim if self.encode else None))
                units.append((i, unit))
        if not units:
            return np.zeros((0, len(FEATURES))), []
        return np.asarray(rows, dtype=np.float64), units

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """Logistic score of feature rows."""
        z = rows @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def judge(self, claim: str, passages: Sequence[str]) -> Judgement:
        """Best support of `claim` by a passage sentence or pair of sentences; verbatim text scores 1."""
        claim = strip_markers(claim)
        key = f" {_flat(claim)} "
        for i, p in enumerate(passages):
            if key.strip() and key in f" {_flat(p)} ":
                return Judgement(1.0, True, claim, i)
        rows, units = self.feature_rows(claim, passages)
        if not units:
            return Judgement(0.0, False, "", -1)
        probs = self.probability(rows)
        best = int(np.argmax(probs))
        score = float(probs[best])
        return Judgement(score, score >= self.threshold, units[best][1], units[best][0])

    def score(self, claim: str, passages: Sequence[str]) -> float:
        """Support score in [0, 1]."""
        return self.judge(claim, passages).score


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return math.nan
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))
