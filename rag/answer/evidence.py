"""Evidence selection: cut retrieved chunks into units, rank them against every part of the question, number the
best of each part (diverse, within a token budget) in the order the question asks."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.answer.focus import mentions
from rag.answer.phrases import asked_action, asked_count, asks_steps, defined_term, defines, does
from rag.answer.question import Question
from rag.answer.surroundings import (
    Candidate,
    children,
    continuation,
    counted_list,
    counts_its_list,
    enumeration,
    note_position,
    procedure,
    successor,
)
from rag.answer.tables import question_units, quotable
from rag.core.text import content_terms, plain
from rag.core.types import SearchResult
from rag.index.units import Unit, in_context

WEIGHTS = (0.6, 0.4, 0.1)   # dense cosine, question-term coverage, chunk prior
OPENING_WORDS = 4           # a unit names its subject in its first words ("**Learning Curves:** Plot ...")
REDUNDANT = 0.8             # content-term Jaccard above which a unit repeats one already chosen


@dataclass
class Evidence:
    """One numbered evidence unit: `text` is chunk.text[start:end] with whitespace collapsed (a table row's record:
    its cells labelled by the header, rag.answer.tables)."""

    n: int
    text: str
    result: SearchResult
    start: int
    end: int
    score: float
    window: str = ""                           # the unit with its neighbours, for support checks
    window_start: int = 0                      # chunk.text[window_start:window_end] holds the window
    window_end: int = 0
    part: int = 0                              # the question part it was chosen for
    kind: str = "prose"                        # rag.index.units kind
    similarity: float = 0.0                    # dense cosine with its part (a foreign unit's mapped e5 score)
    group: int = -1                            # the list it is quoted with (units of one group share it), or -1
    foreign: bool = False                      # in a language only e5 reads (scored by rag.answer.foreign)

    @property
    def chunk(self):
        """The chunk this unit came from."""
        return self.result.chunk


def lexical_overlap(question_terms: frozenset[str] | set[str], text: str) -> float:
    """Share of the question's content terms present in `text`."""
    if not question_terms:
        return 0.0
    return len(question_terms & content_terms(text)) / len(question_terms)


def opening(text: str) -> str:
    """The first OPENING_WORDS words of a unit as shown: where it names what it is about."""
    return " ".join(plain(text).split()[:OPENING_WORDS])


def candidates(results: list[SearchResult], question: Question,
               units_of: Callable[[SearchResult], list[tuple[Unit, str]]] | None = None) -> list[Candidate]:
    """Every quotable unit of the retrieved chunks (and table row the question asks about: rag.answer.tables) with its
    window and chunk prior (score over the best score); a unit that opens with a thing the question sets aside is
    about it and no answer ("Apart from learning curves, ...": "**Learning Curves:** Plot ..."), one that names it in
    passing may be ("Besides TensorFlow, which backends ...?": "... Theano and CNTK, in addition to TensorFlow"), and
    so may one on a thing set aside that the question asks about elsewhere ("... and what changed with TensorFlow
    2.0?"). `units_of(result)`: its chunk's units as rag.answer.tables.question_units gives them, when the caller
    has them (read with the note's lines above the chunk); else they are cut here from the chunk alone."""
    best = max((res.score for res in results), default=0.0)
    set_aside = [aside for aside in question.set_aside if aside & question.aside_only]   # not asked about elsewhere
    out = []
    for res in results:
        found = units_of(res) if units_of else question_units(question, res.chunk.text)
        units = [(u, shown) for u, shown in found if quotable(u)
                 and not any(aside <= content_terms(opening(shown)) for aside in set_aside)]
        for i, (u, shown) in enumerate(units):
            around = units[max(0, i - 1):i + 2]
            window = (" ".join(t for _, t in around), around[0][0].start, around[-1][0].end)
            prior = max(res.score, 0.0) / best if best > 0 else 0.0
            out.append(Candidate(res, u, shown, window, prior, []))
    return out


