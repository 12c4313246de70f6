"""Verifying an index (``searchkit check``) and rebuilding it from its own
stored documents (``searchkit reindex``).

Both read the index without trusting ``searchkit.json``'s schema version or
analyzer settings: ``check`` reports a mismatch as a problem, ``reindex`` is
how a mismatch is repaired.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .analysis import AnalyzerSettings, Segmenter, dictionary_hash
from .dictionary import entries_of
from .documents import stored_article
from .engine import (
    Store,
    check_reindexable,
    existing_directory,
    meta_extras,
    meta_problem,
    no_toc_message,
    recorded_settings,
    scan_segments,
    write_lock,
    writing_to,
)
from .errors import CorruptIndexError, SearchkitError
from .writing import IndexWriter

__all__ = ["CheckReport", "ReindexReport", "check_index", "check_path", "file_counts", "file_findings", "reindex"]

MAX_LISTED = 20  # problems of one kind listed one by one; the rest are counted


@dataclass
class CheckReport:
    """What ``check`` found. ``problems`` make the index unfit; ``notes`` do not."""

    path: str | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    segments: int = 0
    documents: int = 0
    articles: int = 0
    paragraphs: int = 0
    sources: int = 0
    terms: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["ok"] = self.ok
        return data


@dataclass
class ReindexReport:
    """What ``reindex`` rebuilt."""

    path: str
    articles: int = 0
    paragraphs: int = 0
    sources: int = 0
    dropped_paragraphs: int = 0  # paragraphs whose article document was missing

    def summary(self) -> str:
        text = f"{self.articles} articles, {self.paragraphs} paragraphs, {self.sources} source files"
        if self.dropped_paragraphs:
            text += f"; dropped {self.dropped_paragraphs} paragraphs that had no article"
        return text


def _name(exc: BaseException) -> str:
    return type(exc).__name__


class _Problems:
    """Collects problems, listing at most MAX_LISTED of each kind."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        self.counts: Counter[str] = Counter()

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_LISTED:
            self.report.problems.append(message)

    def finish(self) -> None:
        for kind, count in self.counts.items():
            if count > MAX_LISTED:
                self.report.problems.append(f"... and {count - MAX_LISTED} more {kind} problems")


def check_path(path: Path, settings: AnalyzerSettings | None = None, postings: bool = True,
               files: bool = True) -> CheckReport:
    """Check the index at ``path``; without ``files``, not its records of indexed files against
    its articles (a shard of a sharded index: see :func:`file_findings`)."""
    settings = settings or recorded_settings(path) or AnalyzerSettings()
    existing_directory(path)
    report = CheckReport(path=str(path))
    problem = meta_problem(path, settings)
    if problem:
        report.problems.append(problem)
    if meta_extras(path).get("dictionary_changed"):
        report.problems.append(
            f"index at {path} is part way through a change of its user dictionary: set it again with "
            f"`searchkit --index {path} dictionary FILE` (or rebuild it with `searchkit --index {path} reindex`)")
    try:
        store = Store.open_unchecked(path, settings)
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        report.problems.append(no_toc_message(path, exc))
        return report
    return _check_store(store, report, postings, files)


def check_index(store: Store, postings: bool = True) -> CheckReport:
    report = CheckReport(path=str(store.path) if store.path is not None else None)
    return _check_store(store, report, postings)


def file_counts(path: Path) -> tuple[Counter[str], Counter[str]]:
    """The index's records of indexed files (how many per file) and its articles per file."""
    store = Store.open_unchecked(path, recorded_settings(path) or AnalyzerSettings())
    reader = store.reader()
    try:
        markers: Counter[str] = Counter()
        with_articles: Counter[str] = Counter()
        for _docnum, fields in reader.iter_docs():
            if fields.get("kind") == "source" and fields.get("source"):
                markers[fields["source"]] += 1
            elif fields.get("kind") == "article" and fields.get("source"):
                with_articles[fields["source"]] += 1
        return markers, with_articles
    finally:
        reader.close()


