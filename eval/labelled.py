"""Labelled supported/unsupported sentences for checking the checker: true ones and programmatic corruptions."""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from eval.checker import analyse, split_sentences

DATA = Path(__file__).parent / "data"
CORRUPTIONS = ("negation", "number", "swap", "substitute", "stitch")
_AUX = re.compile(r"\b(is|are|was|were|can|will|should|must|does|do|has|have|may|could|would)\b")
_NOT = re.compile(r"\b(not|never) ", re.IGNORECASE)
_NUM = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]+")
_CLAUSE = re.compile(r", which |; |, so |, and |, but | because ")
_NOISE = re.compile(r"[$\\`|{}<>=]|https?:|www\.")


@dataclass
class Labelled:
    """One claim, the passages it is judged against, whether they support it, and how it was made."""

    claim: str
    passages: list[str]
    supported: bool
    kind: str


def note_passages(text: str, max_words: int = 120) -> list[str]:
    """Cut note text into paragraph passages of at most about `max_words` words (code and math dropped)."""
    text = re.sub(r"```.*?```|\$\$.*?\$\$", "\n\n", text, flags=re.DOTALL)
    passages, cur = [], []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln for ln in para.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        for sent in split_sentences(" ".join(lines)):
            cur.append(sent)
            if sum(len(s.split()) for s in cur) >= max_words:
                passages.append(" ".join(cur))
                cur = []
        if cur and sum(len(s.split()) for s in cur) >= max_words // 3:
            passages.append(" ".join(cur))
            cur = []
    if cur:
        passages.append(" ".join(cur))
    return passages


def usable(sentence: str) -> bool:
    """A clean prose sentence of 8-45 words, fit to be a claim."""
    words = sentence.split()
    return 8 <= len(words) <= 45 and not _NOISE.search(sentence) and \
        sum(w.isalpha() for w in words) >= 0.7 * len(words)


def negate(s: str) -> str | None:
    """Remove the first 'not'/'never', else add 'not' after the first auxiliary verb, else deny it."""
    if _NOT.search(s):
        return _NOT.sub("", s, count=1)
    m = _AUX.search(s)
    if m:
        return s[: m.end()] + " not" + s[m.end():]
    return "It is not true that " + s[0].lower() + s[1:]


def change_number(s: str) -> str | None:
    """Change the first number to a different plausible value."""
    m = _NUM.search(s)
    if not m:
        return None
    tok = m.group(0)
    if "." in tok:
        head, tail = tok.rsplit(".", 1)
        new = f"{head}.{tail[:-1]}{(int(tail[-1]) + 3) % 10}"
    else:
        value = int(tok.replace(",", ""))
        new = f"{value * 2 if value > 1 else value + 2:,}" if "," in tok else str(value * 2 if value > 1 else value + 2)
    return s[: m.start()] + new + s[m.end():]


def _rare_words(s: str, freq: Counter, n: int) -> list[str]:
    words = [w for w in dict.fromkeys(_WORDS.findall(s)) if len(w) >= 4 and analyse(w)[0]]
    return sorted(words, key=lambda w: (freq[w.lower()], -len(w)))[:n]


def swap(s: str, freq: Counter) -> str | None:
    """Swap the two rarest content words of the sentence."""
    pair = _rare_words(s, freq, 2)
    if len(pair) < 2:
        return None
    a, b = pair
    out = re.sub(rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m.group(0) == a else a, s)
    return out if out != s else None


def substitute(s: str, other: str, freq: Counter) -> str | None:
    """Replace the sentence's rarest content word with a rare word from an unrelated sentence."""
    mine, theirs = _rare_words(s, freq, 1), [w for w in _rare_words(other, freq, 3) if w.lower() not in s.lower()]
    if not mine or not theirs:
        return None
    return re.sub(rf"\b{re.escape(mine[0])}\b", theirs[0], s)


