"""The judge's grounding scorer: how well one passage sentence supports a claim, no LLM involved.

Independent of rag/ground.py (the chain's own filter): its feature weights are fitted by
eval/labelled.py on hand-written passages in eval/data/calibration.json only.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS_PATH = Path(__file__).parent / "data" / "checker_weights.json"
FEATURES = ("recall", "bigram_recall", "cosine", "numbers_ok", "negation_match", "novel_terms",
            "inversions", "swapped", "salient_missing", "cosine_x_recall")
Encode = Callable[[list[str]], np.ndarray]

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


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _number(token: str) -> str | None:
    if not token[0].isdigit():
        return None
    value = token.rstrip("%").replace(",", "")
    try:
        return repr(float(value)) + ("%" if token.endswith("%") else "")
    except ValueError:
        return value


@lru_cache(maxsize=20000)
def analyse(text: str) -> tuple[tuple[str, ...], frozenset[str], bool]:
    """(stemmed content words in order, normalised numbers, has a negation) of a text."""
    tokens = [t.lower() for t in _TOKEN.findall(text)]
    content = tuple(_stem(t) for t in tokens if t not in _STOP and (len(t) > 1 or t.isdigit()))
    numbers = frozenset(n for n in (_number(t) for t in tokens) if n)
    negated = any(t in _NEGATIONS or t.endswith("n't") for t in tokens)
    return content, numbers, negated


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def _salient(word: str) -> bool:
    """A name-like word: an acronym, inner capitals or digits, or long and hyphenated."""
    return (word[:1].isupper() and any(c.isupper() for c in word[1:])) or any(c.isdigit() for c in word) \
        or "-" in word


def features(claim: str, unit: str, cosine: float, context_terms: frozenset[str]) -> list[float]:
    """Feature vector (FEATURES order) of a claim against one passage sentence."""
    c_words, c_nums, c_neg = analyse(claim)
    u_words, u_nums, u_neg = analyse(unit)
    if not c_words:
        return [1.0, 1.0, cosine, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, cosine]
    u_set = set(u_words)
    recall = sum(w in u_set for w in c_words) / len(c_words)
    c_bi = list(zip(c_words, c_words[1:]))
    u_bi = set(zip(u_words, u_words[1:]))
    bigram = sum(b in u_bi for b in c_bi) / len(c_bi) if c_bi else recall
    shared = list(dict.fromkeys(w for w in c_words if w in u_set))
    shared_set = set(shared)
    firsts = list(dict.fromkeys(w for w in u_words if w in shared_set))
    inversions = (len(shared) - _lcs(shared, firsts)) / len(shared) if shared else 0.0
    numbers_ok = 1.0 if c_nums <= u_nums else 0.0
    negation_match = 1.0 if c_neg == u_neg else 0.0
    c_set = set(c_words)
    novel = sum(w not in context_terms for w in c_set) / len(c_set)
    u_lower = unit.lower()
    salient = sum(1 for t in _TOKEN.findall(claim) if _salient(t) and t.lower() not in u_lower)
    return [recall, bigram, cosine, numbers_ok, negation_match, novel, inversions,
            recall * inversions, min(salient, 2) / 2, cosine * recall]


def _flat(text: str) -> str:
    """Lower-cased words joined by single spaces, punctuation and markup dropped (for verbatim matching)."""
    return " ".join(t.lower() for t in _TOKEN.findall(text))


def _windows(sentences: list[str], width: int = 3) -> list[str]:
    """Each sentence and each run of up to `width` consecutive sentences."""
    return [" ".join(sentences[i:i + w]) for w in range(1, width + 1) for i in range(len(sentences) - w + 1)]


@dataclass
class Judgement:
    """A claim's support score in [0, 1], the passage sentence that supports it best, and its passage index."""

    score: float
    supported: bool
    evidence: str
    passage: int


class Checker:
    """Logistic model over lexical, numeric, negation and embedding features; max over passage sentences."""

    def __init__(self, weights: Sequence[float], bias: float, threshold: float, encode: Encode | None = None):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)
        self.threshold = float(threshold)
        self.encode = encode
        self._vectors: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, encode: Encode | None = None, path: Path = WEIGHTS_PATH) -> "Checker":
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

    def feature_rows(self, claim: str, passages: Sequence[str]) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Features of the claim against every sentence of every passage, and those (passage, sentence) units."""
        units = [(i, u) for i, p in enumerate(passages) for u in _windows(split_sentences(p, 2) or [p])]
        if not units:
            return np.zeros((0, len(FEATURES))), []
        terms = frozenset(w for p in passages for w in analyse(p)[0])
        vecs = self._embed([claim] + [u for _, u in units]) if self.encode is not None else {}
        rows = []
        for _, unit in units:
            cos = float(vecs[claim] @ vecs[unit]) if vecs else 0.0
            rows.append(features(claim, unit, cos, terms))
        return np.asarray(rows, dtype=np.float64), units

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """Logistic score of feature rows."""
        z = rows @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def judge(self, claim: str, passages: Sequence[str]) -> Judgement:
        """Best support of `claim` by a passage sentence or run of up to 3 sentences; verbatim text scores 1."""
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
