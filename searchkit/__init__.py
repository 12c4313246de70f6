"""searchkit: Chinese full-text search with exact keywords and highlighted snippets.

    >>> from searchkit import SearchIndex, Article
    >>> index = SearchIndex.in_memory()
"""

from .analysis import AnalyzerSettings
from .dictionary import DictionaryReport
from .documents import Article
from .errors import (
    ArticleNotFoundError,
    CorruptIndexError,
    DistributedExtraError,
    EmptySourceError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    QueryError,
    ReaderError,
    SearchkitError,
    ShardUnavailableError,
    UnreadableFileError,
)
from .highlight import Snippet, render_ansi, render_html, render_plain
from .index import ArticleInfo, IndexReport, IndexStats, OptimizeReport, SearchIndex, TextAnalysis, analyze
from .query import Hit, KeywordPlan, QueryPlan, SearchResult
from .shards import ShardedIndex
from .synonyms import SynonymsReport
from .writing import DEFAULT_BATCH_SIZE

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "AnalyzerSettings",
    "Article",
    "ArticleInfo",
    "ArticleNotFoundError",
    "CorruptIndexError",
    "DictionaryReport",
    "DistributedExtraError",
    "EmptySourceError",
    "Hit",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexReport",
    "IndexStats",
    "IndexVersionError",
    "KeywordPlan",
    "OptimizeReport",
    "QueryError",
    "QueryPlan",
    "ReaderError",
    "SearchIndex",
    "SearchResult",
    "SearchkitError",
    "ShardUnavailableError",
    "ShardedIndex",
    "Snippet",
    "SynonymsReport",
    "TextAnalysis",
    "UnreadableFileError",
    "analyze",
    "render_ansi",
    "render_html",
    "render_plain",
]