def file_findings(markers: Counter[str], with_articles: Counter[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Problems ((kind, message)) and notes from the records of indexed files and the articles per file."""
    problems = []
    for source, count in markers.items():
        if count > 1:
            problems.append(("source", f"file {source} is recorded {count} times as indexed"))
        if not with_articles.get(source):
            problems.append(("source", f"file {source} is recorded as indexed but has no articles"))
    notes = []
    unfinished = [s for s in with_articles if s not in markers]
    if unfinished:
        articles = sum(with_articles[s] for s in unfinished)
        notes.append(
            f"{articles} articles from {len(unfinished)} files whose indexing did not finish "
            "(an interrupted run or a failed file): index those files again"
        )
    return problems, notes


def _check_store(store: Store, report: CheckReport, postings: bool, files: bool = True) -> CheckReport:
    problems = _Problems(report)
    expected: dict[str, int] = {}  # article id -> paragraph count in its meta
    origins: dict[str, str | None] = {}
    ordinals: dict[str, list[int]] = defaultdict(list)
    markers: Counter[str] = Counter()

    def document(segment: str, fields: dict[str, Any]) -> None:
        _check_document(fields, segment, problems, expected, origins, ordinals, markers)

    scan = scan_segments(store, postings, document, problems.add)
    report.segments, report.documents, report.terms = scan.segments, scan.documents, scan.terms
    report.articles = len(expected)
    report.paragraphs = sum(len(o) for o in ordinals.values())
    report.sources = len(markers)
    for article_id, found in ordinals.items():
        if article_id not in expected:
            problems.add("orphan", f"{len(found)} paragraphs of article {article_id!r} have no article document")
    for article_id, count in expected.items():
        found = sorted(ordinals.get(article_id, ()))
        if found != list(range(count)):
            problems.add(
                "paragraph",
                f"article {article_id!r} should have paragraphs 0..{count - 1}, has {_ordinals_text(found)}",
            )
    if files:
        found, notes = file_findings(markers, Counter(origin for origin in origins.values() if origin))
        for kind, message in found:
            problems.add(kind, message)
        report.notes.extend(notes)
    problems.finish()
    return report


def _ordinals_text(found: list[int]) -> str:
    if not found:
        return "none"
    if len(found) > 8:
        return f"{len(found)} ({found[0]}..{found[-1]})"
    return ", ".join(map(str, found))


def _check_document(
    fields: dict[str, Any],
    segment: str,
    problems: _Problems,
    expected: dict[str, int],
    origins: dict[str, str | None],
    ordinals: dict[str, list[int]],
    markers: Counter[str],
) -> None:
    kind = fields.get("kind")
    article_id = fields.get("article_id")
    if kind == "article":
        meta = fields.get("meta")
        if not isinstance(article_id, str) or not isinstance(meta, dict):
            problems.add("document", f"segment {segment}: an article document without id or metadata")
            return
        if article_id in expected:
            problems.add("duplicate", f"article {article_id!r} is stored more than once")
        expected[article_id] = int(meta.get("paragraphs") or 0)
        origins[article_id] = fields.get("source")
    elif kind == "paragraph":
        ordinal = fields.get("ordinal")
        if not isinstance(article_id, str) or not isinstance(ordinal, int) or not isinstance(fields.get("text"), str):
            problems.add("document", f"segment {segment}: a paragraph document without article id, ordinal or text")
            return
        ordinals[article_id].append(ordinal)
    elif kind == "source":
        source = fields.get("source")
        meta = fields.get("meta")
        if not isinstance(source, str) or not isinstance(meta, dict) or not isinstance(meta.get("hash"), str):
            problems.add("document", f"segment {segment}: a source record without file name or hash")
            return
        markers[source] += 1
    else:
        problems.add("document", f"segment {segment}: a document of unknown kind {kind!r}")


# --------------------------------------------------------------------------
# Reindex


def reindex(
    path: Path,
    settings: AnalyzerSettings,
    lock_timeout: float,
    batch_size: int,
    workers: int,
) -> ReindexReport:
    check_reindexable(path, settings)
    with write_lock(path, lock_timeout):
        return _rebuild(path, settings, lock_timeout, batch_size, workers)


def _rebuild(path: Path, settings: AnalyzerSettings, lock_timeout: float, batch_size: int, workers: int) -> ReindexReport:
    report = ReindexReport(path=str(path))
    # Settings no rebuild changes (synonyms, the user dictionary) come along; the
    # dictionary's words are the ones the index keeps, whatever ``settings`` say.
    extras = meta_extras(path)
    extras.pop("dictionary_changed", None)  # all of it is analysed again
    lines = extras.get("dictionary")
    entries = entries_of([line for line in lines if isinstance(line, str)]) if isinstance(lines, list) else []
    settings = replace(settings, dictionary=dictionary_hash(entries))
    tmp = path.parent / f".{path.name}.reindex"
    reader = None
    try:
        try:
            reader = Store.open_unchecked(path, settings).reader()
            articles, paragraphs, sources = _read_stored(reader)
        except Exception as exc:  # noqa: BLE001
            raise _unreadable(path, exc) from exc
        if tmp.exists():
            with writing_to(path):
                shutil.rmtree(tmp)  # left by an interrupted reindex
        try:
            new = Store.open(tmp, settings, create=True)
            for key, value in extras.items():
                new.set_setting(key, value, lock_timeout)
            origins: dict[str, str | None] = {}

            def rebuilt() -> Any:
                for article_id, (_docnum, fields) in articles.items():
                    docs = sorted(paragraphs.pop(article_id, []))
                    texts = [reader.stored_fields(docnum)["text"] for _ordinal, docnum in docs]
                    origins[article_id] = fields.get("source")
                    report.articles += 1
                    report.paragraphs += len(texts)
                    yield stored_article(fields, texts)

            with IndexWriter(new, Segmenter(settings, entries), lock_timeout, batch_size=batch_size, workers=workers) as writer:
                for article in rebuilt():
                    writer.add_article(article, origin=origins.pop(article.id, None))
                for source, content_hash in sources.items():
                    writer.finish_source(source, content_hash)
            report.sources = len(sources)
            report.dropped_paragraphs = sum(len(p) for p in paragraphs.values())
            new.close()
        except SearchkitError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except Exception as exc:  # noqa: BLE001
            shutil.rmtree(tmp, ignore_errors=True)
            raise _unreadable(path, exc) from exc
        reader.close()
        reader = None
        with writing_to(path):
            _exchange(tmp, path)
        shutil.rmtree(tmp, ignore_errors=True)  # the old index, now at tmp
    finally:
        if reader is not None:
            reader.close()
    return report


def _unreadable(path: Path, exc: BaseException) -> CorruptIndexError:
    return CorruptIndexError(
        f"index at {path} cannot be read ({_name(exc)}): delete it and index your files again"
    )


def _read_stored(reader: Any) -> tuple[dict[str, tuple[int, dict[str, Any]]], dict[str, list[tuple[int, int]]], dict[str, str]]:
    """Articles (without texts), paragraph (ordinal, docnum) per article, source hashes."""
    articles: dict[str, tuple[int, dict[str, Any]]] = {}
    paragraphs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    sources: dict[str, str] = {}
    for docnum, fields in reader.iter_docs():
        kind = fields.get("kind")
        if kind == "article" and isinstance(fields.get("article_id"), str):
            articles[fields["article_id"]] = (docnum, fields)
        elif kind == "paragraph" and isinstance(fields.get("article_id"), str) and isinstance(fields.get("text"), str):
            paragraphs[fields["article_id"]].append((int(fields.get("ordinal") or 0), docnum))
        elif kind == "source":
            meta = fields.get("meta")
            if isinstance(fields.get("source"), str) and isinstance(meta, dict) and isinstance(meta.get("hash"), str):
                sources[fields["source"]] = meta["hash"]
    return articles, paragraphs, sources


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(new: Path, old: Path) -> None:
    """Swap two directories: atomically on Linux (renameat2), else by two renames.

    On return ``old`` holds what ``new`` held and ``new`` what ``old`` held.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            renameat2 = libc.renameat2
        except (OSError, AttributeError):
            renameat2 = None
        if renameat2 is not None:
            result = renameat2(
                _AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(old), ctypes.c_uint(_RENAME_EXCHANGE)
            )
            if result == 0:
                return
    # Fallback: a short window in which ``old`` does not exist.
    aside = old.parent / f".{old.name}.old"
    if aside.exists():
        shutil.rmtree(aside)
    os.rename(old, aside)
    os.rename(new, old)
    os.rename(aside, new)
