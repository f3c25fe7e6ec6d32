"""Errors of the bundled model package; each message names the file it is about."""
from __future__ import annotations

from pathlib import Path


class GGUFError(Exception):
    """A GGUF file cannot be used; the message starts with the file's path."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.detail = message
        super().__init__(f"{self.path}: {message}")


class BadMagicError(GGUFError):
    """The file does not start with the GGUF magic bytes."""


class UnsupportedArchitectureError(GGUFError):
    """general.architecture names a model family we do not implement."""


class UnsupportedQuantError(GGUFError):
    """A tensor is stored in a quantisation type we cannot dequantise."""


class TruncatedFileError(GGUFError):
    """The header or the tensor data runs past the end of the file (or cannot be parsed)."""


class TokenizerError(GGUFError):
    """The GGUF's tokenizer metadata is missing or of a kind we do not support."""
