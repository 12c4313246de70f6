"""Writing articles: checking them, analysing them into documents, and committing them in batches.

:class:`IndexWriter` buffers articles and writes a batch per commit through
the engine's segment writer (:mod:`searchkit.engine`), in this process or in
forked writer processes.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from hashlib import sha1
from typing import Any

from . import analysis, pinyin
from .analysis import Segmenter
from .documents import Article, article_meta, checked_date
from .engine import RANKING_WORDS_FIELD, BackgroundMerge, Prepared, Store, encode_ranking_words, fork_available, writing_to
from .errors import ReaderError

__all__ = ["BATCH_CHARS", "DEFAULT_BATCH_SIZE", "IndexWriter", "PendingArticle", "default_workers", "paragraph_docs",
           "pending_article"]

DEFAULT_BATCH_SIZE = 5000
# A batch also ends at this many characters (about a million postings, ~200
# MB while its segment is written), so large articles do not make batches large.
BATCH_CHARS = 500_000


# --------------------------------------------------------------------------
# Analysis of an article (in the process that writes its segment)


@dataclass
class PendingArticle:
    """An article checked and waiting in a batch; analyzed when the batch is written."""

    article: Article
    article_id: str
    origin: str | None = None  # the indexed file it came from (change detection)
    # Words the index already recorded for it (a moved file): the title's, then
    # each paragraph's; then jieba need not cut it again.
    recorded: list[list[str]] | None = None

    @functools.cached_property
    def chars(self) -> int:
        """About how much writing it takes: its characters, plus one per paragraph."""
        return len(self.article.title or "") + sum(len(text) + 1 for text in self.article.paragraphs)


def _text_postings(text: str, segmenter: Segmenter, grams: int, suffixes: bool = False) -> tuple[Prepared, Prepared, list[str]]:
    """The text's words' and grams' postings, and its words in order."""
    normalized = analysis.fold(text)
    return _prepared(normalized, [word for word, _start, _end in segmenter.words(normalized)], grams, suffixes)


def _recorded_postings(text: str, words: list[str], grams: int, suffixes: bool = False) -> tuple[Prepared, Prepared, list[str]]:
    """As :func:`_text_postings`, with the words already known."""
    return _prepared(analysis.fold(text), words, grams, suffixes)


def _prepared(normalized: str, words: list[str], grams: int, suffixes: bool) -> tuple[Prepared, Prepared, list[str]]:
    """The postings of a normalized text's ``words`` and grams (with suffix arrays: its stream only), and the words."""
    stream, _ = analysis.gram_stream(normalized)
    return (
        Prepared(analysis.count_items(words)),
        Prepared(None, stream) if suffixes else Prepared(analysis.gram_items(stream, grams), stream),
        words,
    )


def _pinyin_postings(text: str, segmenter: Segmenter) -> Prepared:
    """The text's characters and their pinyin readings, at their positions in its grams' stream."""
    stream, _ = analysis.gram_stream(analysis.fold(text))
    readings = pinyin.reading_postings(stream, lambda t: segmenter.words(t, search=False))
    return Prepared(analysis.position_items(readings) if readings else [])


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


def pending_article(article: Article, origin: str | None = None, recorded: list[list[str]] | None = None) -> PendingArticle:
    """Check ``article`` (:class:`ReaderError` if its text is not valid Unicode, :class:`RecordError`
    if its date cannot be read) and give it its id."""
    _check_text(article)
    if article.date is not None:
        where = f"article {article.id!r}" if article.id else f"article {article.title[:30]!r}"
        date = checked_date(article.date, where)
        if date != article.date:
            article = replace(article, date=date)
    return PendingArticle(article, article_id_for(article), origin, recorded)


def paragraph_docs(pending: PendingArticle, segmenter: Segmenter) -> list[dict[str, Any]]:
    """The article's paragraph documents, analyzed: field name -> value."""
    article = pending.article
    title = article.title or ""
    # Titles keep characters only: each paragraph document repeats its
    # title's postings, and title keywords are rare in queries.
    recorded = pending.recorded
    if recorded is None:
        title_words, title_grams, title_word_list = _text_postings(title, segmenter, analysis.TITLE_GRAMS)
    else:
        title_words, title_grams, title_word_list = _recorded_postings(title, recorded[0], analysis.TITLE_GRAMS)
    grams_setting = segmenter.settings.grams
    # Suffix arrays answer keywords as phrases of characters: not on an index of bigrams.
    suffixes = grams_setting == 1
    # Every paragraph carries its article's metadata (empty lists too: then
    # every segment of paragraphs has the columns, and filters can trust them).
    metadata = {
        "f_source": [article.source] if article.source else [],
        "f_author": article.authors,
        "f_tag": list(article.tags or ()),
        "f_date": [article.date] if article.date else [],
    }
    docs = []
    for ordinal, text in enumerate(article.paragraphs):
        if recorded is None:
            words, grams, word_list = _text_postings(text, segmenter, grams_setting, suffixes)
        else:
            words, grams, word_list = _recorded_postings(text, recorded[ordinal + 1], grams_setting, suffixes)
        extra = {}
        if segmenter.settings.pinyin:
            readings = _pinyin_postings(text, segmenter)
            if readings.items:
                extra["pinyin"] = readings
        docs.append(
            {
                **extra,
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
                **metadata,
            }
        )
    return docs


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


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

    def __init__(self, store: Store, segmenter: Segmenter, lock_timeout: float, batch_size: int = DEFAULT_BATCH_SIZE,
                 workers: int = 1) -> None:
        self._store = store
        self._segmenter = segmenter
        self._lock_timeout = lock_timeout
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
                with writing_to(self._store.path), self._store.writer(self._lock_timeout) as writer:
                    writer.merge_in_child = True
                    writer.background, writer.finish_background = self._background, True
        finally:
            if self._background is not None:
                self._background.kill()  # taken in above unless something failed
                self._background = None

    def add_article(self, article: Article, origin: str | None = None, recorded: list[list[str]] | None = None) -> str:
        """Add (or replace, by id) one article; returns its id.

        Raises :class:`ReaderError` at once for text that is not valid
        Unicode; ``origin`` is the indexed file it came from, if any.
        """
        pending = pending_article(article, origin, recorded)
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
        segmenter = self._segmenter
        writer = None
        committed = False
        try:
            with _gc_paused(), writing_to(self._store.path), self._store.writer(self._lock_timeout) as writer:
                for source in self._deleted_sources:
                    writer.delete_by_term("source", source)
                for source in self._sources.keys() | self._forgotten_sources:
                    # Only the old marker: the file's articles may sit in earlier batches.
                    writer.delete_where(kind="source", source=source)
                writer.delete_present("article_id", self._deleted_ids | set(self._articles), self._store.article_hashes)
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
                    if segmenter.settings.pinyin:
                        _pinyin_postings("重", segmenter)  # pypinyin's dictionaries too
                    for number, part in enumerate(parts, 1):
                        payload = (part, markers if number == len(parts) else [])
                        writer.add_child(
                            self._store.child_segment(payload, lambda w, payload: _write_articles(w, *payload, segmenter))
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
        if self._workers <= 1 or not fork_available() or self._store.path is None:
            return 1
        return self._workers


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
            meta=article_meta(article),
        )
        for doc in docs:
            writer.add_document(source=pending.origin, **doc)
    for source, content_hash in markers:
        writer.add_document(kind="source", source=source, meta={"hash": content_hash})


