"""The exceptions searchkit raises. Every one is a :class:`SearchkitError`.

Messages are one line and say what to do; the CLI prints them as they are.
"""

from __future__ import annotations

__all__ = [
    "SearchkitError",
    "IndexNotFoundError",
    "IndexVersionError",
    "CorruptIndexError",
    "IndexLockedError",
    "ArticleNotFoundError",
    "QueryError",
    "ReaderError",
    "UnreadableFileError",
    "EmptySourceError",
]


class SearchkitError(Exception):
    """Base class of every error searchkit raises on purpose."""

    exit_code = 1


class IndexNotFoundError(SearchkitError):
    """No searchkit index exists at the given directory."""


class IndexVersionError(SearchkitError):
    """The index was built with another schema version or analyzer settings."""


class CorruptIndexError(SearchkitError):
    """The index directory exists but cannot be read as a searchkit index."""


class IndexLockedError(SearchkitError):
    """Another writer held the index lock for longer than the timeout."""


class ArticleNotFoundError(SearchkitError):
    """No article has the given id (or source path)."""


class QueryError(SearchkitError):
    """The query cannot be answered (empty, nothing searchable, too long)."""

    exit_code = 2


class ReaderError(SearchkitError):
    """An input could not be read as articles."""


class UnreadableFileError(ReaderError):
    """A file is binary, undecodable or malformed. The message names the file."""


class EmptySourceError(ReaderError):
    """A file holds no text. The indexer skips it with a note, not a failure."""
