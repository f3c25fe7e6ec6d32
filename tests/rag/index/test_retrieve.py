"""HybridRetriever: fusion, BM25 tokenisation, modes, dense_score always filled, LangChain interface."""
from __future__ import annotations

import pytest
from langchain_core.documents import Document

from rag.core.errors import ConfigError, IndexMismatchError
from rag.core.settings import RetrievalSettings, load_settings
from rag.core.types import Chunk, SearchResult
from rag.index.bm25 import BM25Index, tokenize
from rag.index.fusion import interleave, rrf, top_with_leaders
from rag.index.retrieve import HybridRetriever
from rag.index.store import DocRecord, IndexLock, IndexWriter, text_hash

NOTES = {
    "diffusion.md": ["Diffusion models keep an exponential moving average of the weights.",
                     "Sampling uses the EMA weights because they are smoother."],
    "bn.md": ["Batch normalization normalizes each feature over the mini batch.",
              "A learned scale gamma and shift beta follow the normalization."],
    "gan.md": ["A generator maps noise to samples; a discriminator tells real from fake.",
               "Mode collapse: the generator produces few kinds of samples."],
    "copy.md": ["Sampling uses the EMA weights because they are smoother."],
}


@pytest.fixture
def retriever(tmp_path, hash_embedder):
    emb = hash_embedder
    with IndexLock(tmp_path):
        w = IndexWriter(tmp_path, emb.model_id, emb.dim, RetrievalSettings())
        for source, texts in NOTES.items():
            chunks = [Chunk(source, "Notes > " + source, t, i + 1, i + 1, 0, len(t)) for i, t in enumerate(texts)]
            vecs = {text_hash(t): v for t, v in zip(texts, emb.encode(texts))}
            w.put_document(DocRecord(source, str(tmp_path), "h", 0, 1, "markdown", "\n".join(texts), []), chunks, vecs)
        w.commit()
    return HybridRetriever.open(load_settings(index_dir=str(tmp_path)), embedder=emb)


def test_rrf_weights_and_ranks():
    fused = rrf([([1, 2, 3], 1.0), ([3, 1], 2.0)], k=60)
    scores = dict(fused)
    assert scores[1] == pytest.approx(1 / 61 + 2 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 2 / 61)
    assert [i for i, _ in fused] == [3, 1, 2]


def test_a_chunk_only_one_ranking_reads_is_fused_on_its_votes():
    """MiniLM (0), e5 (1), BM25 (2): chunk 9 is Italian, which only e5 reads; e5 ranks it first."""
    rankings = [([1, 2, 9], 1.0), ([9, 1, 2], 1.0), ([2, 1], 1.0)]
    plain = rrf(rankings)
    fused = rrf(rankings, foreign=frozenset({9, 7}), readers=frozenset({1}))
    assert dict(fused)[9] == pytest.approx(3 / 61) and dict(plain)[9] == pytest.approx(1 / 63 + 1 / 61)
    assert dict(fused)[1] == dict(plain)[1] and dict(fused)[2] == dict(plain)[2]   # the others fuse as before
    assert [i for i, _ in plain][-1] == 9 and [i for i, _ in fused][0] == 9
    unread = dict(rrf([([9, 1], 1.0), ([1], 1.0)], foreign=frozenset({9}), readers=frozenset({1})))
    assert unread[9] == pytest.approx(1 / 61)   # no reader ranks it: its votes stand as cast
    mute = dict(rrf([([9, 1], 1.0), ([1, 9], 0.0)], foreign=frozenset({9}), readers=frozenset({1})))
    assert mute[9] == pytest.approx(1 / 61)     # a reader without weight says nothing either


def test_tokenize_lowercases_and_drops_stopwords():
    assert tokenize("What is the EMA of a Diffusion-model?") == ["ema", "diffusion", "model"]


