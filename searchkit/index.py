"""The searchkit index: articles and their paragraphs in one Whoosh index.

Three kinds of Whoosh documents share the index:

* ``article``: id, title and metadata (stored only, never matched);
* ``paragraph``: article id, ordinal, original text (stored), and the analyzed
  ``words`` / ``grams`` of the text and ``title_words`` / ``title_grams`` of its
  article's title (indexed from postings prepared without Token objects);
* ``source``: one per indexed file with its content hash, written in the same
  commit as the file's last article, so a file counts as indexed only once all
  of it is.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha1
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whoosh import columns as wcolumns
from whoosh import fields as wfields
from whoosh import query as wquery
from whoosh import formats, index as windex
from whoosh.filedb.filestore import FileStorage, RamStorage
from whoosh.reading import SegmentReader

from . import analysis
from .analysis import AnalyzerSettings, Segmenter
from .documents import Article
from .engine.codec import make_codec
from .engine.matchers import RANKING_WORDS_FIELD, encode_ranking_words
from .engine.merge import merge_into
from .engine.suffixes import has_suffix_file
from .engine.terms import field_terms
from .engine.writer import BackgroundMerge, ChildSegment, SearchkitWriter, fork_available
from .errors import (
    ArticleNotFoundError,
    CorruptIndexError,
    EmptySourceError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    ReaderError,
    SearchkitError,
)

if TYPE_CHECKING:
    from .maintenance import CheckReport, ReindexReport
    from .query import SearchResult

__all__ = ["SearchIndex", "IndexWriter", "IndexReport", "ArticleInfo", "IndexStats", "SCHEMA_VERSION", "READABLE_SCHEMA_VERSIONS"]

SCHEMA_VERSION = 3
# Versions this searchkit reads. 1 (before 2026-11-29): words fields hold
# posting values (positions, counts) that nothing reads; its segments read as
# version 2's. 2 (before 2026-12-02): paragraphs' characters have postings
# besides the suffix arrays; 3's segments have the arrays only (see
# searchkit.segments.char_rows). An index is marked with this version before
# this searchkit first writes to it: an older searchkit would find nothing
# in the segments written since.
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
META_FILE = "searchkit.json"
META_FORMAT = "searchkit-index"
DEFAULT_BATCH_SIZE = 5000
# A batch also ends at this many characters (about a million postings, ~200
# MB while its segment is written), so large articles do not make batches large.
BATCH_CHARS = 500_000


# --------------------------------------------------------------------------
# Schema


class PreparedField(wfields.FieldType):  # type: ignore[misc]
    """An indexed field that also takes postings prepared by the analyzer.

    Given a :class:`Prepared`, ``index`` returns its postings as they are, so
    the writer handles no Token objects; given text, it analyzes as usual.
    """

    def __init__(self, fmt: formats.Format, analyzer: Any) -> None:
        self.format = fmt
        self.analyzer = analyzer
        self.scorable = True
        self.stored = False
        self.unique = False
        self.vector = None
        self.column_type = None

    def index(self, value: Any, **kwargs: Any) -> Any:
        if isinstance(value, Prepared):
            return value.items if value.items is not None else analysis.gram_items(value.stream or "")
        return super().index(value, **kwargs)


class Prepared:
    """Postings for one field of one document, ready for the writer.

    ``stream``: the text's gram stream, for the segment's suffix arrays
    (paragraph text on an index of character grams; see :mod:`searchkit.suffixes`).
    Then ``items`` may be None: the writer counts the characters from the
    stream, and makes postings of them only where asked to (see
    :func:`searchkit.segments.char_rows`).
    """

    __slots__ = ("items", "stream")

    def __init__(self, items: list[tuple[bytes, int, float, bytes]] | None, stream: str | None = None) -> None:
        self.items = items
        self.stream = stream


class ExactID(wfields.ID):  # type: ignore[misc]
    """Whoosh's ID field, indexed without a Token: the whole value is the one term."""

    def index(self, value: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return [(value.encode("utf-8"), 1, self.format.field_boost, b"")]
        return super().index(value, **kwargs)


def make_schema() -> wfields.Schema:
    tokenizer = analysis.ChineseTokenizer()
    return wfields.Schema(
        kind=ExactID(stored=True),
        article_id=ExactID(stored=True, sortable=True),
        source=ExactID(stored=True),
        ordinal=wfields.STORED(),
        title=wfields.STORED(),
        text=wfields.STORED(),
        meta=wfields.STORED(),
        # Words only rank (BM25 of their counts, the postings' weights): no
        # posting values. Indexes made before 2026-11-29 hold positions of
        # text words and counts of title words there, which are never read.
        words=PreparedField(formats.Existence(), tokenizer),
        grams=PreparedField(formats.Positions(), tokenizer),
        title_words=PreparedField(formats.Existence(), tokenizer),
        title_grams=PreparedField(formats.Positions(), tokenizer),
        **{RANKING_WORDS_FIELD: RankingWordsField()},
    )


class RankingWordsField(wfields.FieldType):  # type: ignore[misc]
    """A paragraph's words and its title's, in a column (not indexed, not stored).

    Ranking a segment's few hits counts the query's words here instead of
    looking each word up and reading its postings (see
    :class:`searchkit.matchers.RankedFilter`). Segments written before
    2026-12-02 have no such column and rank from postings as before.
    """

    indexed = False
    stored = False
    scorable = False
    vector = None

    def __init__(self) -> None:
        self.format = None
        self.analyzer = None
        self.unique = False
        # Offsets written whatever the segment's size: a reader then need not add up every length.
        self.column_type = wcolumns.VarBytesColumn(write_offsets_cutoff=0)

    def to_column_value(self, value: bytes) -> bytes:
        return value


# --------------------------------------------------------------------------
# Analysis of an article (in the process that writes its segment)


@dataclass
class PendingArticle:
    """An article checked and waiting in a batch; analyzed when the batch is written."""

    article: Article
    article_id: str
    origin: str | None = None  # the indexed file it came from (change detection)

    @functools.cached_property
    def chars(self) -> int:
        """About how much writing it takes: its characters, plus one per paragraph."""
        return len(self.article.title or "") + sum(len(text) + 1 for text in self.article.paragraphs)


def _text_postings(text: str, segmenter: Segmenter, grams: int, suffixes: bool = False) -> tuple[Prepared, Prepared, list[str]]:
    """The text's words' and grams' postings, and its words in order."""
    normalized = analysis.fold(text)
    words = [word for word, _start, _end in segmenter.words(normalized)]
    stream, _ = analysis.gram_stream(normalized)
    return (
        Prepared(analysis.count_items(words)),
        Prepared(None, stream) if suffixes else Prepared(analysis.gram_items(stream, grams)),
        words,
    )


def article_id_for(article: Article) -> str:
    if article.id:
        return article.id
    digest = sha1(json.dumps([article.title, article.paragraphs], ensure_ascii=False).encode("utf-8"))
    return "sha1:" + digest.hexdigest()[:16]


def _check_text(article: Article) -> None:
    """Refuse text that is not valid Unicode (lone surrogates, e.g. from a JSON escape)."""
    for text in (article.title or "", *article.paragraphs):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = f"article {article.id!r}" if article.id else f"article {article.title[:30]!r}"
            raise ReaderError(
                f"{where}: text holds a lone surrogate U+{ord(text[exc.start]):04X}, which is not valid Unicode"
            ) from None


def pending_article(article: Article, origin: str | None = None) -> PendingArticle:
    """Check ``article`` (:class:`ReaderError` if its text is not valid Unicode) and give it its id."""
    _check_text(article)
    return PendingArticle(article, article_id_for(article), origin)


def paragraph_docs(pending: PendingArticle, segmenter: Segmenter) -> list[dict[str, Any]]:
    """The article's paragraph documents, analyzed: field name -> value."""
    article = pending.article
    title = article.title or ""
    # Titles keep characters only: each paragraph document repeats its
    # title's postings, and title keywords are rare in queries.
    title_words, title_grams, title_word_list = _text_postings(title, segmenter, analysis.TITLE_GRAMS)
    grams_setting = segmenter.settings.grams
    # Suffix arrays answer keywords as phrases of characters: not on an index of bigrams.
    suffixes = grams_setting == 1
    docs = []
    for ordinal, text in enumerate(article.paragraphs):
        words, grams, word_list = _text_postings(text, segmenter, grams_setting, suffixes)
        docs.append(
            {
                "kind": "paragraph",
                "article_id": pending.article_id,
                "ordinal": ordinal,
                "title": title,
                "text": text,
                "words": words,
                "grams": grams,
                "title_words": title_words,
                "title_grams": title_grams,
                RANKING_WORDS_FIELD: encode_ranking_words({"words": word_list, "title_words": title_word_list}),
            }
        )
    return docs


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class ArticleInfo:
    """An article as stored in the index."""

    article_id: str
    title: str
    paragraphs: list[str]
    subtitle: str | None = None
    source: str | None = None
    date: str | None = None
    author: str | None = None
    lines: list[int] | None = None

    def to_json(self, with_text: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "article_id": self.article_id,
            "title": self.title,
            "source": self.source,
            "paragraphs": self.paragraphs if with_text else len(self.paragraphs),
        }
        if with_text:
            data.update(subtitle=self.subtitle, date=self.date, author=self.author, lines=self.lines)
        return data


@dataclass
class IndexReport:
    """What an indexing run did, per source file."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    articles: int = 0
    paragraphs: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed "
            f"({self.articles} articles, {self.paragraphs} paragraphs written)"
        )


@dataclass
class IndexStats:
    path: str | None
    articles: int
    paragraphs: int
    sources: int
    segments: int
    size_bytes: int
    schema_version: int
    analyzer: dict[str, Any]
    # Segments whose keywords are answered from suffix arrays (see searchkit.suffixes).
    suffix_segments: int = 0
    # Segments with paragraphs but no suffix arrays: on an index of characters,
    # written before them (reindex adds them). A segment of article or file
    # records only has no text to answer keywords from, and needs none.
    segments_without_arrays: int = 0

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class OptimizeReport:
    """What ``optimize`` merged."""

    segments_before: int
    segments_after: int
    dropped: int = 0  # deleted documents the merge left out

    def summary(self) -> str:
        if self.segments_before == self.segments_after:
            return f"{self.segments_after} segment{'s' if self.segments_after != 1 else ''}, nothing deleted: nothing to merge"
        text = f"{self.segments_before} segment{'s' if self.segments_before != 1 else ''} merged into {self.segments_after}"
        return text + (f" ({self.dropped} deleted index documents left out)" if self.dropped else "")


ProgressCallback = Callable[[str, int], None]


# --------------------------------------------------------------------------
# The writer


class IndexWriter:
    """Buffers articles and writes them in batches, one commit per batch.

    A batch ends at ``batch_size`` articles or ``BATCH_CHARS`` characters,
    whichever comes first. Articles are analyzed when their batch is written:
    with ``workers`` > 1, a large batch is cut into that many parts, and each
    part is analyzed and written as a segment by a forked process; the commit
    lists them all. Merges then run in the background (``BackgroundMerge``),
    and ``close`` waits for the last one.

    Use as a context manager: the last batch is committed on a clean exit and
    dropped on an exception (earlier batches stay committed).
    """

    def __init__(self, index: SearchIndex, batch_size: int = DEFAULT_BATCH_SIZE, workers: int = 1) -> None:
        self._index = index
        self._batch_size = batch_size
        self._workers = workers
        self._chars = 0  # in self._articles
        self._articles: dict[str, PendingArticle] = {}
        self._sources: dict[str, str] = {}  # source -> content hash to record
        self._deleted_sources: set[str] = set()
        self._deleted_ids: set[str] = set()
        self._forgotten_sources: set[str] = set()
        self._background: BackgroundMerge | None = None  # a merge running across commits
        self.articles_written = 0
        self.paragraphs_written = 0

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()

    def close(self) -> None:
        """Commit the last batch and wait for a background merge to take it in."""
        try:
            self.commit()
            if self._background is not None:
                with self._index._whoosh_writer() as writer:
                    writer.merge_in_child = True
                    writer.background, writer.finish_background = self._background, True
        finally:
            if self._background is not None:
                self._background.kill()  # taken in above unless something failed
                self._background = None

    def add_article(self, article: Article, origin: str | None = None) -> str:
        """Add (or replace, by id) one article; returns its id.

        Raises :class:`ReaderError` at once for text that is not valid
        Unicode; ``origin`` is the indexed file it came from, if any.
        """
        pending = pending_article(article, origin)
        # A full batch commits when the next article comes, not at once: the
        # last batch of a file then commits with the file's marker (see
        # finish_source), not leaving the marker a segment of its own.
        if self._articles and (len(self._articles) >= self._batch_size or self._chars >= BATCH_CHARS):
            self.commit()
        self._articles[pending.article_id] = pending
        self._chars += pending.chars
        return pending.article_id

    def replace_source(self, source: str) -> None:
        """Drop every article that came from ``source`` (before re-adding it)."""
        self._deleted_sources.add(source)

    def finish_source(self, source: str, content_hash: str) -> None:
        """Record that all of ``source`` is in the batch; it commits with it."""
        self._sources[source] = content_hash

    def forget_source(self, source: str) -> None:
        """Drop the record that ``source`` was indexed (so re-indexing adds it again)."""
        self._forgotten_sources.add(source)

    def delete_article(self, article_id: str) -> None:
        self._articles.pop(article_id, None)
        self._deleted_ids.add(article_id)

    def cancel(self) -> None:
        """Drop the batch (and stop a background merge; its inputs stay as they are)."""
        if self._background is not None:
            self._background.kill()
            self._background = None
        self._clear_batch()

    def _clear_batch(self) -> None:
        self._chars = 0
        self._articles.clear()
        self._sources.clear()
        self._deleted_sources.clear()
        self._deleted_ids.clear()
        self._forgotten_sources.clear()

    def commit(self) -> None:
        if not (self._articles or self._sources or self._deleted_sources or self._deleted_ids or self._forgotten_sources):
            return
        segmenter = self._index.segmenter
        writer = None
        committed = False
        try:
            with _gc_paused(), self._index._whoosh_writer() as writer:
                for source in self._deleted_sources:
                    writer.delete_by_term("source", source)
                for source in self._sources.keys() | self._forgotten_sources:
                    # Only the old marker: the file's articles may sit in earlier batches.
                    writer.delete_by_query(wquery.And([wquery.Term("kind", "source"), wquery.Term("source", source)]))
                _delete_articles(writer, self._deleted_ids | set(self._articles), self._index._article_hashes)
                articles = list(self._articles.values())
                article_count = len(articles)
                paragraph_count = sum(len(pending.article.paragraphs) for pending in articles)
                writers = self._writers()
                if writers > 1:
                    # Merges run in a forked process in the background, from
                    # commit to commit (see BackgroundMerge).
                    writer.merge_in_child = True
                    writer.background = self._background
                parts = _split_by_chars(articles, writers) if articles else [[]]
                markers = list(self._sources.items())
                if len(parts) == 1:
                    _write_articles(writer, parts[0], markers, segmenter)
                else:
                    # Forked processes analyze and write a segment each; the
                    # commit lists them all. The dictionary is loaded once, here,
                    # and shared with them by fork. The last one also writes the
                    # files' markers: no segment of its own for a few documents
                    # (every query pays for every segment).
                    segmenter.tokenizer
                    for number, part in enumerate(parts, 1):
                        payload = (part, markers if number == len(parts) else [])
                        writer.add_child(
                            ChildSegment(
                                self._index._ix,
                                payload,
                                lambda w, payload: _write_articles(w, *payload, segmenter),
                                char_streams=self._index.char_streams,
                            )
                        )
                    del articles, parts, payload
                    self._articles.clear()
            committed = True
        finally:
            if writer is not None and writer.merge_in_child:
                started = writer.background
                if committed:
                    self._background = started
                elif started is not self._background:
                    # The failed commit took the running merge in (lost with
                    # it), or started one that saw its uncommitted deletions:
                    # neither may be taken in later.
                    if started is not None:
                        started.kill()
                    self._background = None
        self.articles_written += article_count
        self.paragraphs_written += paragraph_count
        self._clear_batch()

    def _writers(self) -> int:
        if self._workers <= 1 or not fork_available() or self._index.path is None:
            return 1
        return self._workers


def _delete_articles(writer: Any, article_ids: Iterable[str], known: dict[str, frozenset[int]]) -> None:
    """Delete the articles (all their documents) with these ids, where any exist.

    Most ids of a batch are new. Whoosh's delete_by_term builds a query
    matcher per segment (0.1 to 0.6 s per batch of 5,000 on a few segments,
    while the writer processes wait to start); a term lookup per id and
    segment took 2.7 s of a 25.6 s import of 50k poems, growing with the
    segments. A segment never changes, so the hashes of its article ids are
    read once (``known``: segment id -> hashes, kept by the index), and an
    id whose hash a segment holds is deleted by term (after a collision,
    that deletes nothing).
    """
    # (An index without segments has one EmptyReader, which holds nothing.)
    leaves = [leaf for leaf, _offset in writer.searcher().reader().leaf_readers() if isinstance(leaf, SegmentReader)]
    present = {leaf.segment().segment_id(): leaf for leaf in leaves}
    for segment_id in set(known) - set(present):  # merged away
        del known[segment_id]
    for segment_id, leaf in present.items():
        if segment_id not in known:
            known[segment_id] = frozenset(hash(term) for term, _info in field_terms(leaf, "article_id"))
    hashes = [known[segment_id] for segment_id in present]
    for article_id in article_ids:
        key = hash(article_id.encode("utf-8"))
        if any(key in segment for segment in hashes):
            writer.delete_by_term("article_id", article_id)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is written.

    The batch is millions of long-lived objects without cycles: collections
    would only walk them again and again (and, in a forked writer, copy every
    page they touch). Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


PARALLEL_MIN_CHARS = 10_000  # below this a forked writer costs more than it saves


def _split_by_chars(articles: list[PendingArticle], parts: int) -> list[list[PendingArticle]]:
    """Cut the batch, in order, into up to ``parts`` runs of about equal size."""
    sizes = [pending.chars for pending in articles]
    total = sum(sizes)
    if parts <= 1 or total < PARALLEL_MIN_CHARS:
        return [articles]
    runs: list[list[PendingArticle]] = [[]]
    share, filled = total / parts, 0
    for pending, size in zip(articles, sizes):
        if filled >= share * len(runs) and len(runs) < parts:
            runs.append([])
        runs[-1].append(pending)
        filled += size
    return runs


def _write_articles(
    writer: Any, articles: list[PendingArticle], markers: list[tuple[str, str]], segmenter: Segmenter
) -> None:
    """The articles' documents, then a marker per indexed file: (its path, its content hash)."""
    for pending in articles:
        article = pending.article
        docs = paragraph_docs(pending, segmenter)
        writer.add_document(
            kind="article",
            article_id=pending.article_id,
            source=pending.origin,
            title=article.title,
            meta={
                "source": article.source,
                "subtitle": article.subtitle,
                "date": article.date,
                "author": article.author,
                "paragraphs": len(article.paragraphs),
                "lines": article.lines,
            },
        )
        for doc in docs:
            writer.add_document(source=pending.origin, **doc)
    for source, content_hash in markers:
        writer.add_document(kind="source", source=source, meta={"hash": content_hash})


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except FileNotFoundError:  # removed by a concurrent commit
        return 0


def damaged_message(path: Any, exc: BaseException) -> str:
    return (
        f"index at {path} is damaged ({type(exc).__name__}): rebuild it with `searchkit --index {path} reindex` "
        "(if that fails, delete it and index your files again)"
    )


def no_toc_message(path: Any, exc: BaseException) -> str:
    return (
        f"index at {path} is damaged (no readable table of contents: {type(exc).__name__}): "
        "delete it and index your files again"
    )


def missing_index_error(path: Any) -> IndexNotFoundError:
    return IndexNotFoundError(f"no index at {path}: build one with `searchkit --index {path} index PATH`")


def locked_error(path: Any, timeout: float) -> IndexLockedError:
    return IndexLockedError(
        f"index at {path} is locked by another writer; gave up after {timeout:g} s (raise --lock-timeout or try again)"
    )


def check_unindexed_directory(path: Path) -> None:
    """For a directory without searchkit.json: refuse one that holds other files."""
    if any(not p.name.startswith(".") for p in path.iterdir()):
        raise CorruptIndexError(
            f"{path} is not a searchkit index (it holds other files): choose an empty or new directory"
        )


def recorded_settings(path: Path) -> AnalyzerSettings | None:
    """The analyzer settings the index at ``path`` records, if it records usable ones."""
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        settings = AnalyzerSettings(**meta["analyzer"])
    except (OSError, ValueError, TypeError, KeyError):
        return None  # opening reports what is wrong
    return settings if settings.segmenter in analysis.SEGMENTERS and settings.grams in analysis.GRAM_SIZES else None


def check_meta(meta_path: Path, settings: AnalyzerSettings) -> int:
    """Refuse a searchkit.json that is unreadable, foreign, or of another schema or analyzer; its schema version."""
    path = meta_path.parent
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(
            f"index at {path} has an unreadable {META_FILE}: rebuild it with `searchkit --index {path} reindex`"
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise CorruptIndexError(f"{path} is not a searchkit index: choose an empty or new directory")
    version = meta.get("schema_version")
    if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
        *earlier, last = map(str, READABLE_SCHEMA_VERSIONS)
        readable = f"{', '.join(earlier)} or {last}" if earlier else last
        raise IndexVersionError(
            f"index at {path} has schema version {version}, this searchkit reads {readable}: "
            f"rebuild it with `searchkit --index {path} reindex`"
        )
    recorded = meta.get("analyzer")
    if isinstance(recorded, dict) and recorded.get("grams") != settings.grams and recorded == {**settings.to_dict(), "grams": recorded.get("grams")}:
        raise IndexVersionError(
            f"index at {path} was built with grams={recorded.get('grams')}: "
            f"rebuild it with `searchkit --index {path} reindex --grams {settings.grams}` to change that"
        )
    if recorded != settings.to_dict():
        raise IndexVersionError(
            f"index at {path} was built with other analyzer settings ({meta.get('analyzer')}): "
            f"open it with those settings or rebuild it with `searchkit --index {path} reindex`"
        )
    return version


# --------------------------------------------------------------------------
# The index


class SearchIndex:
    """A searchkit index on disk (or in memory, for tests and embedding).

    ``SearchIndex(path)`` opens an existing index; ``SearchIndex.create(path)``
    makes one (or opens it if it exists with the same settings);
    ``SearchIndex.in_memory()`` keeps everything in RAM.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = False,
        settings: AnalyzerSettings | None = None,
        lock_timeout: float = 30.0,
        _storage: Any = None,
    ) -> None:
        if settings is None and path is not None:
            settings = recorded_settings(Path(path))  # an index keeps its own analyzer
        self.settings = settings or AnalyzerSettings()
        self.lock_timeout = lock_timeout
        self.segmenter = Segmenter(self.settings)
        self.path = Path(path) if path is not None else None
        self._local = threading.local()
        self._meta_memory: dict[str, Any] | None = None
        self.schema_version = SCHEMA_VERSION  # the index's (see READABLE_SCHEMA_VERSIONS)
        self._article_hashes: dict[str, frozenset[int]] = {}  # see _delete_articles
        if _storage is not None:
            self._storage = _storage
            self._ix = _storage.create_index(make_schema())
            self._meta_memory = self._meta_dict()
            return
        if self.path is None:
            raise SearchkitError("an index needs a path (or use SearchIndex.in_memory())")
        self._storage = None
        self._ix = self._open_or_create(self.path, create)
        try:
            # Open the segments now, so a damaged one is reported on opening.
            self._local.searcher = self._ix.searcher()
        except Exception as exc:  # Whoosh raises many kinds on damaged files
            raise CorruptIndexError(damaged_message(self.path, exc)) from exc

    @classmethod
    def create(cls, path: str | os.PathLike[str], **kwargs: Any) -> SearchIndex:
        return cls(path, create=True, **kwargs)

    @classmethod
    def in_memory(cls, **kwargs: Any) -> SearchIndex:
        return cls(None, _storage=RamStorage(), **kwargs)

    # -- opening

    def _meta_dict(self) -> dict[str, Any]:
        return {
            "format": META_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "analyzer": self.settings.to_dict(),
        }

    def _write_meta(self, meta_path: Path) -> None:
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._meta_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, meta_path)
        self.schema_version = SCHEMA_VERSION

    def _open_or_create(self, path: Path, create: bool) -> Any:
        meta_path = path / META_FILE
        if not path.exists():
            if not create:
                raise missing_index_error(path)
            path.mkdir(parents=True)
        elif not path.is_dir():
            raise CorruptIndexError(f"{path} is not a directory, so it cannot hold an index")
        if not meta_path.exists():
            check_unindexed_directory(path)
            if not create:
                raise missing_index_error(path)
            storage = FileStorage(str(path))
            ix = storage.create_index(make_schema())
            self._write_meta(meta_path)
            return ix
        self.schema_version = check_meta(meta_path, self.settings)
        for _attempt in range(20):
            try:
                return FileStorage(str(path)).open_index(schema=make_schema())
            except FileNotFoundError as exc:
                # A writer's commit replaced the table of contents between
                # listing and opening it: read the new one.
                missing = exc
                time.sleep(0.05)
            except Exception as exc:  # Whoosh raises many kinds on damaged files
                raise CorruptIndexError(no_toc_message(path, exc)) from exc
        raise CorruptIndexError(no_toc_message(path, missing)) from missing

    # -- low level access

    @property
    def char_streams(self) -> bool:
        """Whether paragraphs' characters go to suffix arrays, not postings (an index of characters, not bigrams)."""
        return self.settings.grams == 1

    def _whoosh_writer(self) -> Any:
        try:
            writer = SearchkitWriter(self._ix, timeout=self.lock_timeout, delay=0.05, codec=make_codec(char_streams=self.char_streams))
        except windex.LockError as exc:
            raise locked_error(self.path, self.lock_timeout) from exc
        if self.schema_version != SCHEMA_VERSION and self.path is not None:
            try:  # under the lock: what this writer commits or merges is of the current version
                self._write_meta(self.path / META_FILE)
            except BaseException:
                writer.cancel()
                raise
        return writer

    def searcher(self) -> Any:
        """A Whoosh searcher for this thread, refreshed when the index changed."""
        searcher = getattr(self._local, "searcher", None)
        if searcher is not None and not searcher.up_to_date():
            # Not searcher.refresh(): Whoosh-Reloaded 2.7.5 keeps the readers
            # of segments merged away since, so every merged document would
            # be found twice.
            searcher.close()
            searcher = None
        if searcher is None:
            searcher = self._ix.searcher()
        self._local.searcher = searcher
        return searcher

    def close(self) -> None:
        searcher = getattr(self._local, "searcher", None)
        if searcher is not None:
            searcher.close()
            self._local.searcher = None

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writing

    def writer(self, batch_size: int = DEFAULT_BATCH_SIZE, workers: int = 1) -> IndexWriter:
        """A batch writer; with ``workers`` > 1 a large batch is written by that
        many processes at once (a segment each, committed together)."""
        return IndexWriter(self, batch_size=batch_size, workers=workers)

    def add_article(self, article: Article) -> str:
        """Add one article and commit; returns its id."""
        with self.writer() as writer:
            return writer.add_article(article)

    def add_articles(
        self,
        articles: Iterable[Article],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
    ) -> IndexReport:
        """Add (or replace, by id) articles, committing every ``batch_size``."""
        report = IndexReport()
        workers = default_workers() if workers is None else workers
        with self.writer(batch_size=batch_size, workers=workers) as writer:
            for article in articles:
                writer.add_article(article)
        report.articles = writer.articles_written
        report.paragraphs = writer.paragraphs_written
        report.added = report.articles
        return report

    def add_files(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        fmt: str = "auto",
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        stdin: Any = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> IndexReport:
        """Index files and folders (``-`` reads ``stdin``), skipping unchanged files.

        A file that fails is reported and the rest of the batch goes on; a
        changed file replaces its own articles.
        """
        from . import readers

        report = IndexReport()
        known = self._source_hashes()
        plain = [Path(p) for p in paths if str(p) != "-"]
        file_paths = list(readers.iter_paths(plain, include=include, exclude=exclude))
        use_stdin = any(str(p) == "-" for p in paths)
        if progress:
            progress("start", len(file_paths) + int(use_stdin))
        workers = default_workers() if workers is None else workers
        with self.writer(batch_size=batch_size, workers=workers) as writer:
            if use_stdin:
                opener = lambda: readers.read_stream(stdin, fmt=fmt)  # noqa: E731
                self._add_source(writer, report, known, opener, "<stdin>")
                if progress:
                    progress("advance", 1)
            for file_path in file_paths:
                opener = lambda p=file_path: readers.open_source(p, fmt=fmt)  # noqa: E731
                self._add_source(writer, report, known, opener, str(file_path))
                if progress:
                    progress("advance", 1)
        report.articles = writer.articles_written
        report.paragraphs = writer.paragraphs_written
        return report

    def _add_source(
        self,
        writer: IndexWriter,
        report: IndexReport,
        known: dict[str, str],
        open_source: Callable[[], Any],
        display: str,
    ) -> None:
        try:
            source = open_source()
        except EmptySourceError as exc:
            report.skipped.append((display, str(exc)))
            return
        except ReaderError as exc:
            report.failed.append((display, str(exc)))
            return
        except OSError as exc:
            report.failed.append((display, f"{display}: cannot read ({exc.strerror or exc})"))
            return
        previous = known.get(source.name)
        if previous == source.content_hash:
            report.unchanged += 1
            return
        count = 0
        try:
            for article in source.articles():
                if count == 0:
                    # Old articles of this file go only once the new ones read.
                    writer.replace_source(source.name)
                writer.add_article(article, origin=source.name)
                count += 1
        except ReaderError as exc:
            # What was read stays; no marker, so the next run redoes the file.
            report.failed.append((display, str(exc)))
            return
        if count == 0:
            report.skipped.append((display, f"{source.name}: no articles found, skipped"))
            return
        writer.finish_source(source.name, source.content_hash)
        known[source.name] = source.content_hash
        if previous is None:
            report.added += 1
        else:
            report.updated += 1

    def _source_hashes(self) -> dict[str, str]:
        searcher = self.searcher()
        return {
            fields["source"]: fields["meta"]["hash"]
            for fields in searcher.documents(kind="source")
        }

    def delete(self, article_id: str) -> None:
        """Delete one article (and its paragraphs)."""
        doc = self._article_doc(article_id)
        if doc is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        with self.writer() as writer:
            writer.delete_article(doc["article_id"])

    def remove(self, target: str) -> int:
        """Delete the articles of a file (or of every file under a folder), or one article by id.

        Returns how many articles were deleted.
        """
        sources = set(self._source_hashes())
        sources.update(d["source"] for d in self.searcher().documents(kind="article") if d.get("source"))
        absolute = Path(target).resolve().as_posix()
        matched = sorted(s for s in sources if s in (target, absolute) or s.startswith(absolute.rstrip("/") + "/"))
        if matched:
            searcher = self.searcher()
            count = sum(1 for s in matched for _ in searcher.document_numbers(kind="article", source=s))
            with self.writer() as writer:
                for source in matched:
                    writer.replace_source(source)
                    writer.forget_source(source)
            return count
        if self._article_doc(target) is not None:
            self.delete(target)
            return 1
        raise ArticleNotFoundError(f"no article or indexed file {target!r}")

    # -- reading

    def _article_doc(self, article_id: str) -> dict[str, Any] | None:
        searcher = self.searcher()
        result: dict[str, Any] | None = searcher.document(kind="article", article_id=article_id)
        path, hash_sign, rest = article_id.partition("#")
        if result is None and hash_sign and not os.path.isabs(path):
            # Ids of files are absolute paths; accept one relative to here.
            absolute = f"{Path(path).resolve().as_posix()}#{rest}"
            result = searcher.document(kind="article", article_id=absolute)
        return result

    def get_article(self, article_id: str) -> ArticleInfo:
        doc = self._article_doc(article_id)
        if doc is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        article_id = doc["article_id"]
        paragraphs = sorted(
            self.searcher().documents(kind="paragraph", article_id=article_id), key=lambda d: d["ordinal"]
        )
        meta = doc.get("meta") or {}
        return ArticleInfo(
            article_id=article_id,
            title=doc.get("title") or "",
            paragraphs=[p["text"] for p in paragraphs],
            subtitle=meta.get("subtitle"),
            source=meta.get("source") or doc.get("source"),
            date=meta.get("date"),
            author=meta.get("author"),
            lines=meta.get("lines"),
        )

    def list_articles(self) -> Iterator[ArticleInfo]:
        """Every article (paragraph texts not loaded: ``paragraphs`` holds empty strings)."""
        docs = sorted(self.searcher().documents(kind="article"), key=lambda d: d["article_id"])
        for doc in docs:
            meta = doc.get("meta") or {}
            yield ArticleInfo(
                article_id=doc["article_id"],
                title=doc.get("title") or "",
                paragraphs=[""] * int(meta.get("paragraphs", 0)),
                subtitle=meta.get("subtitle"),
                source=meta.get("source") or doc.get("source"),
                date=meta.get("date"),
                author=meta.get("author"),
                lines=meta.get("lines"),
            )

    def count(self, kind: str) -> int:
        return sum(1 for _ in self.searcher().document_numbers(kind=kind))

    def _segment_readers(self) -> list[Any]:
        # From this thread's searcher, not the table of contents on disk:
        # a concurrent commit may replace that between listing and reading.
        from whoosh.reading import EmptyReader

        return [r for r, _ in self.searcher().reader().leaf_readers() if not isinstance(r, EmptyReader)]

    def stats(self) -> IndexStats:
        readers = self._segment_readers()
        arrays = {reader: has_suffix_file(reader) for reader in readers}
        size = 0
        if self.path is not None:
            size = sum(_file_size(p) for p in self.path.iterdir())
        return IndexStats(
            path=str(self.path) if self.path else None,
            articles=self.count("article"),
            paragraphs=self.count("paragraph"),
            sources=self.count("source"),
            segments=len(readers),
            size_bytes=size,
            schema_version=self.schema_version,
            analyzer=self.settings.to_dict(),
            suffix_segments=sum(arrays.values()),
            segments_without_arrays=sum(1 for reader in arrays if not arrays[reader] and reader.doc_frequency("kind", "paragraph")),
        )

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        level: str = "paragraph",
        max_chars: int = 120,
    ) -> SearchResult:
        """Ranked hits with highlighted snippets. See :mod:`searchkit.query`."""
        from .query import run_search

        return run_search(self, query, limit=limit, level=level, max_chars=max_chars)

    def optimize(self, progress: ProgressCallback | None = None) -> OptimizeReport:
        """Merge every segment into one, leaving deleted documents out.

        Each query visits every segment: keyword queries over the 12
        segments an import of 200k poems leaves took 4.5-5.6 ms against
        2.9-3.1 ms merged. So an index that is done growing answers faster
        merged; the merge rewrites it all (115 s for those 200k poems) and
        needs memory in proportion (peak RSS 1.0 GiB for their 773 MiB
        index). Holds the write lock; interrupted, the index stays as it was.
        ``progress`` gets ``("start", segments + 1)``, then an
        ``("advance", 1)`` per segment read and one when the merged segment
        is written.
        """
        readers = self._segment_readers()
        if len(readers) <= 1 and not any(reader.has_deletions() for reader in readers):
            return OptimizeReport(len(readers), len(readers))  # no writer: it would leave files behind
        writer = self._whoosh_writer()
        try:
            segments = list(writer.segments)  # under the lock: what is merged
            dropped = sum(segment.deleted_count() for segment in segments)
            if len(segments) <= 1 and not dropped:
                writer.cancel()
                return OptimizeReport(len(segments), len(segments))
            if progress:
                progress("start", len(segments) + 1)

            def merge_all(merging: Any, listed: list[Any]) -> list[Any]:
                for segment in listed:
                    merge_into(merging, [segment])
                    if progress:
                        progress("advance", 1)
                return []

            writer.commit(mergetype=merge_all)
        except BaseException:
            if not writer.is_closed:
                writer.cancel()
            raise
        if progress:
            progress("advance", 1)
        return OptimizeReport(len(segments), len(self._segment_readers()), dropped)

    # -- maintenance (see searchkit.maintenance)

    def check(self, postings: bool = True) -> CheckReport:
        """Verify this index: segments, stored documents, postings, consistency."""
        from .maintenance import check_index

        return check_index(self, postings=postings)

    @classmethod
    def check_path(cls, path: str | os.PathLike[str], *, settings: AnalyzerSettings | None = None,
                   postings: bool = True) -> CheckReport:
        """Verify the index at ``path``; an index that cannot be opened is a problem, not an error.

        Raises :class:`IndexNotFoundError` only when there is no index at all.
        """
        from .maintenance import check_path

        return check_path(Path(path), settings=settings, postings=postings)

    @classmethod
    def reindex(cls, path: str | os.PathLike[str], *, settings: AnalyzerSettings | None = None,
                lock_timeout: float = 30.0, batch_size: int = DEFAULT_BATCH_SIZE,
                workers: int | None = None) -> ReindexReport:
        """Rebuild the index at ``path`` from its own stored documents, then swap it in.

        Works on an index of another schema version or analyzer settings (or
        with an unreadable ``searchkit.json``) as long as Whoosh can read its
        stored fields. The new index is built next to the old one and
        exchanged with it by rename, so an interruption leaves the old one
        intact. Holds the index's write lock throughout.
        """
        from .maintenance import reindex

        if settings is None:  # this searchkit's analyzer, with the index's own choice of grams
            settings = AnalyzerSettings(grams=(recorded_settings(Path(path)) or AnalyzerSettings()).grams)
        return reindex(Path(path), settings=settings, lock_timeout=lock_timeout,
                       batch_size=batch_size, workers=default_workers() if workers is None else workers)

    def destroy(self) -> None:
        """Delete the index directory (only a directory that holds a searchkit index)."""
        self.close()
        if self.path is not None and (self.path / META_FILE).exists():
            shutil.rmtree(self.path)

