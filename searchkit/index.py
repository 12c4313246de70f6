"""searchkit's Python API: :class:`SearchIndex`, an index of articles and their paragraphs.

The storage engine (:mod:`searchkit.engine`) holds the Whoosh files;
:mod:`searchkit.writing` analyses and commits articles, :mod:`searchkit.query`
answers searches and :mod:`searchkit.maintenance` checks and rebuilds. This
module ties them into one object and is what the CLI talks to.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import analysis, readers
from .analysis import AnalyzedToken, AnalyzerSettings, Segmenter, dictionary_hash
from .dictionary import DictionaryReport, changed_words, entries_of, read_entries
from .documents import Article, ArticleInfo, id_forms, stored_article
from .engine import (
    META_FILE,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    ExactID,
    PreparedField,
    RankingWordsField,
    Statistics,
    Store,
    column_values,
    damaged_message,
    local_statistics,
    meta_extras,
    recorded_settings,
    recorded_words,
    settings_mismatch,
    statistics_searcher,
)
from .errors import ArticleNotFoundError, IndexVersionError, SearchkitError
from .ingest import (
    FileRun,
    IndexReport,
    ProgressCallback,
    add_records,
    files_with_articles,
    index_files,
    source_articles,
    source_hashes,
)
from .maintenance import CheckReport, ReindexReport, check_index, check_path, reindex
from .query import (
    Filters,
    QueryPlan,
    SearchPart,
    SearchResult,
    article_highlights,
    explain_query,
    paragraphs_holding,
    parse_query,
    run_search,
    search_part,
    statistics_keys,
)
from .query import (
    has_filter_terms as _has_filter_terms,
)
from .shards import ShardedIndex, is_sharded
from .shards import recorded_settings as sharded_settings
from .synonyms import Synonyms, SynonymsReport, read_rules
from .writing import DEFAULT_BATCH_SIZE, IndexWriter, default_workers

__all__ = [
    "ArticleInfo", "IndexReport", "IndexStats", "IndexWriter", "OptimizeReport", "READABLE_SCHEMA_VERSIONS",
    "SCHEMA_VERSION", "SearchIndex", "TextAnalysis", "analyze", "damaged_message", "recorded_settings",
]

# Indexes built before the storage engine moved pickle their schema's field
# types under this module's name; these names keep them opening.
_PICKLED_HERE = (ExactID, PreparedField, RankingWordsField)


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
    # Segments with suffix arrays but no title table (written before them: optimize adds them).
    segments_without_titles: int = 0
    # A sharded index: how many shards, and where they are (shared storage or the workers' own disks).
    shards: int | None = None
    placement: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        if self.shards is None:
            del data["shards"], data["placement"]
        return data


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




class SearchIndex:
    """A searchkit index on disk (or in memory, for tests and embedding).

    ``SearchIndex(path)`` opens an existing index; ``SearchIndex.create(path)``
    makes one (or opens it if it exists with the same settings);
    ``SearchIndex.in_memory()`` keeps everything in RAM. ``SearchIndex.open(path)``
    opens either kind: this, or a :class:`~searchkit.shards.ShardedIndex`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = False,
        settings: AnalyzerSettings | None = None,
        lock_timeout: float = 30.0,
        _store: Store | None = None,
    ) -> None:
        if settings is None and path is not None:
            settings = recorded_settings(Path(path))  # an index keeps its own analyzer
        self.settings = settings or AnalyzerSettings()
        self.lock_timeout = lock_timeout
        self.path = Path(path) if path is not None else None
        if self.path is not None and is_sharded(self.path):
            raise IndexVersionError(f"index at {self.path} is sharded: open it with SearchIndex.open({str(self.path)!r})")
        if _store is not None:
            self.store = _store
        elif self.path is None:
            raise SearchkitError("an index needs a path (or use SearchIndex.in_memory())")
        else:
            self.store = Store.open(self.path, self.settings, create=create)
        entries = entries_of(self.dictionary())
        if dictionary_hash(entries) != self.settings.dictionary:
            raise IndexVersionError(
                f"index at {self.path} records a user dictionary that does not match its analyzer settings: "
                f"rebuild it with `searchkit --index {self.path} reindex`")
        self.segmenter = Segmenter(self.settings, entries)
        self._synonyms: tuple[Any, Synonyms] = (None, Synonyms([]))

    @classmethod
    def create(cls, path: str | os.PathLike[str], **kwargs: Any) -> SearchIndex:
        return cls(path, create=True, **kwargs)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        settings: AnalyzerSettings | None = None,
        lock_timeout: float = 30.0,
        shards: int | None = None,
        placement: str = "shared",
        scheduler: Any = None,
    ) -> SearchIndex | ShardedIndex:
        """The index at ``path``, of either kind: a :class:`ShardedIndex` where ``path`` holds a
        shard map, else a :class:`SearchIndex` (made if missing, with ``create``).

        With ``shards``, a new index of that many shards is made where ``path`` holds
        no index (``placement``: ``shared``, in ``path`` itself, or ``workers``, on the
        disks of the workers of the Dask cluster at ``scheduler``); an existing sharded
        index must have that many, and a single index is refused.
        ``scheduler`` (an address, or a ``distributed.Client``) is the Dask cluster that
        writes; without it a local one is started for each write.
        """
        if is_sharded(path):
            index = ShardedIndex.open(path, index_class=cls, lock_timeout=lock_timeout,
                                      scheduler=scheduler)
            if shards is not None and shards != index.count:
                index.close()
                raise IndexVersionError(
                    f"index at {path} has {index.count} shard{'s' if index.count != 1 else ''}, not {shards}: "
                    f"give --shards {index.count}, or leave it out")
            if settings is not None and settings != index.settings:
                index.close()
                raise IndexVersionError(settings_mismatch(path, index.settings.to_dict(), settings))
            return index
        if shards is None:
            return cls(path, create=create, settings=settings, lock_timeout=lock_timeout)
        if cls.exists(path):
            raise IndexVersionError(
                f"index at {path} is a single index, not sharded: make the sharded one in another directory "
                "(or leave out --shards to add to this one)")
        return ShardedIndex.create(path, shards, index_class=cls, settings=settings,
                                   placement=placement, scheduler=scheduler, lock_timeout=lock_timeout)

    @classmethod
    def in_memory(cls, **kwargs: Any) -> SearchIndex:
        settings = kwargs.pop("settings", None) or AnalyzerSettings()
        return cls(None, settings=settings, _store=Store.in_memory(settings), **kwargs)

    @staticmethod
    def exists(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` holds a searchkit index, single or sharded (of any version; opening checks the rest)."""
        return (Path(path) / META_FILE).is_file() or is_sharded(path)

    @staticmethod
    def is_sharded(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` holds a sharded index (its shard map); :meth:`open` opens it."""
        return is_sharded(path)

    @staticmethod
    def recorded_settings(path: str | os.PathLike[str]) -> AnalyzerSettings | None:
        """The analyzer settings the index at ``path`` was built with, if it records usable ones."""
        if is_sharded(path):
            return sharded_settings(path)
        return recorded_settings(Path(path))

    @property
    def schema_version(self) -> int:
        """The index's schema version (see :data:`READABLE_SCHEMA_VERSIONS`); the current one once written to."""
        return self.store.schema_version

    def searcher(self) -> Any:
        """A Whoosh searcher for this thread, refreshed when the index changed."""
        return self.store.searcher()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writing

    def writer(self, batch_size: int = DEFAULT_BATCH_SIZE, workers: int = 1) -> IndexWriter:
        """A batch writer; with ``workers`` > 1 a large batch is written by that
        many processes at once (a segment each, committed together)."""
        return IndexWriter(self.store, self.segmenter, self.lock_timeout, batch_size=batch_size, workers=workers)

    def add_article(self, article: Article) -> str:
        """Add one article and commit; returns its id."""
        with self.writer() as writer:
            return writer.add_article(article)

    def add_articles(
        self,
        articles: Iterable[Article | Mapping[str, Any]],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
    ) -> IndexReport:
        """Add (or replace, by id) articles, committing every ``batch_size``.

        Each is an :class:`Article` or a dict in the JSONL form
        (:meth:`Article.from_dict`). A record that is not a valid article
        raises :class:`RecordError` naming it (``record N``, 1-based) and the
        field, after the records before it are committed. An id given twice
        keeps the last record, with a warning in the report.
        """
        workers = default_workers() if workers is None else workers
        return add_records(self.writer(batch_size=batch_size, workers=workers), articles)

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
        prune: bool = False,
    ) -> IndexReport:
        """Index files and folders (``-`` reads ``stdin``), skipping unchanged files.

        A file that fails, or a path that does not exist, is reported and the
        rest goes on; so is each bad record of a JSONL file (its other records
        are indexed; the file is read again next time). A changed file
        replaces its own articles; a file whose content was indexed under a
        path that is gone (it moved) takes over its articles without being
        analysed again. Indexed files under the folders given that are gone
        are reported, and with ``prune`` their articles removed.
        """
        searcher = self.searcher()  # the index as the run found it
        run = FileRun(source_hashes(searcher), lambda: files_with_articles(searcher),
                      lambda source: source_articles(searcher, source))
        workers = default_workers() if workers is None else workers
        return index_files(self.writer(batch_size=batch_size, workers=workers), run, paths, fmt=fmt, include=include,
                           exclude=exclude, stdin=stdin, progress=progress, prune=prune)

    # What a sharded index asks of each shard for an indexing run.

    def source_hashes(self) -> dict[str, str]:
        """Each file indexed whole: its path -> its content hash when indexed."""
        return source_hashes(self.searcher())

    def files_with_articles(self) -> frozenset[str]:
        """The files that articles here came from."""
        return files_with_articles(self.searcher())

    def source_articles(self, source: str) -> list[tuple[Article, list[list[str]] | None]]:
        """The articles of the file ``source`` as stored, with the words recorded for them."""
        return source_articles(self.searcher(), source)

    def _indexed_files(self) -> set[str]:
        searcher = self.searcher()
        return set(source_hashes(searcher)) | files_with_articles(searcher)

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
        sources = self._indexed_files()
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
        for candidate in id_forms(article_id):  # (ids of files are absolute paths; one relative to here is taken too)
            result: dict[str, Any] | None = searcher.document(kind="article", article_id=candidate)
            if result is not None:
                return result
        return None

    def get_article(self, article_id: str) -> ArticleInfo:
        doc = self._article_doc(article_id)
        if doc is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        paragraphs = sorted(
            self.searcher().documents(kind="paragraph", article_id=doc["article_id"]), key=lambda d: d["ordinal"]
        )
        return ArticleInfo.from_stored(doc, [p["text"] for p in paragraphs])

    @staticmethod
    def highlights(article: ArticleInfo, query: str) -> dict[str, Any]:
        """Where ``query``'s keywords are in ``article`` (from :meth:`get_article`):
        ``{"title": [[start, end], ...], "paragraphs": [[[start, end], ...], ...]}``,
        character offsets as in a hit's snippet."""
        title, paragraphs = article_highlights(query, article.title, article.paragraphs)
        return {"title": [list(span) for span in title], "paragraphs": [[list(span) for span in spans] for spans in paragraphs]}

    def list_articles(self) -> Iterator[ArticleInfo]:
        """Every article (paragraph texts not loaded: ``paragraphs`` holds empty strings)."""
        docs = sorted(self.searcher().documents(kind="article"), key=lambda d: d["article_id"])
        for doc in docs:
            yield ArticleInfo.from_stored(doc, [""] * int((doc.get("meta") or {}).get("paragraphs", 0)))

    def count(self, kind: str) -> int:
        return sum(1 for _ in self.searcher().document_numbers(kind=kind))

    def stats(self) -> IndexStats:
        suffix_segments, without_arrays = self.store.suffix_array_counts()
        return IndexStats(
            path=str(self.path) if self.path else None,
            articles=self.count("article"),
            paragraphs=self.count("paragraph"),
            sources=self.count("source"),
            segments=len(self.store.segment_readers()),
            size_bytes=self.store.size_bytes(),
            schema_version=self.schema_version,
            analyzer=self.settings.to_dict(),
            suffix_segments=suffix_segments,
            segments_without_arrays=without_arrays,
            segments_without_titles=self.store.segments_without_titles(),
        )

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        offset: int = 0,
        level: str = "article",
        sort: str = "relevance",
        facets: Sequence[str] = (),
        source: Sequence[str] | str = (),
        author: Sequence[str] | str = (),
        tag: Sequence[str] | str = (),
        date_from: str | None = None,
        date_to: str | None = None,
        max_chars: int = 120,
        synonyms: bool = True,
        allow_partial: bool = False,
    ) -> SearchResult:
        """Ranked hits with highlighted snippets. See :mod:`searchkit.query`.

        ``source``, ``author``, ``tag`` (any of the values given), ``date_from``
        and ``date_to`` (both included) filter the matches, as the query's own
        ``source:``, ``author:``, ``tag:`` and ``date:`` do; ``facets`` counts
        every match by ``source``, ``author``, ``tag``, ``year`` or ``month``;
        ``sort`` is ``relevance``, ``date`` or ``-date``; ``offset`` pages.
        With ``synonyms`` (the default), each keyword also matches its
        synonyms in the index's list (:meth:`set_synonyms`). ``allow_partial`` is for a
        sharded index (:meth:`ShardedIndex.search`); one index has no shard to miss.
        """
        options = self._search_options(query, limit=limit, offset=offset, level=level, sort=sort, facets=facets,
                                       source=source, author=author, tag=tag, date_from=date_from, date_to=date_to,
                                       max_chars=max_chars, synonyms=synonyms)
        return run_search(self.searcher(), self.settings.grams, query, **options)

    def _search_options(self, query: str, *, limit: int = 10, offset: int = 0, level: str = "article",
                        sort: str = "relevance", facets: Sequence[str] = (), source: Sequence[str] | str = (),
                        author: Sequence[str] | str = (), tag: Sequence[str] | str = (), date_from: str | None = None,
                        date_to: str | None = None, max_chars: int = 120, synonyms: bool = True) -> dict[str, Any]:
        """:meth:`search`'s options as :func:`run_search` takes them (metadata checked where they need it)."""
        filters = Filters.of(source=source, author=author, tag=tag, date_from=date_from, date_to=date_to)
        if filters or facets or sort != "relevance" or _has_filter_terms(query):
            self._require_metadata()
        return {"limit": limit, "offset": offset, "level": level, "sort": sort, "facets": facets, "filters": filters,
                "max_chars": max_chars, "synonyms": self._synonym_table() if synonyms else None,
                "pinyin": self.settings.pinyin}

    # -- as a shard of a sharded index (searchkit.fanout asks; each call is one round of a search)

    def term_statistics(self, query: str | None, keys: Iterable[tuple[str, bytes]] = (), *,
                        synonyms: bool = True) -> Statistics:
        """This index's counts for scoring: documents, field lengths, and the frequencies of the terms
        a search of ``query`` reads (see :func:`statistics_keys`) and of ``keys``."""
        searcher = self.searcher()
        wanted = list(keys)
        if query is not None:
            table = self._synonym_table() if synonyms else None
            wanted = statistics_keys(searcher, self.settings.grams, query, table, self.settings.pinyin) + wanted
        return local_statistics(searcher, wanted)

    def search_part(self, query: str, statistics: Statistics, shard: int, fallback: bool | None = None,
                    **options: Any) -> SearchPart:
        """This index's part of a search (:meth:`search`'s ``options``) over shards, scored with the
        shards' summed ``statistics``; ``shard`` is its number (ties go to the lower)."""
        searcher = statistics_searcher(self.searcher(), statistics)
        return search_part(searcher, self.settings.grams, query, shard=shard, fallback=fallback,
                           **self._search_options(query, **options))

    def explain_part(self, query: str, statistics: Statistics, *, synonyms: bool = True
                     ) -> tuple[QueryPlan, set[tuple[str, bytes]]]:
        """:meth:`explain` scored with the shards' summed ``statistics``, and the terms they lacked."""
        searcher = statistics_searcher(self.searcher(), statistics)
        plan = explain_query(searcher, self.settings.grams, query,
                             synonyms=self._synonym_table() if synonyms else None, pinyin=self.settings.pinyin)
        return plan, set(searcher.missing)

    def _require_metadata(self) -> None:
        lacking = self.store.segments_without_metadata()
        if lacking:
            raise IndexVersionError(
                f"index at {self.path} has {lacking} segment{'s' if lacking != 1 else ''} written before metadata "
                f"filters, facets and sorting: run `searchkit --index {self.path} reindex` to add them"
            )

    def explain(self, query: str, *, synonyms: bool = True) -> QueryPlan:
        """What :meth:`search` does with ``query`` here: its keywords, their exact grams and synonyms,
        the lexicon's split, and the ranking words with their document frequencies."""
        return explain_query(self.searcher(), self.settings.grams, query,
                             synonyms=self._synonym_table() if synonyms else None, pinyin=self.settings.pinyin)

    # -- synonyms (see searchkit.synonyms): applied at query time, no reindex

    def synonyms(self) -> list[str]:
        """The index's synonym rules, one line each, as set (an empty list when it has none)."""
        rules = self.store.setting("synonyms")
        return [rule for rule in rules if isinstance(rule, str)] if isinstance(rules, list) else []

    def set_synonyms(self, rules: Iterable[str], *, where: str = "synonyms") -> SynonymsReport:
        """Make ``rules`` (lines in the Solr synonyms format) the index's synonyms, replacing
        any before. A malformed line is skipped and reported as ``where:LINE: reason``; the
        rest is set. Searches apply the list from then on; nothing is reindexed."""
        kept, report = read_rules(rules, where)
        self.store.set_setting("synonyms", kept or None, self.lock_timeout)
        return report

    def load_synonyms(self, path: str | os.PathLike[str]) -> SynonymsReport:
        """:meth:`set_synonyms` with the lines of the file at ``path`` (UTF-8, GB18030 or Big5),
        naming it in the report. :class:`ReaderError` if it cannot be read (nothing changes)."""
        return self.set_synonyms(readers.read_lines(path), where=os.fspath(path))

    def clear_synonyms(self) -> int:
        """Remove the index's synonyms; returns how many rules there were."""
        count = len(self.synonyms())
        if count or self.store.setting("synonyms") is not None:
            self.store.set_setting("synonyms", None, self.lock_timeout)
        return count

    # -- the user dictionary (see searchkit.dictionary)

    def dictionary(self) -> list[str]:
        """The index's user dictionary, one word a line, as set (an empty list when it has none)."""
        lines = self.store.setting("dictionary")
        return [line for line in lines if isinstance(line, str)] if isinstance(lines, list) else []

    def set_dictionary(self, lines: Iterable[str], *, where: str = "dictionary") -> DictionaryReport:
        """Make ``lines`` (jieba's user-dictionary format) the index's own words, replacing any before.

        A malformed line is skipped and reported as ``where:LINE: reason``; the
        rest is set. The index then records the new dictionary, and only the
        paragraphs (and titles) holding a word that changed (added, removed,
        or given another frequency or tag), found by exact search, are
        analysed again; the report counts them. An earlier change that was
        interrupted is completed too.
        """
        kept, entries, report = read_entries(lines, where)
        old = entries_of(self.dictionary())
        pending = self.store.setting("dictionary_changed")  # words of a change that did not finish
        changed = changed_words(old, entries)
        if isinstance(pending, list):
            changed |= {word for word in pending if isinstance(word, str)}
        settings = replace(self.settings, dictionary=dictionary_hash(entries))
        # Recorded first, with the words still to re-analyse: another process's writer now
        # refuses to write with the old dictionary, and an interruption is completed next time.
        self.store.change_settings(
            settings, {"dictionary": kept or None, "dictionary_changed": sorted(changed) or None}, self.lock_timeout)
        self.settings = settings
        self.segmenter = Segmenter(settings, entries)
        report.changed = len(changed)
        if changed:
            report.paragraphs, report.titles, report.articles = self._reanalyse(sorted(changed))
        if pending is not None or changed:
            self.store.set_setting("dictionary_changed", None, self.lock_timeout)
        return report

    def load_dictionary(self, path: str | os.PathLike[str]) -> DictionaryReport:
        """:meth:`set_dictionary` with the lines of the file at ``path`` (UTF-8, GB18030 or Big5),
        naming it in the report. :class:`ReaderError` if it cannot be read (nothing changes)."""
        return self.set_dictionary(readers.read_lines(path), where=os.fspath(path))

    def clear_dictionary(self) -> DictionaryReport:
        """Remove the user dictionary (re-analysing the paragraphs holding its words)."""
        return self.set_dictionary([])

    def _reanalyse(self, words: Sequence[str]) -> tuple[int, int, int]:
        """Analyse again the paragraphs and titles holding any of ``words``: (paragraphs, titles, articles).

        Their articles are written again; a paragraph that holds none of the
        words keeps the words the index recorded for it (the column of words),
        so nothing else is cut again (but in segments written before that column).
        """
        searcher = self.searcher()
        grams = self.settings.grams
        in_text = paragraphs_holding(searcher, grams, words)
        in_title = paragraphs_holding(searcher, grams, words, title=True)
        article_ids = sorted(set(column_values(searcher, "article_id", sorted(in_text | in_title))))
        paragraphs = titles = 0
        cut = self.segmenter.words
        with self.writer(workers=default_workers()) as writer:
            for article_id in article_ids:
                # By the article id alone: with kind= too, Whoosh would intersect with every paragraph's.
                stored = [(n, searcher.stored_fields(n)) for n in searcher.document_numbers(article_id=article_id)]
                fields = next((f for _n, f in stored if f.get("kind") == "article"), None)
                if fields is None:
                    continue
                docs = sorted((f["ordinal"], n) for n, f in stored if f.get("kind") == "paragraph")
                texts = [searcher.stored_fields(n)["text"] for _ordinal, n in docs]
                old = [recorded_words(searcher, n) for _ordinal, n in docs]
                title_changed = any(n in in_title for _ordinal, n in docs)
                recorded: list[list[str]] | None = None
                if docs and all(words_of is not None for words_of in old):
                    title = fields.get("title") or ""
                    recorded = [[w for w, _s, _e in cut(analysis.fold(title))] if title_changed else old[0][1]]  # type: ignore[index]
                    for (_ordinal, n), text, words_of in zip(docs, texts, old):
                        recorded.append([w for w, _s, _e in cut(analysis.fold(text))] if n in in_text else words_of[0])  # type: ignore[index]
                    paragraphs += sum(1 for _ordinal, n in docs if n in in_text)
                else:  # no recorded words: all of it is cut again
                    paragraphs += len(docs)
                titles += title_changed
                writer.add_article(stored_article(fields, texts), origin=fields.get("source"), recorded=recorded)
        return paragraphs, titles, len(article_ids)

    def _synonym_table(self) -> Synonyms:
        rules = self.store.setting("synonyms")
        if rules is not self._synonyms[0]:  # the same list while searchkit.json is unchanged
            self._synonyms = (rules, Synonyms(self.synonyms()))
        return self._synonyms[1]

    def analyze(self, text: str) -> TextAnalysis:
        """How this index's analyzer (its user dictionary included) cuts ``text`` at index time."""
        return analyze_text(text, self.segmenter)

    def optimize(self, progress: ProgressCallback | None = None) -> OptimizeReport:
        """Merge every segment into one, leaving deleted documents out (a lone
        segment written before title tables is rewritten with its table).

        Each query visits every segment, so an index that is done growing
        answers faster merged; the merge rewrites it all and needs memory in
        proportion to the index (``benchmarks/RESULTS.md`` has the figures
        and the commands that measured them). Holds the write lock;
        interrupted, the index stays as it was.
        ``progress`` gets ``("start", segments + 1)``, then an
        ``("advance", 1)`` per segment read and one when the merged segment
        is written.
        """
        return OptimizeReport(*self.store.merge_all(self.lock_timeout, progress))

    # -- maintenance (see searchkit.maintenance)

    def check(self, postings: bool = True) -> CheckReport:
        """Verify this index: segments, stored documents, postings, consistency."""
        return check_index(self.store, postings=postings)

    @classmethod
    def check_path(cls, path: str | os.PathLike[str], *, settings: AnalyzerSettings | None = None,
                   postings: bool = True, files: bool = True) -> CheckReport:
        """Verify the index at ``path``; an index that cannot be opened is a problem, not an error.

        Raises :class:`IndexNotFoundError` only when there is no index at all. Without
        ``files``, the records of indexed files are not checked against the articles
        (a shard's files' articles are in every shard: its sharded index checks them).
        """
        if is_sharded(path):
            with cls.open(path) as index:
                return index.check(postings=postings)
        return check_path(Path(path), settings=settings, postings=postings, files=files)

    @classmethod
    def reindex(cls, path: str | os.PathLike[str], *, settings: AnalyzerSettings | None = None,
                lock_timeout: float = 30.0, batch_size: int = DEFAULT_BATCH_SIZE,
                workers: int | None = None) -> ReindexReport:
        """Rebuild the index at ``path`` from its own stored documents, then swap it in.

        Works on an index of another schema version or analyzer settings (or
        with an unreadable ``searchkit.json``) as long as Whoosh can read its
        stored fields. The new index is built next to the old one and
        exchanged with it by rename, so an interruption leaves the old one
        intact. Holds the index's write lock throughout. A sharded index rebuilds each shard so.
        """
        if is_sharded(path):
            with cls.open(path, lock_timeout=lock_timeout) as index:
                return index.reindex(settings=settings, batch_size=batch_size, workers=workers)
        if settings is None:  # this searchkit's analyzer, with the index's own choice of grams and pinyin
            recorded = recorded_settings(Path(path)) or AnalyzerSettings()
            settings = AnalyzerSettings(grams=recorded.grams, pinyin=recorded.pinyin)
        return reindex(Path(path), settings=settings, lock_timeout=lock_timeout,
                       batch_size=batch_size, workers=default_workers() if workers is None else workers)

    def damage_message(self, error: BaseException) -> str | None:
        """After an unexpected ``error``: the message for a damaged index if a full check finds this one damaged.

        Opening verifies the segments, but damage inside one shows only when
        that part is read; a full check tells a damaged index from a bug.
        """
        if self.path is None:
            return None
        try:
            report = self.check()
        except Exception:
            return damaged_message(self.path, error)
        return None if report.ok else damaged_message(self.path, error)

    def destroy(self) -> None:
        """Delete the index directory (only a directory that holds a searchkit index)."""
        self.close()
        if self.path is not None and (self.path / META_FILE).exists():
            shutil.rmtree(self.path)


