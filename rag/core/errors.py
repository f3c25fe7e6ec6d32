"""Errors the project raises on purpose; the CLI and HTTP layers translate them at the edge."""


class RagError(Exception):
    """Base of every error notes-rag raises on purpose."""

    exit_code = 1
    http_status = 500


class ConfigError(RagError):
    """A setting, flag or environment variable is missing or invalid."""

    exit_code = 2
    http_status = 400


class ModelNotInstalledError(ConfigError):
    """A model package (embedder or bundled LLM) is not installed."""


class ModelFileError(RagError):
    """A model file is unreadable or not in the format its reader expects; the message names the file."""

    exit_code = 2

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class IndexNotFoundError(RagError):
    """No index exists at the given directory."""

    exit_code = 2
    http_status = 503


class IndexMismatchError(RagError):
    """The index was built with a different embedding model or dimension."""

    exit_code = 2
    http_status = 409


class IndexBusyError(RagError):
    """Another process holds the index lock (an ingest is writing); retry when it finishes."""

    http_status = 409
    retry_after = 10               # seconds; a small incremental ingest finishes in about that


class IndexCorruptError(RagError):
    """The index on disk is unreadable or inconsistent."""

    exit_code = 2
    http_status = 500


class LoaderError(RagError):
    """One note file could not be loaded; the ingest goes on without it."""

    http_status = 422

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class UnsupportedFileError(LoaderError):
    """The file's type is not one notes-rag reads (skipped, not fatal)."""


class DatasetError(RagError):
    """A QA dataset line is malformed."""

    exit_code = 2
    http_status = 422


class BackendError(RagError):
    """The LLM backend failed (unreachable server, bad response)."""

    http_status = 502


class NotFoundError(RagError):
    """A requested chunk or note does not exist."""

    http_status = 404


class OverloadedError(RagError):
    """The server's generation queue is full."""

    http_status = 429


class RequestTimeoutError(RagError):
    """A request ran past its time limit (generation is cancelled)."""

    http_status = 504