def test_bm25_ranks_keyword_matches_and_ignores_unknown_words():
    idx = BM25Index([10, 11, 12], ["gamma and beta", "mode collapse", "beta beta decay"])
    assert idx.search("beta", 5)[0][0] == 12
    assert {i for i, _ in idx.search("beta", 5)} == {10, 12}
    assert idx.search("zebra the", 5) == []
    assert idx.lookup(idx.scores("collapse"), [10, 11]) == {10: 0.0, 11: pytest.approx(idx.search("collapse", 1)[0][1])}
    assert idx.lookup(idx.scores("zebra"), [10]) == {10: 0.0}


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_modes_rank_the_right_chunk_and_fill_scores(retriever, mode):
    results = retriever.search("learned scale gamma and shift beta", k=3, mode=mode)
    assert results[0].chunk.source == "bn.md" and "gamma" in results[0].chunk.text
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    for r in results:
        assert r.dense_score is not None and -1.0 <= r.dense_score <= 1.0001
        assert r.bm25_score is not None
    if mode == "dense":
        assert results[0].score == pytest.approx(results[0].dense_score)


def test_duplicate_text_is_one_result_with_two_locations(retriever):
    results = retriever.search("EMA weights smoother sampling", k=5)
    ema = [r for r in results if "smoother" in r.chunk.text]
    assert len(ema) == 1
    assert {ema[0].chunk.source} | {loc.source for loc in ema[0].chunk.extra_locations} == {"diffusion.md", "copy.md"}
    assert len({r.chunk.chunk_id for r in results}) == len(results)


def test_bm25_only_hit_gets_its_cosine_from_the_stored_vector(retriever):
    (top,) = retriever.search("discriminator", k=1, mode="bm25")
    expected = float(retriever.embedder.encode_query("discriminator") @ retriever.embedder.encode([top.chunk.text])[0])
    assert top.dense_score == pytest.approx(expected, abs=1e-5)


def test_langchain_invoke_returns_documents(retriever):
    docs = retriever.invoke("mode collapse generator")
    assert docs and isinstance(docs[0], Document)
    assert docs[0].metadata["source"] == "gan.md" and "text" not in docs[0].metadata
    assert docs[0].page_content.startswith("Mode collapse")
    assert set(docs[0].metadata) >= {"chunk_id", "source", "heading", "start_line", "end_line", "score"}


def test_bad_mode_and_model_mismatch(retriever, tmp_path, hash_embedder):
    with pytest.raises(ConfigError, match="mode"):
        retriever.search("x", mode="fuzzy")
    other = type(hash_embedder)()
    other.model_id = "other/model"
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        HybridRetriever.open(load_settings(index_dir=str(tmp_path)), embedder=other)


def test_each_rankings_leaders_reach_the_top_k():
    dense = [9, 1, 2, 3, 4, 5]       # 9: the embedding's best, unseen by BM25
    sparse = [1, 2, 3, 4, 5, 6, 7]
    fused = rrf([(dense, 1.0), (sparse, 1.0)])
    assert 9 not in [i for i, _ in fused[:3]]
    top = top_with_leaders(fused, [dense, sparse], k=3, leaders=1)
    assert top == [1, 2, 9]          # in fused order
    assert top_with_leaders(fused, [dense, sparse], k=3, leaders=0) == [i for i, _ in fused[:3]]
    assert top_with_leaders(fused, [[], sparse], k=2, leaders=2) == [1, 2]


def test_leaders_take_at_most_half_the_places_so_fusion_decides_the_rest():
    # three rankings that all rank 7 third, each leading with two chunks of its own
    rankings = [[1, 4, 7], [2, 5, 7], [3, 6, 7]]
    fused = rrf([(ids, 1.0) for ids in rankings])
    assert fused[0][0] == 7
    # six leaders would fill all five places; rank by rank, every ranking's first gets in, in three of five
    assert top_with_leaders(fused, rankings, k=5, leaders=2) == [7, 1, 2, 3, 4]
    assert top_with_leaders(fused, rankings, k=2, leaders=2) == [7, 1]


def test_interleave_gives_each_list_a_chunk_of_its_own_on_its_turn():
    def ranked(*ids):
        return [SearchResult(Chunk("n.md", "", i, 1, 1, 0, 1, i), 1.0, 0.5) for i in ids]
    whole, first, second = ranked("a", "b", "c", "d"), ranked("a", "e"), ranked("b", "c", "f")
    got = [r.chunk.chunk_id for r in interleave([whole, first, second], 6)]
    assert got == ["a", "e", "b", "c", "f", "d"]   # "a" is in already: the first part gives "e" on its turn
    assert [r.chunk.chunk_id for r in interleave([whole, first, second], 3)] == ["a", "e", "b"]
    assert [r.chunk.chunk_id for r in interleave([first, ranked("a")], 5)] == ["a", "e"]
