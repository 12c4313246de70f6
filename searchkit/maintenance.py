"""Verifying an index (``searchkit check``) and rebuilding it from its own
stored documents (``searchkit reindex``).

Both read the index without trusting ``searchkit.json``'s schema version or
analyzer settings: ``check`` reports a mismatch as a problem, ``reindex`` is
how a mismatch is repaired.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader
from whoosh.util.filelock import try_for

from .analysis import AnalyzerSettings
from .documents import Article
from .errors import (
    CorruptIndexError,
    IndexVersionError,
    SearchkitError,
)
from .engine.chars import CHAR_FIELD, char_rows, stored_stream
from .engine.codec import var_bytes
from .engine.matchers import RANKING_WORDS_FIELD, RANKING_WORDS_PARTS, decode_ranking_words
from .engine.suffixes import segment_suffixes
from .engine.terms import field_terms, hash_index_problem

if TYPE_CHECKING:
    from .index import SearchIndex

__all__ = ["CheckReport", "ReindexReport", "check_index", "check_path", "reindex"]

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


def _meta_problem(path: Path, settings: AnalyzerSettings) -> str | None:
    """The problem with searchkit.json, or None. Foreign directories raise."""
    from .index import META_FILE, check_meta, check_unindexed_directory, missing_index_error

    meta_path = path / META_FILE
    if not meta_path.exists():
        check_unindexed_directory(path)
        raise missing_index_error(path)
    try:
        check_meta(meta_path, settings)
    except IndexVersionError as exc:
        return str(exc)
    except CorruptIndexError as exc:
        if "is not a searchkit index" in str(exc):
            raise
        return str(exc)
    return None


def check_path(path: Path, settings: AnalyzerSettings | None = None, postings: bool = True) -> CheckReport:
    from .index import make_schema, missing_index_error, no_toc_message, recorded_settings

    settings = settings or recorded_settings(path) or AnalyzerSettings()
    if not path.is_dir():
        if path.exists():
            raise CorruptIndexError(f"{path} is not a directory, so it cannot hold an index")
        raise missing_index_error(path)
    report = CheckReport(path=str(path))
    problem = _meta_problem(path, settings)
    if problem:
        report.problems.append(problem)
    try:
        ix = FileStorage(str(path)).open_index(schema=make_schema())
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        report.problems.append(no_toc_message(path, exc))
        return report
    return _check_whoosh(ix, report, postings)


def check_index(index: SearchIndex, postings: bool = True) -> CheckReport:
    report = CheckReport(path=str(index.path) if index.path is not None else None)
    return _check_whoosh(index._ix, report, postings)


def _check_whoosh(ix: Any, report: CheckReport, postings: bool) -> CheckReport:
    from .index import make_schema

    problems = _Problems(report)
    schema = make_schema()
    try:
        segments = ix._segments()
    except Exception as exc:  # noqa: BLE001
        report.problems.append(f"the table of contents cannot be read ({_name(exc)})")
        return report
    report.segments = len(segments)
    expected: dict[str, int] = {}  # article id -> paragraph count in its meta
    origins: dict[str, str | None] = {}
    ordinals: dict[str, list[int]] = defaultdict(list)
    markers: Counter[str] = Counter()
    for segment in segments:
        name = segment.segment_id()
        try:
            reader = SegmentReader(ix.storage, schema, segment)
        except Exception as exc:  # noqa: BLE001
            problems.add("segment", f"segment {name} cannot be opened ({_name(exc)})")
            continue
        try:
            try:
                for _docnum, fields in reader.iter_docs():
                    report.documents += 1
                    _check_document(fields, name, problems, expected, origins, ordinals, markers)
            except Exception as exc:  # noqa: BLE001
                problems.add("segment", f"segment {name}: stored documents cannot be read ({_name(exc)})")
            if postings:
                try:
                    _check_term_index(reader, name, problems)
                    report.terms += _check_postings(reader, name, problems)
                except Exception as exc:  # noqa: BLE001
                    problems.add("segment", f"segment {name}: the term index cannot be read ({_name(exc)})")
                _check_suffixes(reader, name, problems)
                _check_ranking_words(reader, name, problems)
        finally:
            try:
                reader.close()
            except Exception:  # noqa: BLE001
                pass
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
    with_articles = Counter(origin for origin in origins.values() if origin)
    for source, count in markers.items():
        if count > 1:
            problems.add("source", f"file {source} is recorded {count} times as indexed")
        if not with_articles.get(source):
            problems.add("source", f"file {source} is recorded as indexed but has no articles")
    unfinished = [s for s in with_articles if s not in markers]
    if unfinished:
        articles = sum(with_articles[s] for s in unfinished)
        report.notes.append(
            f"{articles} articles from {len(unfinished)} files whose indexing did not finish "
            "(an interrupted run or a failed file): index those files again"
        )
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


def _check_term_index(reader: Any, segment: str, problems: _Problems) -> None:
    table = getattr(getattr(reader, "_terms", None), "_tindex", None)
    problem = None if table is None else hash_index_problem(table)
    if problem is not None:
        problems.add("postings", f"segment {segment}: the term index is damaged ({problem})")


def _check_suffixes(reader: Any, segment: str, problems: _Problems) -> None:
    """The segment's suffix arrays (if it has them) hold its paragraphs' streams, in
    order; where they stand for the characters' postings, the characters'
    statistics are those of the streams."""
    try:
        table = segment_suffixes(reader)
        if table is None:
            return
        expected = [stored_stream(reader.stored_fields(docnum)) for docnum in range(reader.doc_count_all())]
        problem = table.problem(expected)
    except Exception as exc:  # noqa: BLE001
        problem = f"they cannot be read ({_name(exc)})"
    if problem is not None:
        problems.add("postings", f"segment {segment}: the suffix arrays are damaged ({problem})")
    elif table is not None and not table.with_postings and list(field_terms(reader, CHAR_FIELD)) != char_rows(expected):
        problems.add("postings", f"segment {segment}: the characters' statistics disagree with its paragraphs")


def _check_ranking_words(reader: Any, segment: str, problems: _Problems) -> None:
    """The column of paragraphs' words (if the segment has one) counts what
    the postings of those fields count, per live document that has a value.

    Compared as sums of hashes of (field, word, document, count), so that
    neither side is held in memory.
    """
    if not reader.has_column(RANKING_WORDS_FIELD):
        return
    try:
        column = reader.column_reader(RANKING_WORDS_FIELD, translate=False)
        recorded = [False] * reader.doc_count_all()
        from_column = 0
        for docnum, value in enumerate(var_bytes(column, range(reader.doc_count_all()))):
            if value and not reader.is_deleted(docnum):
                recorded[docnum] = True
                for fieldname, words in zip(RANKING_WORDS_PARTS, decode_ranking_words(value)):
                    for word, count in Counter(words).items():
                        from_column += hash((fieldname, word, docnum, float(count)))
        from_postings = 0
        for fieldname in RANKING_WORDS_PARTS:
            for btext in reader.lexicon(fieldname):
                word = btext.decode("utf-8")
                matcher = reader.postings(fieldname, btext)
                while matcher.is_active():
                    docnum = matcher.id()
                    if recorded[docnum]:
                        from_postings += hash((fieldname, word, docnum, float(matcher.weight())))
                    matcher.next()
        problem = None if from_column == from_postings else "it disagrees with the postings of those words"
    except Exception as exc:  # noqa: BLE001
        problem = f"it cannot be read ({_name(exc)})"
    if problem is not None:
        problems.add("postings", f"segment {segment}: the column of paragraphs' words is damaged ({problem})")


def _check_postings(reader: Any, segment: str, problems: _Problems) -> int:
    """Reads every posting (ids and values) of every term; returns the term count."""
    limit = reader.doc_count_all()
    terms = 0
    for fieldname, text in reader.all_terms():
        terms += 1
        try:
            matcher = reader.postings(fieldname, text)
            previous = -1
            while matcher.is_active():
                docnum = matcher.id()
                if not previous < docnum < limit:
                    raise ValueError(f"document number {docnum} out of order")
                previous = docnum
                matcher.value()
                matcher.next()
        except Exception as exc:  # noqa: BLE001
            shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
            problems.add("postings", f"segment {segment}: postings of {fieldname}:{shown!r} cannot be read ({_name(exc)})")
    return terms


# --------------------------------------------------------------------------
# Reindex


def reindex(
    path: Path,
    settings: AnalyzerSettings,
    lock_timeout: float,
    batch_size: int,
    workers: int,
) -> ReindexReport:
    from .index import META_FILE, META_FORMAT, SearchIndex, locked_error, make_schema, missing_index_error

    if not path.is_dir():
        if path.exists():
            raise CorruptIndexError(f"{path} is not a directory, so it cannot hold an index")
        raise missing_index_error(path)
    meta_path = path / META_FILE
    if not meta_path.exists():
        _meta_problem(path, settings)  # raises: foreign or empty directory
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None  # unreadable: the Whoosh files decide
    if isinstance(meta, dict) and meta.get("format") != META_FORMAT or meta is not None and not isinstance(meta, dict):
        raise CorruptIndexError(f"{path} is not a searchkit index: choose an empty or new directory")
    storage = FileStorage(str(path))
    lock = storage.lock("MAIN_WRITELOCK")
    if not try_for(lock.acquire, timeout=lock_timeout, delay=0.05):
        raise locked_error(path, lock_timeout)
    report = ReindexReport(path=str(path))
    tmp = path.parent / f".{path.name}.reindex"
    reader = None
    try:
        try:
            reader = storage.open_index(schema=make_schema()).reader()
            articles, paragraphs, sources = _read_stored(reader)
        except Exception as exc:  # noqa: BLE001
            raise _unreadable(path, exc) from exc
        if tmp.exists():
            shutil.rmtree(tmp)  # left by an interrupted reindex
        try:
            new = SearchIndex.create(tmp, settings=settings, lock_timeout=lock_timeout)
            origins: dict[str, str | None] = {}

            def rebuilt() -> Any:
                for article_id, (_docnum, fields) in articles.items():
                    docs = sorted(paragraphs.pop(article_id, []))
                    texts = [reader.stored_fields(docnum)["text"] for _ordinal, docnum in docs]
                    meta = fields.get("meta") or {}
                    lines = meta.get("lines")
                    origins[article_id] = fields.get("source")
                    report.articles += 1
                    report.paragraphs += len(texts)
                    yield Article(
                        title=fields.get("title") or "",
                        paragraphs=texts,
                        id=article_id,
                        subtitle=meta.get("subtitle"),
                        source=meta.get("source"),
                        date=meta.get("date"),
                        author=meta.get("author"),
                        lines=lines if isinstance(lines, list) and len(lines) == len(texts) else None,
                    )

            with new.writer(batch_size=batch_size, workers=workers) as writer:
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
        _exchange(tmp, path)
        shutil.rmtree(tmp, ignore_errors=True)  # the old index, now at tmp
    finally:
        if reader is not None:
            reader.close()
        lock.release()
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
