"""Property-based fuzzing: random and mutated real note files never raise anything but LoaderError from a
loader, and no exception escapes the ingest pipeline (the other files are still indexed)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.loaders import LoadedNote, load_note
from ingest.pipeline import ingest_paths
from rag.core.errors import LoaderError
from rag.core.settings import load_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "notes"
SAMPLES = {".md": "diffusion_models.md", ".txt": "backprop.txt", ".ipynb": "batch_norm.ipynb",
           ".html": "gans.html", ".pdf": "gradient_boosting.pdf"}
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """The original bytes after 1-4 random edits: flips, deletions, insertions, duplications, truncation."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "truncate"]))
        if edit == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif edit == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif edit == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 256))] * draw(st.integers(1, 8))
        else:
            del data[at:]
    return bytes(data)


def file_bytes(suffix: str):
    """Mutations of the sample note of that kind, or random bytes."""
    original = (EXAMPLES / SAMPLES[suffix]).read_bytes()
    return st.one_of(mutated(original), st.binary(max_size=2048))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=12)
NOTEBOOKS = st.fixed_dictionaries({"cells": st.lists(st.one_of(JSON, st.fixed_dictionaries(
    {"cell_type": st.sampled_from(["code", "markdown", "raw", "other"]), "source": JSON})), max_size=4)},
    optional={"metadata": st.one_of(JSON, st.fixed_dictionaries({"language_info": JSON, "kernelspec": JSON})),
              "nbformat": JSON})


def _loads_or_names_the_file(path: Path) -> None:
    try:
        note = load_note(path)
    except LoaderError as exc:
        assert exc.path == str(path) and exc.reason
    else:
        assert isinstance(note, LoadedNote) and note.text.strip()


@pytest.mark.parametrize("suffix", sorted(SAMPLES))
def test_loaders_raise_only_loader_errors(suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"note{suffix}"

        @FUZZ
        @given(data=file_bytes(suffix))
        def check(data: bytes) -> None:
            path.write_bytes(data)
            _loads_or_names_the_file(path)

        check()


def test_notebook_fields_of_any_json_type():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nb.ipynb"

        @FUZZ
        @given(notebook=NOTEBOOKS)
        def check(notebook) -> None:
            path.write_text(json.dumps(notebook), encoding="utf-8")
            _loads_or_names_the_file(path)

        check()


@pytest.mark.usefixtures("fake_embedding_model")
def test_no_exception_escapes_the_pipeline():
    good = "# Good note\n\nExponential moving average of the weights.\n"

    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(files=st.fixed_dictionaries({suffix: file_bytes(suffix) for suffix in SAMPLES}))
    def check(files: dict[str, bytes]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            notes = Path(tmp) / "notes"
            notes.mkdir()
            (notes / "good.md").write_text(good)
            for suffix, data in files.items():
                (notes / f"fuzzed{suffix}").write_bytes(data)
            report = ingest_paths([notes], load_settings(env={}, index_dir=f"{tmp}/index"), progress=False)
            named = set(report.added) | {s for s, _ in report.errors} | {s for s, _ in report.skipped}
            assert "good.md" in report.added
            assert named == {"good.md", *(f"fuzzed{suffix}" for suffix in files)}

    check()