@dataclass
class TextAnalysis:
    """What the analyzer makes of a text at index time (``analyze``)."""

    text: str
    normalized: str
    tokens: list[AnalyzedToken]
    grams: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "normalized": self.normalized,
            "tokens": [token.__dict__.copy() for token in self.tokens],
            "grams": self.grams,
        }


def analyze_text(text: str, segmenter: Segmenter) -> TextAnalysis:
    normalized, tokens = analysis.analyze(text, segmenter)
    grams = analysis.gram_terms(analysis.gram_stream(normalized)[0], segmenter.settings.grams)
    return TextAnalysis(text, normalized, tokens, grams)


def analyze(path: str | os.PathLike[str], text: str, *, query: bool = False,
            lock_timeout: float = 30.0) -> TextAnalysis | QueryPlan:
    """``analyze`` on the index at ``path``: how its analyzer cuts ``text``
    (the default analyzer where no index is there yet), or with ``query``
    what a search for ``text`` does there (:meth:`SearchIndex.explain`).

    A query that cannot be answered raises :class:`QueryError` before the index is opened.
    """
    if query:
        parse_query(text)
        with SearchIndex.open(path, lock_timeout=lock_timeout) as index:
            return index.explain(text)
    if is_sharded(path):
        with SearchIndex.open(path, lock_timeout=lock_timeout) as index:
            return index.analyze(text)  # type: ignore[no-any-return]
    settings = recorded_settings(Path(path)) or AnalyzerSettings()
    lines = meta_extras(Path(path)).get("dictionary") if settings.dictionary else None
    entries = entries_of([line for line in lines if isinstance(line, str)]) if isinstance(lines, list) else []
    if dictionary_hash(entries) != settings.dictionary:
        settings = replace(settings, dictionary="")  # opening the index would refuse it: the plain analyzer
        entries = []
    return analyze_text(text, Segmenter(settings, entries))