def stitch(s: str, other: str) -> str:
    """First half of one sentence joined to the second half of another."""
    a, b = s.split(), other.split()
    return " ".join(a[: (len(a) + 1) // 2] + b[len(b) // 2:])


def clause(s: str) -> str | None:
    """The main clause before ', which' / ';' / ', and' ... when it is a sentence of its own."""
    part = _CLAUSE.split(s, maxsplit=1)[0].rstrip(",;")
    return part + "." if part != s and len(part.split()) >= 6 else None


def _nearest(claim: str, passages: list[str], exclude: set[int], n: int) -> list[int]:
    want = set(analyse(claim)[0])
    ranked = sorted((i for i in range(len(passages)) if i not in exclude),
                    key=lambda i: -len(want & set(analyse(passages[i])[0])))
    return ranked[:n]


def _context(claim: str, passages: list[str], origin: list[int], size: int) -> list[str]:
    idx = list(dict.fromkeys(origin)) + _nearest(claim, passages, set(origin), size - len(set(origin)))
    return [passages[i] for i in idx]


def _corrupt(kind: str, s: str, other: str | None, freq: Counter) -> str | None:
    """One corruption of sentence `s`; `other` is an unrelated sentence (None when there is none)."""
    if kind == "negation":
        return negate(s)
    if kind == "number":
        return change_number(s)
    if kind == "swap":
        return swap(s, freq)
    if kind == "substitute":
        return substitute(s, other or s, freq)
    return stitch(s, other) if other is not None else None


def build(passages: list[str], paraphrases: list[tuple[str, int]] = (), absent: list[str] = (),
          max_sentences: int | None = None, seed: int = 0, context_size: int = 4) -> list[Labelled]:
    """True sentences, clauses and paraphrases (supported) and corruptions plus absent facts (unsupported)."""
    rng = random.Random(seed)
    freq = Counter(w.lower() for p in passages for w in _WORDS.findall(p))
    pool = [(i, s) for i, p in enumerate(passages) for s in split_sentences(p) if usable(s)]
    if max_sentences is not None and len(pool) > max_sentences:
        pool = sorted(rng.sample(pool, max_sentences))
    out: list[Labelled] = []
    made_count = Counter()
    for n, (i, s) in enumerate(pool):
        out.append(Labelled(s, _context(s, passages, [i], context_size), True, "verbatim"))
        c = clause(s)
        if c and n % 2 == 0:
            out.append(Labelled(c, _context(c, passages, [i], context_size), True, "clause"))
        j, other = rng.choice([(k, t) for k, t in pool if k != i] or [(i, s)])
        for kind in sorted(CORRUPTIONS, key=lambda k: (made_count[k], rng.random())):
            made = _corrupt(kind, s, other if j != i else None, freq)
            if made and made != s:
                out.append(Labelled(made, _context(made, passages, [i, j] if kind == "stitch" else [i],
                                                   context_size), False, kind))
                made_count[kind] += 1
                break
    for claim, i in paraphrases:
        out.append(Labelled(claim, _context(claim, passages, [i], context_size), True, "paraphrase"))
    for claim in absent:
        out.append(Labelled(claim, _context(claim, passages, [], context_size), False, "absent"))
    return out


def calibration_set() -> list[Labelled]:
    """Labelled set from the hand-written passages of eval/data/calibration.json (fits the checker)."""
    data = json.loads((DATA / "calibration.json").read_text(encoding="utf-8"))
    names = list(data["passages"])
    passages = [" ".join(data["passages"][k]) for k in names]
    paraphrases = [(p["claim"], names.index(p["passage"])) for p in data["paraphrases"]]
    return build(passages, paraphrases, data["absent"], seed=1)


def notes_set(notes_dir: Path, labels_file: Path | None = None, max_sentences: int | None = 80,
              seed: int = 0) -> list[Labelled]:
    """Labelled set generated from a notes folder, with the hand-written paraphrases and absent facts of
    `labels_file` when they were written for these notes (every labelled note is in the folder)."""
    from ingest.loaders import SUPPORTED_SUFFIXES, load_note

    passages, by_source = [], {}
    files = sorted(p for p in Path(notes_dir).rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(notes_dir).parts))
    for path in files:
        ps = note_passages(load_note(path).text)
        by_source[path.name] = len(passages)
        passages.extend(ps)
    paraphrases, absent = [], []
    data = json.loads(Path(labels_file).read_text(encoding="utf-8")) if labels_file is not None else {}
    if all(p["source"] in by_source for p in data.get("paraphrases", [])):   # the notes the labels were written for
        for p in data.get("paraphrases", []):
            start = by_source[p["source"]]
            stop = start + len(note_passages(load_note(Path(notes_dir) / p["source"]).text))
            best = _nearest(p["claim"], passages[start:stop], set(), 1)[0]
            paraphrases.append((p["claim"], start + best))
        absent = data.get("absent", [])
    return build(passages, paraphrases, absent, max_sentences=max_sentences, seed=seed)
