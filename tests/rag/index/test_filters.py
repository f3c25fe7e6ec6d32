"""Scoped questions: ingest records folder, title and Obsidian tags per note; filters apply inside retrieval
(k results still come back) and give the same results on every store."""
from __future__ import annotations

import pytest

from rag.core.notemeta import note_meta
from rag.core.types import Filters, NoteMeta

CORPUS = {
    "ml/diffusion.md": ("---\ntitle: Diffusion notes\ntags: [ml/diffusion, Papers]\n---\n"
                        "# Diffusion\n\nDiffusion models keep an exponential moving average (EMA) of the weights.\n"),
    "ml/gan.md": "# GANs\n\n#ml/gan Mode collapse: the generator produces few kinds of samples.\n",
    "ml/deep/optim.md": ("---\ntags: optim\n---\n# Adam\n\nAdam keeps a moving average of gradients and "
                         "of squared gradients #ml.\n"),
    "finance/stocks.md": ("# Stocks\n\nAn exponential moving average (EMA) of prices smooths a stock chart. "
                          "#finance #trading\n"),
    "journal/2024-01.txt": "---\ntags: journal, reading\n---\nToday I read about averages and smoothing.\n",
    "ml/copy.md": "An exponential moving average weighs recent values more than old ones.\n",
    "journal/copy.md": "An exponential moving average weighs recent values more than old ones.\n",
}


def test_note_meta_reads_front_matter_lists_strings_and_inline_tags():
    meta = note_meta("ml/diffusion.md", CORPUS["ml/diffusion.md"])
    assert meta == NoteMeta("ml/diffusion.md", "ml", "Diffusion notes", ("ml/diffusion", "papers"))
    assert note_meta("journal/2024-01.txt", CORPUS["journal/2024-01.txt"]).tags == ("journal", "reading")
    assert note_meta("finance/stocks.md", CORPUS["finance/stocks.md"]).tags == ("finance", "trading")
    assert note_meta("finance/stocks.md", CORPUS["finance/stocks.md"]).title == "Stocks"
    code = "# T\n\nsee `#notatag` and\n```\n#nope\n```\nurl http://x.org/a#frag #2024 #ok/nested\n"
    assert note_meta("t.md", code).tags == ("ok/nested",)
    assert note_meta("t.md", "---\ntags: [a, [b]]\n: bad\n---\nbody #c\n").tags == ("c",)   # malformed YAML ignored


def test_filters_match_folders_below_nested_tags_and_globs():
    note = NoteMeta("ml/deep/optim.md", "ml/deep", "Adam", ("ml/optim",))
    assert Filters(folder="ml").matches(note) and Filters(folder="./ml/deep/").matches(note)
    assert not Filters(folder="m").matches(note) and not Filters(folder="ml/deeper").matches(note)
    assert Filters(tags=("#ML",)).matches(note) and Filters(tags=("ml/optim",)).matches(note)
    assert not Filters(tags=("ml", "finance")).matches(note)              # every tag must be carried
    assert Filters(file="optim.*").matches(note) and Filters(file="ml/*/optim.md").matches(note)
    assert not Filters(file="*.txt").matches(note)
    assert not Filters() and Filters(folder="", tags=(), file=" ") == Filters()
    assert Filters.from_json({"folder": "ml", "tags": ["a"], "file": "*.md"}) == Filters("ml", ("a",), "*.md")
    with pytest.raises(ValueError, match="filters.tags"):
        Filters.from_json({"tags": [1]})
    with pytest.raises(ValueError, match="unknown field"):
        Filters.from_json({"folders": "ml"})


def _sources(results) -> list[str]:
    return [r.chunk.source for r in results]


def test_store_records_note_metadata(store_retriever):
    notes = {n.source: n for n in store_retriever.store.notes()}
    assert notes["ml/deep/optim.md"] == NoteMeta("ml/deep/optim.md", "ml/deep", "Adam", ("optim", "ml"))
    assert notes["journal/2024-01.txt"].folder == "journal"


@pytest.mark.parametrize("filters, allowed", [
    (Filters(folder="ml"), {"ml/diffusion.md", "ml/gan.md", "ml/deep/optim.md", "ml/copy.md"}),
    (Filters(folder="finance"), {"finance/stocks.md"}),
    (Filters(tags=("ml",)), {"ml/diffusion.md", "ml/gan.md", "ml/deep/optim.md"}),
    (Filters(tags=("papers",)), {"ml/diffusion.md"}),
    (Filters(file="*.txt"), {"journal/2024-01.txt"}),
    (Filters(file="journal/*"), {"journal/2024-01.txt", "journal/copy.md"}),
    (Filters(folder="ml", tags=("optim",)), {"ml/deep/optim.md"}),
])
@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_filters_apply_inside_retrieval(store_retriever, filters, allowed, mode):
    query = "exponential moving average"
    matching = [c for c in store_retriever.store.by_vector_ids(list(range(1, 100))).values()
                if {c.source, *(loc.source for loc in c.extra_locations)} & allowed]
    results = store_retriever.search(query, k=4, mode=mode, filters=filters)
    assert set(_sources(results)) <= allowed
    if mode != "bm25":         # dense search ranks every allowed chunk: k come back when k chunks match
        assert len(results) == min(4, len(matching))
    unfiltered = store_retriever.search(query, k=4, mode=mode)
    assert not set(_sources(unfiltered)) <= allowed   # without the filter, other notes rank too


def test_a_passage_in_two_notes_is_shown_where_the_filter_found_it(store_retriever):
    shared = "An exponential moving average weighs recent values more than old ones."
    [ml] = [r for r in store_retriever.search(shared, k=3, filters=Filters(folder="ml")) if r.chunk.text == shared]
    [journal] = [r for r in store_retriever.search(shared, k=3, filters=Filters(folder="journal"))
                 if r.chunk.text == shared]
    assert ml.chunk.chunk_id == journal.chunk.chunk_id          # one stored chunk...
    assert (ml.chunk.source, journal.chunk.source) == ("ml/copy.md", "journal/copy.md")   # ...shown in two places


def test_no_matching_note_returns_nothing(store_retriever):
    assert store_retriever.search("moving average", k=3, filters=Filters(tags=("nosuchtag",))) == []
    assert store_retriever.search("moving average", k=3, filters=Filters(folder="ml/none")) == []
    assert store_retriever.search("moving average", k=3, filters=Filters(tags=("ml", "finance"))) == []


def test_langchain_invoke_takes_filters_and_k(store_retriever):
    docs = store_retriever.invoke("moving average", k=2, filters=Filters(folder="ml"))
    assert len(docs) == 2 and all(d.metadata["source"].startswith("ml/") for d in docs)
