"""An indexing run: files and records read, checked against what the index holds, handed to a writer.

What ``searchkit index`` does with its inputs, whatever writes them: one
index's :class:`~searchkit.writing.IndexWriter`, or the writer of a sharded
index, which sends each article to its shard (:mod:`searchkit.shards`).
Unchanged files are skipped, a changed file replaces its own articles, a
moved file takes its articles along, and every bad file or record is
reported (``path:line: reason``) while the rest goes on.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import readers
from .documents import Article, stored_article
from .engine import recorded_words
from .errors import EmptySourceError, ReaderError, SearchkitError

__all__ = ["ArticleWriter", "FileRun", "IndexReport", "ProgressCallback", "add_records", "files_with_articles",
           "index_files", "source_articles", "source_hashes"]

ProgressCallback = Callable[[str, int], None]
# A file's articles as the index holds them: each with the words it recorded
# for the title and each paragraph (None where it recorded none).
StoredArticles = list[tuple[Article, list[list[str]] | None]]


@dataclass
class IndexReport:
    """What an indexing run did, per source file."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, message): read or found nothing
    articles: int = 0
    paragraphs: int = 0
    # (file, message) per record skipped: the file's other records were indexed.
    failed_records: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # a repeated id: the last record wins
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path): same content
    gone: list[str] = field(default_factory=list)  # indexed files under the folders given, no longer there
    pruned: list[str] = field(default_factory=list)  # gone files whose articles were removed (--prune)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.failed_records

    def summary(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed"
        )
        if self.moved:
            text += f", {len(self.moved)} moved"
        if self.failed_records:
            files = len({name for name, _message in self.failed_records})
            text += f", {len(self.failed_records)} failed records in {files} file{'s' if files != 1 else ''}"
        text += f" ({self.articles} articles, {self.paragraphs} paragraphs written)"
        if self.gone:
            text += f"; {len(self.gone)} gone: use --prune to remove their articles"
        if self.pruned:
            text += f"; {len(self.pruned)} gone and pruned"
        return text


class ArticleWriter(Protocol):
    """What a run writes through (:class:`~searchkit.writing.IndexWriter` is one): a context manager
    that commits what it holds on a clean exit and drops it on an exception."""

    articles_written: int
    paragraphs_written: int

    def __enter__(self) -> Any: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any: ...
    def add_article(self, article: Article, origin: str | None = None,
                    recorded: list[list[str]] | None = None) -> str: ...
    def replace_source(self, source: str) -> None: ...
    def finish_source(self, source: str, content_hash: str) -> None: ...
    def forget_source(self, source: str) -> None: ...


# --------------------------------------------------------------------------
# What an index holds of its files (asked of each shard of a sharded index)


def source_hashes(searcher: Any) -> dict[str, str]:
    """Each file indexed whole: its path -> its content hash when indexed."""
    return {fields["source"]: fields["meta"]["hash"] for fields in searcher.documents(kind="source")}


def files_with_articles(searcher: Any) -> frozenset[str]:
    """Files that articles in the index came from (a file that failed part way has no record, but articles)."""
    return frozenset(d["source"] for d in searcher.documents(kind="article") if d.get("source"))


def source_articles(searcher: Any, source: str) -> StoredArticles:
    """The articles of ``source`` as stored, each with its recorded words (None if any paragraph has none)."""
    found: StoredArticles = []
    for docnum in list(searcher.document_numbers(kind="article", source=source)):
        fields = searcher.stored_fields(docnum)
        paragraphs = sorted(
            (searcher.stored_fields(n)["ordinal"], n)
            for n in searcher.document_numbers(kind="paragraph", article_id=fields["article_id"])
        )
        texts = [searcher.stored_fields(n)["text"] for _ordinal, n in paragraphs]
        words = [recorded_words(searcher, n) for _ordinal, n in paragraphs]
        recorded = None
        if words and all(w is not None for w in words):
            recorded = [words[0][1], *(w[0] for w in words)]  # type: ignore[index]
        found.append((stored_article(fields, texts), recorded))
    return found


class FileRun:
    """What one run knows of the index: the files indexed before, ids seen, files moved.

    ``known`` maps each file indexed whole to its content hash;
    ``with_articles`` gives the files articles came from, and ``stored`` a
    file's stored articles (for a move); both are asked once, when needed.
    """

    def __init__(self, known: dict[str, str], with_articles: Callable[[], frozenset[str]],
                 stored: Callable[[str], StoredArticles]) -> None:
        self.known = known  # file -> content hash, as recorded
        self.seen_ids: dict[str, str] = {}
        self.moved_from: set[str] = set()
        self.stored = stored
        self._with_articles = with_articles
        self._gone_by_hash: dict[str, str] | None = None

    def moved(self, name: str, content_hash: str) -> str | None:
        """The recorded file, now gone, that held this content (``name`` is new), if any."""
        if self._gone_by_hash is None:
            self._gone_by_hash = {h: path for path, h in sorted(self.known.items()) if not os.path.exists(path)}
        old = self._gone_by_hash.pop(content_hash, None)
        if old is not None:
            self.moved_from.add(old)
            del self.known[old]
        return old

    @functools.cache
    def files_with_articles(self) -> frozenset[str]:
        return self._with_articles()

    def indexed_files(self) -> set[str]:
        return set(self.known) | self.files_with_articles()


