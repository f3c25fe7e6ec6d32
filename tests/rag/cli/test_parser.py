"""The `rag` parser: flag choices derived from the settings types, and the common --store flag."""
from typing import get_args

from rag.cli.main import build_parser, main
from rag.core.settings import Backend, Mode, RetrievalMode, Store


def test_choices_come_from_the_settings_types():
    def choices(argv, flag):
        sub = build_parser(argv)._subparsers._group_actions[0].choices[argv[0]]
        return tuple(next(a for a in sub._actions if flag in a.option_strings).choices)

    assert choices(["ask"], "--backend") == get_args(Backend) and choices(["ask"], "--mode") == get_args(Mode)
    assert choices(["search"], "--mode") == get_args(RetrievalMode)
    assert choices(["search"], "--store") == get_args(Store)
    assert choices(["serve"], "--backend") == get_args(Backend) and choices(["eval"], "--mode") == get_args(Mode)


def test_store_flag_reaches_the_settings(capsys, tmp_path):
    assert main(["search", "ema", "--store", "qdrant", "--index", str(tmp_path / "index")]) == 2
    assert "no index in Qdrant collection 'notes'" in capsys.readouterr().err
