"""searchkit: Chinese full-text search with exact keywords and highlighted snippets.

    >>> from searchkit import SearchIndex, Article
    >>> index = SearchIndex.in_memory()
"""

from .analysis import AnalyzerSettings
from .documents import Article
from .errors import (
    ArticleNotFoundError,
    CorruptIndexError,
    EmptySourceError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    QueryError,
    ReaderError,
    SearchkitError,
    UnreadableFileError,
)
from .highlight import Snippet, render_ansi, render_html, render_plain
from .index import ArticleInfo, IndexReport, IndexStats, OptimizeReport, SearchIndex
from .query import Hit, SearchResult

__version__ = "0.1.0"

__all__ = [
    "AnalyzerSettings",
    "Article",
    "ArticleInfo",
    "ArticleNotFoundError",
    "CorruptIndexError",
    "EmptySourceError",
    "Hit",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexReport",
    "IndexStats",
    "IndexVersionError",
    "OptimizeReport",
    "QueryError",
    "ReaderError",
    "SearchIndex",
    "SearchResult",
    "SearchkitError",
    "Snippet",
    "UnreadableFileError",
    "render_ansi",
    "render_html",
    "render_plain",
]