def score(question: Question, cands: list[Candidate], embed, max_candidates: int = 60,
          foreign=None) -> list[Candidate]:
    """Fill each candidate's per-part scores: w_dense * cosine (a list line under a label or title: the better of its
    own and its reading under the label, rag.index.units.in_context) + w_lex * coverage of the part's terms (unit, its
    list context and heading; half the part's own terms, without the leading context, half all the question's)
    + w_rank * chunk prior; a unit that defines what a "what is X" part asks covers that part whole ("The EMA network
    is ..."), and so does one that says what a "what does X measure" part asks ("The Gini index measures ...");
    either answers the part's form and is its first pick (see `choose`). Only the `max_candidates` best by the cheap
    part are embedded.
    `embed(texts) -> (n, dim)` unit vectors. `foreign(parts, texts) -> (texts, parts)` scores of units in a language
    MiniLM does not read (NaN elsewhere): the cosine is the better of both, and since the question's words cannot
    occur in another language, that score also stands in for term coverage where it is higher."""
    w_dense, w_lex, w_rank = WEIGHTS
    parts = question.parts
    terms = [question.part_terms(i) | question.terms if len(parts) > 1 else question.terms for i in range(len(parts))]
    part_terms = [question.own_terms(i) if len(parts) > 1 else question.terms for i in range(len(parts))]
    asked = [defined_term(part, question.lead) for part in parts]
    actions = [asked_action(part, question.lead) for part in parts]
    other = foreign(list(parts), [c.text for c in cands]) if foreign is not None else None
    rows = {id(c): row for c, row in zip(cands, other)} if other is not None else {}
    for c in cands:
        c.foreign = id(c) in rows and not np.isnan(rows[id(c)]).all()

    specific = [[t for t in question.focus if mentions(part, t) and not mentions(question.lead, t)] for part in parts]

    def alt(c: Candidate, i: int) -> float:
        """The unit's foreign-language score for part i (-inf where it has none)."""
        value = float(rows[id(c)][i]) if id(c) in rows else float("nan")
        return float("-inf") if np.isnan(value) else value

    def translated(c: Candidate, i: int) -> float:
        """The foreign score standing in for term coverage, times the share of the part's own specific words (names,
        acronyms, technical terms: `Question.focus`, the leading context's aside) the unit holds, inflections
        tolerated: those are written the same or nearly in every language ("LangServe", "autoencoder", "latente"), so
        only the other words are translated."""
        score = alt(c, i)
        if score == float("-inf") or not specific[i]:
            return score
        return score * sum(mentions(c.described, t) for t in specific[i]) / len(specific[i])

    def lexical(c: Candidate, i: int) -> float:
        if c.direct[i]:
            return 1.0
        lex = (lexical_overlap(part_terms[i], c.described) + lexical_overlap(terms[i], c.described)) / 2
        return max(lex, translated(c, i))

    for c in cands:
        c.direct = [bool(asked[i] and defines(c.text, asked[i]) or actions[i] and does(c.text, *actions[i]))
                    for i in range(len(parts))]
    if len(cands) > max_candidates:
        cands = sorted(cands, key=lambda c: -max(w_lex * lexical(c, i) + w_rank * c.prior for i in range(len(parts))))
        cands = cands[:max_candidates]
    listed = [c for c in cands if c.unit.kind == "item" and c.unit.context]
    vecs = embed(list(parts) + [c.text for c in cands] + [in_context(c.unit.context, c.text) for c in listed])
    cos = vecs[len(parts):] @ vecs[:len(parts)].T            # (candidates, then listed candidates in context, parts)
    under_label = dict(zip(map(id, listed), cos[len(cands):]))
    for c, row in zip(cands, cos):
        row = np.maximum(row, under_label[id(c)]) if id(c) in under_label else row
        c.similarity = [max(float(row[i]), alt(c, i)) for i in range(len(parts))]
        c.scores = [w_dense * c.similarity[i] + w_lex * lexical(c, i) + w_rank * c.prior for i in range(len(parts))]
    return cands


