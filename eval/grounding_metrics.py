"""Grounding of one answer: per-sentence support by the retrieved passages, citation precision and support hits."""
from __future__ import annotations

import re
from collections.abc import Sequence

from eval.checker import Checker, split_sentences
from eval.retrieval_metrics import support_hit

_MARKERS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)")


def answer_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, cited numbers) for each sentence; markers after a full stop belong to its sentence."""
    text = _AFTER_STOP.sub(lambda m: m.group(2) + m.group(1), answer)
    out = []
    for sent in split_sentences(text, keep_markers=True):
        cites = [int(n) for m in _MARKERS.finditer(sent) for n in re.split(r"[,;]", m.group(1))]
        clean = " ".join(_MARKERS.sub("", sent).split())
        clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
        if clean:
            out.append((clean, list(dict.fromkeys(cites))))
    return out


def grade_answer(answer: str, contexts: Sequence[dict], citations: Sequence[dict], support: Sequence[str],
                 checker: Checker) -> dict:
    """Sentence judgements against all contexts, citation checks against the cited chunk, and the gold support hit."""
    passages = [c["text"] for c in contexts]
    by_n = {c["n"]: c for c in citations}
    text_of = {c["chunk_id"]: c["text"] for c in contexts}
    sentences, cite_checks = [], []
    for sent, cites in answer_sentences(answer):
        j = checker.judge(sent, passages)
        sentences.append({"text": sent, "score": round(j.score, 4), "supported": j.supported, "cites": cites,
                          "evidence": j.evidence})
        for n in cites:
            cit = by_n.get(n)
            cited = [text_of.get(cit["chunk_id"], cit["quote"]), cit["quote"]] if cit else []
            cite_checks.append(bool(cited) and checker.judge(sent, cited).supported)
    cited_texts = [t for c in citations for t in (text_of.get(c["chunk_id"], ""), c["quote"]) if t]
    return {
        "sentences": sentences,
        "n_sentences": len(sentences),
        "n_supported": sum(s["supported"] for s in sentences),
        "any_unsupported": any(not s["supported"] for s in sentences),
        "citation_checks": cite_checks,
        "support_hit": bool(support) and any(support_hit(t, support) for t in cited_texts),
    }
