"""Variant parsing for `rag eval --variants` and the command's flags."""
import pytest

from eval.runner import parse_variants
from rag.cli.main import build_parser
from rag.core.errors import ConfigError


def test_parse_variants_kinds_and_primary_added():
    vs = parse_variants("dense,bm25,chunks120,extractive,local:free", ("local", "grounded"))
    assert [(v.name, v.kind) for v in vs] == [("dense", "retrieval"), ("bm25", "retrieval"), ("chunks120", "retrieval"),
                                              ("extractive", "answer"), ("local:free", "answer"),
                                              ("local:grounded", "answer")]
    assert vs[2].chunk_tokens == 120 and vs[4].mode == "free"
    assert [v.name for v in parse_variants("local,extractive:free", ("local", "constrained"))] == \
        ["local:constrained", "extractive"]


def test_parse_variants_rejects_unknown():
    with pytest.raises(ConfigError, match="unknown variant 'gpt'"):
        parse_variants("gpt", ("local", "grounded"))
    with pytest.raises(ConfigError, match="unknown variant 'local:wild'"):
        parse_variants("local:wild", ("local", "grounded"))


def test_eval_command_flags():
    argv = ["eval", "--qa", "q.jsonl", "--notes", "n", "--out", "o", "--backend", "extractive", "--variants",
            "hybrid", "--limit", "3"]
    args = build_parser(argv).parse_args(argv)
    assert args.limit == 3 and args.backend == "extractive" and args.variants == "hybrid"