# --------------------------------------------------------------------------
# Runs


def add_records(writer: ArticleWriter, articles: Iterable[Article | Mapping[str, Any]]) -> IndexReport:
    """Write ``articles`` (each an :class:`Article` or a dict in the JSONL form) through ``writer``.

    A record that is not a valid article raises :class:`RecordError` naming
    it (``record N``, 1-based) and the field, after the records before it are
    committed. An id given twice keeps the last record, with a warning.
    """
    report = IndexReport()
    seen: dict[str, str] = {}
    failure: SearchkitError | None = None
    with writer:
        for number, item in enumerate(articles, 1):
            where = f"record {number}"
            try:
                article = item if isinstance(item, Article) else Article.from_dict(item, where=where)
                article_id = writer.add_article(article)
            except ReaderError as error:
                failure = error
                break
            note_repeat(report, seen, article_id, where)
    report.articles = writer.articles_written
    report.paragraphs = writer.paragraphs_written
    report.added = report.articles
    if failure is not None:
        raise failure
    return report


def index_files(
    writer: ArticleWriter,
    run: FileRun,
    paths: Sequence[str | os.PathLike[str]],
    *,
    fmt: str = "auto",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    stdin: Any = None,
    progress: ProgressCallback | None = None,
    prune: bool = False,
) -> IndexReport:
    """Index files and folders (``-`` reads ``stdin``) through ``writer``: see ``SearchIndex.add_files``."""
    report = IndexReport()
    plain = [Path(p) for p in paths if str(p) != "-"]
    missing: list[str] = []
    file_paths = list(readers.iter_paths(plain, include=include, exclude=exclude, missing=missing))
    report.failed.extend((name, f"no such file or directory: {name}") for name in missing)
    use_stdin = any(str(p) == "-" for p in paths)
    if progress:
        progress("start", len(file_paths) + int(use_stdin))
    with writer:
        if use_stdin:
            opener = lambda: readers.read_stream(stdin, fmt=fmt)
            _add_source(writer, report, run, opener, "<stdin>")
            if progress:
                progress("advance", 1)
        for file_path in file_paths:
            opener = lambda p=file_path: readers.open_source(p, fmt=fmt)
            _add_source(writer, report, run, opener, str(file_path))
            if progress:
                progress("advance", 1)
        folders = [readers.display_name(p).rstrip("/") + "/" for p in plain if p.is_dir()]
        for name in sorted(run.indexed_files()):
            if name.startswith(tuple(folders)) and name not in run.moved_from and not os.path.exists(name):
                if prune:
                    writer.replace_source(name)
                    writer.forget_source(name)
                    report.pruned.append(name)
                else:
                    report.gone.append(name)
    report.articles = writer.articles_written
    report.paragraphs = writer.paragraphs_written
    return report


def _add_source(
    writer: ArticleWriter,
    report: IndexReport,
    run: FileRun,
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
    previous = run.known.get(source.name)
    if previous == source.content_hash:
        report.unchanged += 1
        return
    known_file = previous is not None or source.name in run.files_with_articles()
    moved_from = None if known_file else run.moved(source.name, source.content_hash)
    if moved_from is not None:
        _move_source(writer, run, moved_from, source.name)
        writer.finish_source(source.name, source.content_hash)
        run.known[source.name] = source.content_hash
        report.moved.append((moved_from, source.name))
        return
    count = 0
    bad: list[tuple[str, str]] = []
    try:
        for article in source.articles(bad=lambda error: bad.append((source.name, str(error)))):
            if count == 0:
                # Old articles of this file go only once the new ones read.
                writer.replace_source(source.name)
            article_id = writer.add_article(article, origin=source.name)
            lines = article.lines
            note_repeat(report, run.seen_ids, article_id, f"{source.name}:{lines[0]}" if lines else source.name)
            count += 1
    except ReaderError as exc:
        # What was read stays; no marker, so the next run redoes the file.
        report.failed_records.extend(bad)
        report.failed.append((display, str(exc)))
        return
    report.failed_records.extend(bad)
    if count == 0:
        if not bad:
            report.skipped.append((display, f"{source.name}: no articles found, skipped"))
        return
    if not bad:  # with bad records, no marker: the next run reads the file again and reports them again
        writer.finish_source(source.name, source.content_hash)
        run.known[source.name] = source.content_hash
    if previous is None:  # no record: a new file, or one whose indexing never finished
        report.added += 1
    else:
        report.updated += 1


def _move_source(writer: ArticleWriter, run: FileRun, old: str, new: str) -> None:
    """Give ``old``'s articles to ``new`` (the same content): their ids and file
    change, their words come from the column of words (jieba is not run again,
    but for articles from segments written before that column)."""
    for article, recorded in run.stored(old):
        old_id = article.id or ""
        article.id = new + old_id[len(old):] if old_id.startswith(old) else old_id
        writer.add_article(article, origin=new, recorded=recorded)
    writer.replace_source(old)
    writer.forget_source(old)


def note_repeat(report: IndexReport, seen: dict[str, str], article_id: str, where: str) -> None:
    """Warn when ``article_id`` came earlier in this run (the last record wins)."""
    earlier = seen.get(article_id)
    if earlier is not None:
        report.warnings.append(f"{where}: id {article_id!r} repeats {earlier}; the last one is kept")
    seen[article_id] = where