def choose(cands: list[Candidate], n_parts: int, count_tokens, max_units: int, token_budget: int,
           sizes: dict[tuple[str, str], int] | None = None,
           under: dict[tuple[str, int], int] | None = None, clauses: tuple[int, ...] = (),
           counts: tuple[int | None, ...] = (), steps: tuple[bool, ...] = (), reach: int = 0) -> list[Evidence]:
    """Numbered evidence: the parts take turns picking their best unit not yet chosen and not repeating a chosen
    one (a unit that answers the part's form, "The Gini index measures ..." for "what does the Gini index measure?",
    before any other), until `max_units` (or the token budget) is reached; numbered part by part, as the question
    asks. A unit of a short announced list (see `enumeration`) brings the lines of that list that rank among the
    part's `max_units` best (all of them when its label counts them: see `counts_its_list`), and a line that
    introduces a short list brings the list (see `children`): right after it, in note order, one group quoted
    together, which takes one place of `max_units` (at most ENUMERATION units).
    A part's best unit brings the sentence after it in its paragraph or list line (see `successor`), which goes on
    with what it says or begins what it announces, but not in the place of a part yet to pick. A part whose best unit
    a part of another clause already quoted picks the first unquoted sentence after it instead (see `continuation`):
    the clauses ask about one passage, and the note goes on where the question does ("who first analyzed diffusion
    ..., and what can the particle do at each step?"); the two sides of a comparison do not (`clauses`: the clause
    of each part, all different when not given). `under` counts the list lines under each list line (see
    `children`). A part that asks for a number of things (`counts`, one per part or none) whose best unit is a line of
    a list of that many lines quotes the list with it (see `counted_list`). A part that asks for a procedure (`steps`,
    one per part or none) first quotes the list of steps its `reach` best units lead to (see `procedure`), one group
    in note order."""
    ranked = [sorted(cands, key=lambda c, i=i: (not c.answers_form(i), -c.scores[i], -c.prior, c.unit.start))
              for i in range(n_parts)]
    clauses = clauses or tuple(range(n_parts))
    counts = counts or (None,) * n_parts
    contenders = [{id(c) for c in r[:max_units]} for r in ranked]   # a list line joins its list only as one of these
    procedures = [procedure(r, cands, i, reach) if steps and steps[i] else [] for i, r in enumerate(ranked)]
    answered: set[tuple[int, int]] = set()   # (part, id of a unit): the steps of a part's procedure answer its form
    picked: list[tuple[int, float, Candidate]] = []   # (part, the score it was picked with, candidate)
    groups: dict[int, int] = {}   # id(candidate) -> id of the unit whose list it is quoted with
    seen: list[set[str]] = []
    used = 0
    position = [0] * n_parts

    def take(i: int, c: Candidate, rank: float) -> bool:
        nonlocal used
        terms = content_terms(c.text) or {c.text.lower()}
        if any(c is p for _, _, p in picked) or any(len(terms & t) / max(1, len(terms | t)) > REDUNDANT for t in seen):
            return False
        cost = count_tokens(c.text)
        if picked and used + cost > token_budget:
            return False
        used += cost
        seen.append(terms)
        picked.append((i, rank, c))
        return True

    def filled() -> int:
        """Places taken: a list quoted together takes one."""
        return len(picked) - sum(1 for _, _, c in picked if id(c) in groups) + len(set(groups.values()))

    def room() -> bool:
        """Whether a unit may join the one just picked and still leave a place for each part yet to pick."""
        waiting = sum(1 for part in range(n_parts) if not any(p == part for p, _, _ in picked))
        return filled() + waiting < max_units

    while filled() < max_units and any(p < len(r) for p, r in zip(position, ranked)):
        for i in range(n_parts):
            if procedures[i] and filled() < max_units:
                rank = max(x.scores[i] for x in procedures[i])
                lines = [x for x in procedures[i] if take(i, x, rank)]
                answered.update((i, id(x)) for x in lines)
                procedures[i] = []
                groups.update((id(x), id(lines[0])) for x in (lines if len(lines) > 1 else []))
                if lines:
                    continue
            while position[i] < len(ranked[i]) and filled() < max_units:
                c = ranked[i][position[i]]
                position[i] += 1
                first = not any(p == i for p, _, _ in picked)
                if first and position[i] == 1 and any(c is p and clauses[k] != clauses[i] for k, _, p in picked):
                    after = continuation(c, cands, {id(p) for _, _, p in picked})
                    if after is not None and take(i, after, c.scores[i]):
                        break
                if take(i, c, c.scores[i]):
                    whole = counts_its_list(c, sizes or {})
                    siblings = [x for x in enumeration(c, cands, sizes or {})
                                if x is not c and (whole or id(x) in contenders[i])]
                    listed = [x for x in counted_list(c, cands, counts[i]) if x is not c] if first else []
                    lines = [x for x in siblings + children(c, cands, under or {}) + listed if take(i, x, c.scores[i])]
                    groups.update((id(x), id(c)) for x in ([c, *lines] if lines else []))
                    after = successor(c, cands) if first else None
                    if after is not None and room():
                        take(i, after, c.scores[i])
                    break
    order = {id(c): k for k, (_, _, c) in enumerate(picked)}
    number = {head: k for k, head in enumerate(dict.fromkeys(groups.values()))}
    picked.sort(key=lambda p: (p[0], not (p[2].answers_form(p[0]) or (p[0], id(p[2])) in answered), -p[1],
                               note_position(p[2]) if id(p[2]) in groups else 0, order[id(p[2])]))
    return [Evidence(n, c.text, c.result, c.unit.start, c.unit.end, c.scores[i], *c.window, part=i, kind=c.unit.kind,
                     similarity=c.similarity[i] if c.similarity else 0.0, group=number.get(groups.get(id(c)), -1),
                     foreign=c.foreign)
            for n, (i, _, c) in enumerate(picked, start=1)]


