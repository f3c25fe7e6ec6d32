"""Verdicts on generated sentences with the real MiniLM: kept with a repaired citation, or dropped, and why."""
import pytest

from rag.answer.citations import Claim
from rag.answer.evidence import Evidence
from rag.answer.ground import SupportScorer
from rag.answer.verify import SentenceVerifier
from rag.core.settings import AnswerSettings
from rag.core.types import Chunk, SearchResult

SENTENCES = ["Diffusion models keep an exponential moving average (EMA) of the network weights.",
             "Random sampling gives every member of a population an equal chance of selection."]


@pytest.fixture(scope="module")
def verifier():
    from rag.index.embed import Embedder
    return SentenceVerifier(SupportScorer(Embedder.load().encode), AnswerSettings().support_threshold)


def evidence():
    text = " ".join(SENTENCES)
    result = SearchResult(Chunk("n.md", "", text, 1, 1, 0, len(text), "c0"), 1.0, 0.5)
    return [Evidence(n, s, result, 0, len(s), 1.0, window=s) for n, s in enumerate(SENTENCES, start=1)]


def test_a_supported_sentence_is_kept_with_its_citation_repaired(verifier):
    verdict = verifier.check("Diffusion models keep an EMA of the network weights [2].", evidence(), [])
    assert verdict.claim == Claim("Diffusion models keep an EMA of the network weights.", [1])
    assert verdict.record["kept"] and verdict.record["repaired"] and verdict.wide == []


def test_dropped_sentences_say_why(verifier):
    kept = [Claim("Diffusion models keep an EMA of the network weights.", [1])]
    why = {s: verifier.check(s, evidence(), kept).record["why"] for s in (
        "Diffusion models keep an EMA of the network weights [1].", "EMA helps [1].",
        "GANs train a generator against a discriminator [1].")}
    assert list(why.values()) == ["duplicate", "fragment", "unsupported"]
    assert all(verifier.check(s, evidence(), []).claim is None for s in list(why)[1:])
    assert verifier.check("", evidence(), []) is None
