"""Reading every part of every segment, for ``check``: what the stored
documents do not show (term tables, postings, suffix arrays, the words column).

:func:`scan_segments` opens each segment the table of contents lists, hands
each stored document to the caller and reports each damaged part through
``problem(kind, message)``; the caller decides what the documents must say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .chars import CHAR_FIELD, char_rows, stored_stream
from .codec import var_bytes
from .store import Store
from .suffixes import segment_suffixes
from .titles import TitleRuns, segment_titles
from .terms import field_terms, hash_index_problem
from .schema import FILTER_FIELDS
from .words import RANKING_WORDS_FIELD, RANKING_WORDS_PARTS, decode_ranking_words

__all__ = ["SegmentScan", "scan_segments"]

Problem = Callable[[str, str], None]  # (kind, message)


@dataclass
class SegmentScan:
    segments: int = 0
    documents: int = 0
    terms: int = 0


def _name(exc: BaseException) -> str:
    return type(exc).__name__


def scan_segments(store: Store, postings: bool, document: Callable[[str, dict[str, Any]], None],
                  problem: Problem) -> SegmentScan:
    """Read every segment: ``document(segment id, stored fields)`` for each
    stored document; with ``postings``, every term, posting, suffix array and
    column value too. A table of contents that cannot be read is a "toc" problem."""
    scan = SegmentScan()
    try:
        segments = store.listed_segments()
    except Exception as exc:  # noqa: BLE001
        problem("toc", f"the table of contents cannot be read ({_name(exc)})")
        return scan
    scan.segments = len(segments)
    for segment in segments:
        name = segment.segment_id()
        try:
            reader = store.segment_reader(segment)
        except Exception as exc:  # noqa: BLE001
            problem("segment", f"segment {name} cannot be opened ({_name(exc)})")
            continue
        try:
            try:
                for _docnum, fields in reader.iter_docs():
                    scan.documents += 1
                    document(name, fields)
            except Exception as exc:  # noqa: BLE001
                problem("segment", f"segment {name}: stored documents cannot be read ({_name(exc)})")
            if postings:
                try:
                    _check_term_index(reader, name, problem)
                    scan.terms += _check_postings(reader, name, problem)
                except Exception as exc:  # noqa: BLE001
                    problem("segment", f"segment {name}: the term index cannot be read ({_name(exc)})")
                stored = _StoredTexts(reader)
                _check_suffixes(reader, name, problem, stored)
                _check_titles(reader, name, problem, stored)
                _check_ranking_words(reader, name, problem)
                _check_metadata(reader, name, problem)
        finally:
            try:
                reader.close()
            except Exception:  # noqa: BLE001
                pass
    return scan


def _check_term_index(reader: Any, segment: str, add: Problem) -> None:
    table = getattr(getattr(reader, "_terms", None), "_tindex", None)
    problem = None if table is None else hash_index_problem(table)
    if problem is not None:
        add("postings", f"segment {segment}: the term index is damaged ({problem})")


class _StoredTexts:
    """What a segment's stored documents (deleted ones too) say its suffix arrays and title table
    hold: read once, when a check first asks."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._read: tuple[list[str], TitleRuns] | None = None

    def _both(self) -> tuple[list[str], TitleRuns]:
        if self._read is None:
            reader, titles = self._reader, TitleRuns()
            documents = ((docnum, reader.stored_fields(docnum)) for docnum in range(reader.doc_count_all()))
            self._read = ([stored_stream(fields) for _docnum, fields in titles.add_stored(documents)], titles)
        return self._read

    def streams(self) -> list[str]:
        """Each document's gram stream, by docnum."""
        return self._both()[0]

    def title_runs(self) -> TitleRuns:
        return self._both()[1]


def _check_suffixes(reader: Any, segment: str, add: Problem, stored: _StoredTexts) -> None:
    """The segment's suffix arrays (if it has them) hold its paragraphs' streams, in
    order; where they stand for the characters' postings, the characters'
    statistics are those of the streams."""
    try:
        table = segment_suffixes(reader)
        if table is None:
            return
        expected = stored.streams()
        problem = table.problem(expected)
    except Exception as exc:  # noqa: BLE001
        problem = f"they cannot be read ({_name(exc)})"
    if problem is not None:
        add("postings", f"segment {segment}: the suffix arrays are damaged ({problem})")
    elif table is not None and not table.with_postings and list(field_terms(reader, CHAR_FIELD)) != char_rows(expected):
        add("postings", f"segment {segment}: the characters' statistics disagree with its paragraphs")


def _check_titles(reader: Any, segment: str, add: Problem, stored: _StoredTexts) -> None:
    """The segment's title table (if it has one) holds its articles' paragraphs and titles."""
    try:
        table = segment_titles(reader)
        if table is None:
            return
        problem = table.problem(stored.title_runs())
    except Exception as exc:  # noqa: BLE001
        problem = f"it cannot be read ({_name(exc)})"
    if problem is not None:
        add("postings", f"segment {segment}: the title table is damaged ({problem})")


def _check_ranking_words(reader: Any, segment: str, add: Problem) -> None:
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
        from_postings = sum(
            _postings_hash(reader, fieldname, recorded.__getitem__,
                           lambda btext, docnum, matcher, f=fieldname: (f, btext.decode("utf-8"), docnum, float(matcher.weight())))
            for fieldname in RANKING_WORDS_PARTS
        )
        problem = None if from_column == from_postings else "it disagrees with the postings of those words"
    except Exception as exc:  # noqa: BLE001
        problem = f"it cannot be read ({_name(exc)})"
    if problem is not None:
        add("postings", f"segment {segment}: the column of paragraphs' words is damaged ({problem})")


def _check_postings(reader: Any, segment: str, add: Problem) -> int:
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
            add("postings", f"segment {segment}: postings of {fieldname}:{shown!r} cannot be read ({_name(exc)})")
    return terms


def _check_metadata(reader: Any, segment: str, add: Problem) -> None:
    """The columns of paragraphs' metadata (if the segment has them) read, and
    hold what the filters' terms hold, per live document."""
    for fieldname in FILTER_FIELDS:
        if not reader.has_column(fieldname):
            continue
        field = reader.schema[fieldname]
        try:
            column = reader.column_reader(fieldname, translate=False)
            from_column = 0
            for docnum, value in enumerate(var_bytes(column, range(reader.doc_count_all()))):
                if value and not reader.is_deleted(docnum):
                    for term, *_rest in field.index(field.from_column_value(value)):
                        from_column += hash((term, docnum))
            from_postings = _postings_hash(reader, fieldname, lambda docnum: not reader.is_deleted(docnum),
                                           lambda btext, docnum, _matcher: (btext, docnum))
            problem = None if from_column == from_postings else "it disagrees with the terms the filters read"
        except Exception as exc:  # noqa: BLE001
            problem = f"it cannot be read ({_name(exc)})"
        if problem is not None:
            add("postings", f"segment {segment}: the column of {FILTER_FIELDS[fieldname]}s is damaged ({problem})")


def _postings_hash(reader: Any, fieldname: str, wanted: Callable[[int], bool],
                   key: Callable[[bytes, int, Any], tuple[Any, ...]]) -> int:
    """The sum of the hashes of ``key(term, document, matcher)`` over every posting of the
    field in the ``wanted`` documents: compared with a column's, neither side is held in memory."""
    total = 0
    for btext in reader.lexicon(fieldname):
        matcher = reader.postings(fieldname, btext)
        while matcher.is_active():
            docnum = matcher.id()
            if wanted(docnum):
                total += hash(key(btext, docnum, matcher))
            matcher.next()
    return total
