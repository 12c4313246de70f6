"""The exceptions searchkit raises, and the exit codes the CLI gives for them.

Every error is a :class:`SearchkitError` and carries its ``exit_code``; the
CLI exits with it, and :data:`EXIT_CODES` (the one table of exit codes, which
the README and ``docs/cli.md`` show) says what each code means. Messages are
one line and say what to do; the CLI prints them as they are.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INDEX = 3
EXIT_LOCKED = 4
EXIT_REFUSED = 5
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process it ended

EXIT_CODES: dict[int, str] = {
    0: "success",
    EXIT_FAILED: "some input failed (the rest was indexed), an article or file was not found, "
    "or a writer process failed (nothing of its batch was committed; earlier batches stay), "
    "or a `serve` worker process could not start or kept ending",
    EXIT_USAGE: "usage error, or a query that cannot be answered (empty, only punctuation, "
    "only exclusions, over 2,000 characters)",
    EXIT_INDEX: "no index at DIR, or a damaged, foreign or incompatible one; a shard or the Dask scheduler out of "
    "reach; `check` found a problem",
    EXIT_LOCKED: "another writer held the index lock past `--lock-timeout`",
    EXIT_REFUSED: "the operating system refused to write the index (no permission, disk full, too many open files; "
    "what was committed before stays), or `serve` to listen on its address",
    EXIT_INTERNAL: "internal error (a bug: please report it; `SEARCHKIT_DEBUG=1` shows the traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): the batch in progress is dropped, the lock released",
    EXIT_TERMINATED: "terminated (SIGTERM): handled as Ctrl-C is, with the same `interrupted` line "
    "(`serve` answers the requests in flight and exits 0)",
}

__all__ = [
    "EXIT_CODES",
    "SearchkitError",
    "IndexNotFoundError",
    "IndexVersionError",
    "CorruptIndexError",
    "IndexLockedError",
    "ArticleNotFoundError",
    "QueryError",
    "ReaderError",
    "UnreadableFileError",
    "RecordError",
    "EmptySourceError",
    "IndexWriteError",
    "ShardUnavailableError",
    "DistributedExtraError",
]


class SearchkitError(Exception):
    """Base class of every error searchkit raises on purpose.

    ``exit_code`` is what the CLI exits with; ``http_status`` what ``searchkit serve`` answers.
    """

    exit_code = EXIT_FAILED
    http_status = 400


class IndexNotFoundError(SearchkitError):
    """No searchkit index exists at the given directory."""

    exit_code = EXIT_INDEX
    http_status = 503


class IndexVersionError(SearchkitError):
    """The index was built with another schema version or analyzer settings."""

    exit_code = EXIT_INDEX
    http_status = 409


class CorruptIndexError(SearchkitError):
    """The index directory exists but cannot be read as a searchkit index."""

    exit_code = EXIT_INDEX
    http_status = 500


class IndexLockedError(SearchkitError):
    """Another writer held the index lock for longer than the timeout."""

    exit_code = EXIT_LOCKED
    http_status = 503


class ArticleNotFoundError(SearchkitError):
    """No article has the given id (or source path)."""

    http_status = 404


class QueryError(SearchkitError):
    """The query cannot be answered (empty, nothing searchable, too long)."""

    exit_code = EXIT_USAGE


class ReaderError(SearchkitError):
    """An input could not be read as articles."""


class UnreadableFileError(ReaderError):
    """A file is binary, undecodable or malformed. The message names the file."""


class RecordError(ReaderError):
    """One record (a JSONL line, or a dict or article given to the API) is not a
    valid article. The message names the record and the field; the rest of its
    file is read on."""


class EmptySourceError(ReaderError):
    """A file holds no text. The indexer skips it with a note, not a failure."""


class IndexWriteError(SearchkitError):
    """The operating system refused a write to the index (permissions, a full
    disk, too many open files). The message names the path and what to do."""

    exit_code = EXIT_REFUSED
    http_status = 507


class ShardUnavailableError(SearchkitError):
    """A shard of a sharded index could not be reached or read (its worker is gone,
    its directory is missing). The message names the shard."""

    exit_code = EXIT_INDEX
    http_status = 503


class DistributedExtraError(SearchkitError):
    """A sharded index needs the ``distributed`` extra (Dask), which is not installed."""
