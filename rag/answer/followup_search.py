"""How a follow-up is retrieved and answered: the previous answer's notes are a retrieval prior, passages about
the referent that hold the words the follow-up adds come in from a wider pool, evidence that repeats the conversation
ranks lower (and what it adds higher), and where every passage about the referent only repeats the conversation, the
notes hold no more (a refusal)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rag.answer.conversation import Followup
from rag.answer.focus import EXPLAINING, mentions
from rag.core.text import content_terms
from rag.index.units import Unit

PRIOR_PASSAGES = 3     # passages the previous answer's text retrieves: its notes are the prior
PRIOR_WIDEN = 3        # a follow-up retrieves k * this candidates before the prior reorders them
PRIOR_BONUS = 0.02     # score bonus of a passage from the prior's notes: reorders near-ties only. Stronger ones
                       # moved passages of the right section out of first place (hit@1 of 46 follow-ups made from
                       # dev_qa: 0.87 at 0.02, 0.83 at 0.1, 0.76 at 0.2; followups_dev unchanged) since the four
                       # shared notes are long; in a vault of short notes the note is a stronger cue
REPEATED = 0.7         # share of a passage's content words the conversation already used: it repeats it
ASPECT_SWAPS = 2       # passages a follow-up's new words may bring in from the wider pool


def nothing_new(followup: Followup, units: list[tuple[str, Unit]], focus: tuple[str, ...] = ()) -> bool:
    """Whether the notes hold nothing about what the follow-up refers to beyond what the conversation said: some
    retrieved answer text (prose or a list line) names the referent (or sits under a label that does), all of it
    repeats the earlier turns, and none of it holds a word the follow-up adds (a follow-up that adds no word asks
    again what was said, and is answered again). A follow-up that names a specific word besides its referent (one
    of the question's `focus` terms: "how does it differ from weight quantization?") asks about that too, and is
    never refused by this rule. `units` are (text, Unit) pairs of the retrieved chunks."""
    new = followup.new_terms
    if not followup.referent or not new or any(not mentions(followup.referent, term) for term in focus):
        return False
    about = [text for text, u in units if u.kind in EXPLAINING
             and (mentions(text, followup.referent) or mentions(u.context, followup.referent))]
    return bool(about) and all(followup.repeats(text) >= REPEATED and not new & content_terms(text)
                               for text in about)


def prior_sources(retriever, followup: Followup, **search_options) -> set[str]:
    """The notes the previous answer came from: those of the passages its text retrieves best."""
    if not followup.prior or not followup.how:
        return set()
    return {r.chunk.source for r in retriever.search(followup.prior, k=PRIOR_PASSAGES, **search_options)}


def on_topic(passages: list, referent: str | None) -> set[str]:
    """Chunk ids of the passages about the referent: those naming it, and those continuing one that is (the next
    chunk of the same note, a section cut in pieces: its later pieces no longer name their subject)."""
    if not referent:
        return {r.chunk.chunk_id for r in passages}
    topical: set[str] = set()
    previous = None
    for r in sorted({r.chunk.chunk_id: r for r in passages}.values(),
                    key=lambda r: (r.chunk.source, r.chunk.start_line)):
        continues = (previous is not None and previous.chunk.chunk_id in topical
                     and previous.chunk.source == r.chunk.source and r.chunk.start_line <= previous.chunk.end_line + 2)
        if continues or mentions(r.chunk.text, referent):
            topical.add(r.chunk.chunk_id)
        previous = r
    return topical


def evidence_penalty(followup: Followup, results: list) -> Callable[[str, object], float]:
    """`penalty(text, result)` for evidence selection: what repeats the conversation ranks lower, what the follow-up
    adds ranks higher in the passages about its referent."""
    topical = on_topic(results, followup.referent)
    return lambda text, result: followup.penalty(text, result.chunk.chunk_id in topical)


def _aspect_first(chosen: list, pool: list, followup: Followup) -> list:
    """Up to ASPECT_SWAPS passages of the wider pool that hold at least half of the follow-up's new words (and are
    about its referent, when it has one) take the places of the weakest passages holding fewer of them: the
    follow-up asks about that aspect of a subject the earlier passages already cover."""
    new = followup.new_terms
    if not new:
        return chosen

    def share(r) -> float:
        return len(new & content_terms(r.chunk.text)) / len(new)

    topical = on_topic(chosen + pool, followup.referent)
    taken = {r.chunk.chunk_id for r in chosen}
    swaps = 0
    for r in pool:
        if swaps >= ASPECT_SWAPS:
            break
        if r.chunk.chunk_id in taken or share(r) < 0.5 or r.chunk.chunk_id not in topical:
            continue
        fewer = [c for c in chosen if share(c) < share(r)]
        if fewer:
            weakest = min(fewer, key=lambda c: c.score)
            chosen[chosen.index(weakest)] = r
            taken.add(r.chunk.chunk_id)
            swaps += 1
    return chosen


def search(retriever, followup: Followup, k: int, query: str | None = None, **search_options) -> list:
    """Retrieve for the standalone question (or `query`, a part of it); a passage of the previous answer's notes gets
    PRIOR_BONUS on its score, and takes the place of the weakest other passage it then outscores; then passages of
    the aspect the follow-up adds come in (`_aspect_first`). k passages come back, best first."""
    query = query or followup.standalone
    results = retriever.search(query, k=k, **search_options)
    if not followup.how:
        return results
    sources = prior_sources(retriever, followup, **search_options)
    boost = {True: 1.0 + PRIOR_BONUS, False: 1.0}
    chosen = [replace(r, score=r.score * boost[r.chunk.source in sources]) for r in results]
    taken = {r.chunk.chunk_id for r in chosen}
    pool = [replace(r, score=r.score * boost[r.chunk.source in sources])
            for r in retriever.search(query, k=k * PRIOR_WIDEN, **search_options)]
    for r in pool:
        others = [c for c in chosen if c.chunk.source not in sources]
        if r.chunk.chunk_id in taken or r.chunk.source not in sources or not others:
            continue
        weakest = min(others, key=lambda c: c.score)
        if r.score > weakest.score:
            chosen[chosen.index(weakest)] = r
            taken.add(r.chunk.chunk_id)
    return sorted(_aspect_first(chosen, pool, followup), key=lambda r: -r.score)
