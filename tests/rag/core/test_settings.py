"""Settings: typed choices validated at load, errors naming the variable, presets and the store setting."""
from typing import get_args

import pytest

from rag.core.errors import ConfigError
from rag.core.settings import PRESETS, Backend, Mode, RetrievalMode, Weights, load_settings, override


def test_defaults_and_every_preset_load():
    s = load_settings(env={})
    assert (s.answer.backend, s.answer.mode, s.retrieval.mode, s.llm.weights, s.store) == \
        ("extractive", "grounded", "hybrid", "int4", "faiss")
    assert all(load_settings(p, env={}) for p in PRESETS)


@pytest.mark.parametrize("var, value, choices", [
    ("RAG_MODE", "fre", get_args(Mode)), ("RAG_BACKEND", "gpt", get_args(Backend)),
    ("RAG_WEIGHTS", "int3", get_args(Weights))])
def test_a_bad_environment_value_names_the_variable_and_the_choices(var, value, choices):
    with pytest.raises(ConfigError) as err:
        load_settings(env={var: value})
    assert str(err.value) == f"{var}={value!r}: choose one of {', '.join(choices)}"


def test_good_environment_values_are_taken():
    s = load_settings(env={"RAG_MODE": "free", "RAG_BACKEND": "local", "RAG_WEIGHTS": "int8"})
    assert (s.answer.mode, s.answer.backend, s.llm.weights) == ("free", "local", "int8")


def test_explicit_changes_are_checked_and_named_by_their_path():
    with pytest.raises(ConfigError, match=r"retrieval\.mode='sparse': choose one of hybrid, dense, bm25"):
        override(load_settings(env={}), {"retrieval": {"mode": "sparse"}})
    assert override(load_settings(env={}), {"retrieval": {"mode": "bm25"}}).retrieval.mode == "bm25"
    assert get_args(RetrievalMode) == ("hybrid", "dense", "bm25")


def test_store_faiss_is_the_default_and_qdrant_reads_its_location_from_the_environment():
    assert load_settings(env={}).store == "faiss" and load_settings(env={"RAG_STORE": "faiss"}).store == "faiss"
    s = load_settings(env={"RAG_STORE": "qdrant", "RAG_QDRANT_URL": "http://qdrant:6333", "RAG_QDRANT_API_KEY": "k",
                           "RAG_QDRANT_PATH": "/q", "RAG_QDRANT_COLLECTION": "team"})
    assert (s.store, s.qdrant.url, s.qdrant.api_key, s.qdrant.path, s.qdrant.collection) == \
        ("qdrant", "http://qdrant:6333", "k", "/q", "team")
    with pytest.raises(ConfigError, match="RAG_STORE='milvus': choose one of faiss, qdrant"):
        load_settings(env={"RAG_STORE": "milvus"})


def test_weights_are_the_ones_the_local_model_loads():
    from rag.model.loader import WEIGHTS  # rag.model imports nothing of the project, so it keeps its own tuple

    assert set(get_args(Weights)) == set(WEIGHTS)


def test_embedders_setting_names_dense_sets():
    """The dense sets are a typed tuple: RAG_EMBEDDERS picks them, a name outside EmbedderName is an error naming
    the variable, repeats collapse."""
    assert load_settings(env={}).retrieval.embedders == ("minilm", "e5")
    assert load_settings(env={"RAG_EMBEDDERS": "minilm"}).retrieval.embedders == ("minilm",)
    assert load_settings(env={"RAG_EMBEDDERS": "minilm,e5,e5"}).retrieval.embedders == ("minilm", "e5")
    with pytest.raises(ConfigError, match="RAG_EMBEDDERS='e6'"):
        load_settings(env={"RAG_EMBEDDERS": "minilm,e6"})