def select_evidence(question: Question, results: list[SearchResult], embed, count_tokens,
                    max_units: int, token_budget: int,
                    penalty: Callable[[str, SearchResult], float] | None = None, foreign=None,
                    reach: int = 0, units_of: Callable[[SearchResult], list[tuple[Unit, str]]] | None = None
                    ) -> list[Evidence]:
    """Rank every quotable unit of the retrieved chunks against each part of the question; keep the best of each
    part, deduplicated, within the budget. A unit opening with a pronoun is one unit with the sentence it refers
    back to, so a quote never starts with a dangling "It" and the referent's words count for its ranking.
    `penalty(text, result)`, when given, is taken off the scores of a unit of that result (a follow-up's);
    `foreign`: see `score`; `reach`: how far down its ranking a part that asks for steps looks for them (see
    `procedure`), at least `max_units`; `units_of`: see `candidates`."""
    cands = candidates(results, question, units_of)
    if not cands:
        return []
    sizes = Counter((c.result.chunk.chunk_id, c.unit.context) for c in cands if c.unit.announced)
    under = Counter((c.result.chunk.chunk_id, c.unit.parent_at) for c in cands if c.unit.parent_at >= 0)
    cands = score(question, cands, embed, foreign=foreign)
    if question.other_language and any(c.foreign for c in cands):   # "my Italian notes": what they say in it
        cands = [c for c in cands if c.foreign]
    if penalty is not None:
        for c in cands:
            cost = penalty(c.text, c.result)
            c.scores = [s - cost for s in c.scores]
    return choose(cands, len(question.parts), count_tokens, max_units, token_budget, sizes, under,
                  question.clauses if len(question.clauses) == len(question.parts) else (),
                  tuple(asked_count(part) for part in question.parts),
                  tuple(asks_steps(part) for part in question.parts), max(reach, max_units))
