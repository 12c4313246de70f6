"""Combining searchkit's queries, and collecting their hits with exact totals.

Query planning (:mod:`searchkit.query`) builds its trees with these
functions; the Whoosh classes under them, and the fixes they carry for
Whoosh's own, stay here.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from whoosh import matching as wm
from whoosh import query as wq
from whoosh import sorting
from whoosh.reading import TermNotFound

from .matchers import (
    AllFilters,
    ColumnRange,
    DocFilter,
    DocumentSet,
    Restricted,
    ScoredList,
    TermsFilter,
    WordUnion,
    scored_lists,
    top_scored,
)
from .schema import FILTER_FIELDS, VALUES_SEPARATOR
from .titles import segment_titles
from .words import raw_column

__all__ = ["Query", "Ranked", "all_matches", "all_of", "any_of", "any_term", "article_keys", "boosted", "collect",
           "column_counts", "column_values", "documents", "every", "excluding", "matching", "negated", "restricted", "value_range"]

Query = wq.Query


def all_of(queries: Sequence[Query]) -> Query:
    """Documents every query matches (scores added up)."""
    if queries and all(isinstance(q, DocFilter) for q in queries):
        return AllFilters(list(queries))  # filters: one set of documents per segment
    return wq.And(list(queries))


def any_of(queries: Sequence[Query]) -> Query:
    """Documents any query matches (scores added up)."""
    return _BinaryOr(list(queries))


def negated(q: Query) -> Query:
    """Documents ``q`` does not match."""
    return wq.Not(q)


def excluding(q: Query, excluded: Query) -> Query:
    """Documents of ``q`` that ``excluded`` does not match."""
    return _AndNot(q, excluded)


def restricted(q: Query, allowed: Query) -> Query:
    """Documents of ``q`` that ``allowed`` matches too, scored as ``q`` alone
    (``allowed`` scores 0: build it of :func:`any_term`, :func:`value_range`,
    :func:`all_of` of those, or :func:`documents`; then each of ``q``'s
    candidates is tested against its documents inside ``q``'s matchers)."""
    return Restricted(q, allowed) if isinstance(allowed, DocFilter) else wq.And([q, allowed])


def any_term(fieldname: str, terms: Sequence[str]) -> Query:
    """Documents holding any of these exact terms in ``fieldname``, each scored 0."""
    return TermsFilter(fieldname, terms)


def value_range(fieldname: str, start: str | None, end: str | None) -> Query:
    """Documents whose value of ``fieldname`` (an ISO date) lies from ``start`` to ``end``, both included
    (``end`` a prefix: ``2023-12`` takes in every ``2023-12-xx``; None: open)."""
    return ColumnRange(fieldname, start, end)


def documents(docnums: Sequence[int]) -> Query:
    """Exactly these documents (the searcher's document numbers), each scored 0."""
    return DocumentSet(docnums)


def every(fieldname: str, term: str) -> Query:
    """Documents holding ``term`` (``kind``: ``paragraph``, say), each scored 0."""
    return wq.ConstantScoreQuery(wq.Term(fieldname, term), 0.0)


def matching(searcher: Any, q: Query) -> list[int]:
    """Every document ``q`` matches (the searcher's document numbers), ascending, unscored: as
    Whoosh's ``docs_for_query``, but a segment's list of matches is taken whole."""
    found: list[int] = []
    for matcher, offset in _segment_matchers(searcher, q, None):
        ids = matcher._ids if isinstance(matcher, ScoredList) and not matcher._i else list(matcher.all_ids())
        found.extend([docnum + offset for docnum in ids] if offset else ids)
    return found


def all_matches(searcher: Any, q: Query) -> list[tuple[int, float]]:
    """Every document ``q`` matches, with its score: (document number, score), in document order.

    As Whoosh's ``search(q, limit=None)``, whose collector makes several
    Python calls per match; a segment's list of matches is taken whole.
    """
    found: list[tuple[int, float]] = []
    for matcher, offset in _segment_matchers(searcher, q, searcher.context()):
        if isinstance(matcher, ScoredList) and not matcher._i:
            ids = [docnum + offset for docnum in matcher._ids] if offset else matcher._ids
            found.extend(zip(ids, map(float, matcher._weights)))
            continue
        while matcher.is_active():
            found.append((matcher.id() + offset, matcher.score()))
            matcher.next()
    found.sort()
    return found


def _segment_matchers(searcher: Any, q: Query, context: Any) -> Iterator[tuple[Any, int]]:
    """``q``'s matcher in each segment where its terms are, with the segment's first document number;
    ``context`` None: each segment's unscored (boolean) context."""
    for subsearcher, offset in searcher.leaf_searchers():
        try:
            matcher = q.matcher(subsearcher, subsearcher.boolean_context() if context is None else context)
        except TermNotFound:  # (as Whoosh's Query.docs)
            continue
        yield matcher, offset


def _column_reader(reader: Any, fieldname: str, translate: bool = True) -> Any:
    """The segment's column reader for ``fieldname`` (None without the column), opened once per
    segment reader: opening reads the whole column's lengths. ``translate`` False: its stored bytes."""
    opened = reader.__dict__.setdefault("_searchkit_columns", {})
    key = (fieldname, translate)
    if key not in opened:
        opened[key] = reader.column_reader(fieldname, translate=translate) if reader.has_column(fieldname) else None
    return opened[key]


class _KeptColumnFacet(sorting.FieldFacet):  # type: ignore[misc]
    """Whoosh's facet of a column's values, reading each segment's column with the reader
    :func:`_column_reader` keeps (Whoosh's opened the column again for every search:
    a few milliseconds per segment on 50k poems, for each article-level collapse)."""

    def categorizer(self, global_searcher: Any) -> Any:
        if not global_searcher.reader().has_column(self.fieldname):
            return super().categorizer(global_searcher)
        return _KeptColumnCategorizer(global_searcher, self.fieldname)


class _KeptColumnCategorizer(sorting.ColumnCategorizer):  # type: ignore[misc]
    def set_searcher(self, segment_searcher: Any, docoffset: int) -> None:
        self._creader = _column_reader(segment_searcher.reader(), self._fieldname, translate=False)


def column_values(searcher: Any, fieldname: str, docnums: Sequence[int]) -> list[Any]:
    """Each document's value in the column of ``fieldname`` (the field's empty value in a segment without the column)."""
    decode, empty = _decoder(searcher, fieldname)
    return [empty if raw is None else decode(raw) for raw in _raw_values(searcher, fieldname, docnums)]


def article_keys(searcher: Any, docnums: Sequence[int]) -> list[Any]:
    """Per paragraph document (ascending), a key of its article, equal for paragraphs of one article only.

    An article's live paragraphs are consecutive in one segment. Where the
    segment has a title table, the key is the number of the article's first
    paragraph (from the table's runs: no column read); elsewhere, its article
    id (a ``str``, so never equal to a number).
    """
    leaves = searcher.reader().leaf_readers()
    keys: list[Any] = []
    by_id: list[int] = []  # positions of documents in segments without a table
    lo = 0
    for number, (reader, start) in enumerate(leaves):
        hi = len(docnums) if number + 1 == len(leaves) else bisect_left(docnums, leaves[number + 1][1], lo)
        if hi == lo:
            continue
        table = segment_titles(reader)
        if table is None:
            by_id.extend(range(lo, hi))
            keys.extend([None] * (hi - lo))
        else:
            openings = table.openings
            keys.extend([start + openings[docnum - start] for docnum in docnums[lo:hi]] if start
                        else [openings[docnum] for docnum in docnums[lo:hi]])
        lo = hi
    if by_id:
        for position, article_id in zip(by_id, column_values(searcher, "article_id", [docnums[p] for p in by_id])):
            keys[position] = article_id
    return keys


def column_counts(searcher: Any, fieldname: str, docnums: Sequence[int], prefix: int | None = None) -> list[tuple[Any, int]]:
    """Each distinct value (as :func:`column_values` gives it) the documents hold in the column of
    ``fieldname``, with how many hold it, in the order of the first document holding it: the
    column's bytes are counted, and each distinct value decoded once. ``prefix``: each
    document's first value cut to that many characters (of an ASCII value: an ISO date's year
    or month), so that documents of one year count as one value."""
    decode, empty = _decoder(searcher, fieldname)
    raws = _raw_values(searcher, fieldname, docnums)
    if prefix is not None:
        raws = [raw if raw is None else raw.split(VALUES_SEPARATOR, 1)[0][:prefix] for raw in raws]
    counted = Counter(raws)
    return [(empty if raw is None else decode(raw), count) for raw, count in counted.items()]


def _decoder(searcher: Any, fieldname: str) -> tuple[Any, Any]:
    """The field's decoder of its column's bytes, and its value in a segment without the column."""
    field = searcher.schema[fieldname]
    return field.from_column_value, field.from_column_value(b"") if fieldname in FILTER_FIELDS else None


def _raw_values(searcher: Any, fieldname: str, docnums: Sequence[int]) -> list[bytes | None]:
    """Each document's bytes in the column of ``fieldname`` (None in a segment without the column)."""
    leaves = searcher.reader().leaf_readers()
    starts = [offset for _reader, offset in leaves]
    columns: dict[int, Callable[[int], bytes | None]] = {}

    def column(leaf: int) -> Callable[[int], bytes | None]:
        """The segment's reader of a document's bytes, by its number in the segment."""
        if leaf not in columns:
            reader = leaves[leaf][0]
            raw = raw_column(reader, fieldname)  # a slice of the mapped file, where the column allows
            if raw is not None:
                lengths, offsets, read, base = raw
                columns[leaf] = lambda local: read(base + offsets[local], lengths[local])
            else:
                whole = _column_reader(reader, fieldname, translate=False)
                columns[leaf] = (lambda _local: None) if whole is None else whole.__getitem__
        return columns[leaf]

    if list(docnums) != sorted(docnums):
        return [column(leaf)(docnum - starts[leaf]) for docnum in docnums
                for leaf in (bisect_right(starts, docnum) - 1,)]
    found: list[bytes | None] = []  # ascending (facets): a segment's documents at a time
    for leaf, start in enumerate(starts):
        first = bisect_left(docnums, start)
        last = bisect_left(docnums, starts[leaf + 1]) if leaf + 1 < len(starts) else len(docnums)
        if first < last:
            value = column(leaf)
            found.extend([value(docnum - start) for docnum in docnums[first:last]])
    return found


class _BinaryOr(wq.Or):  # type: ignore[misc]
    """``Or`` that always uses Whoosh's binary union matcher.

    On indexes under 5,000 documents Whoosh picks its array matcher, which
    drops matches under top-N pruning (measured: DRCD Recall@10 0.75 with it,
    0.99 without). A class attribute, so it survives Whoosh's query rewrites.
    """

    matcher_type = wq.Or.DEFAULT_MATCHER


class _AndNotMatcher(wm.AndNotMatcher):  # type: ignore[misc]
    """Whoosh's ``AndNotMatcher``, which let through its first document when
    the excluded side started before it and held it too (whoosh-community/whoosh
    #419, "ANDNOT results depend on order documents are added to index"; still
    in Whoosh-Reloaded 2.7.5): it checked only whether both started at the same
    document. ``_find_next`` moves the excluded side up first. Its ``skip_to``
    failed once the included side ran out."""

    def _find_first(self) -> None:
        if self.a.is_active() and self.b.is_active():
            self._find_next()

    def skip_to(self, target: int) -> None:
        # Whoosh's read the included side's id after skipping it past its end (an
        # IndexError: an exclusion under a filter, which intersects by skipping).
        if not self.a.is_active():
            raise wm.ReadTooFar
        if target <= self.a.id():
            return
        self.a.skip_to(target)
        if self.a.is_active() and self.b.is_active():
            self._find_next()


class _AndNot(wq.AndNot):  # type: ignore[misc]
    """``AndNot`` with :class:`_AndNotMatcher`."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        return _AndNotMatcher(self.a.matcher(searcher, context), self.b.matcher(searcher, searcher.boolean_context()))




def boosted(q: Query, boost: float) -> Query:
    """A copy of ``q`` with its scores multiplied by ``boost``."""
    q = q.copy()
    q.boost = boost
    return q


Ranked = tuple[int, dict[str, Any], float, frozenset[str]]  # document number, stored fields, score, words matched


def collect(
    searcher: Any, q: Query, limit: int, level: str, union: WordUnion | None = None
) -> tuple[list[Ranked], int]:
    """Ranked (document number, stored fields, score, words of ``union`` matched) and the total number of hits.

    ``level`` "article" keeps an article's best paragraph only (its total counts articles).
    """
    matched = _words_matched(searcher, union)
    # Straight from the segments' lists of scored documents, where they are such lists.
    found = top_scored(searcher, q, limit) if level == "paragraph" else _top_articles(searcher, q, limit)
    if found is not None:
        top, total = found
        return [(docnum, searcher.stored_fields(docnum), score, matched(docnum)) for score, docnum in top], total
    # The exact total needs every match counted: no block skipping and no
    # matcher replacement (both drop documents that cannot reach the top), so
    # the collector counts as it goes instead of a second pass over the index.
    collapse = {} if level == "paragraph" else {"collapse": _KeptColumnFacet("article_id"), "collapse_limit": 1}
    collector = searcher.collector(limit=limit, optimize=False, **collapse)
    inner = collector
    while hasattr(inner, "child"):
        inner = inner.child
    inner.replace = 0
    searcher.search_with_collector(q, collector)
    results = collector.results()
    if level == "paragraph":
        total = len(results)
    else:
        total = len(set(column_values(searcher, "article_id", matching(searcher, q))))
    return [(hit.docnum, hit.fields(), hit.score, matched(hit.docnum)) for hit in results], total


def _top_articles(searcher: Any, q: Query, limit: int) -> tuple[list[tuple[float, int]], int] | None:
    """As :func:`top_scored`, an article's best paragraph only (the first of equal scores), as
    Whoosh's collapsing collector keeps them; the total counts articles."""
    lists = scored_lists(searcher, q)
    if lists is None:
        return None
    best: dict[bytes, tuple[float, int]] = {}  # article id -> (score, docnum)
    for reader, offset, ids, scores in lists:
        column = raw_column(reader, "article_id")
        if column is None:
            return None
        lengths, offsets, read, base = column
        for docnum, score in zip(ids, scores):
            article_id = read(base + offsets[docnum], lengths[docnum])
            kept = best.get(article_id)
            if kept is None or score > kept[0]:
                best[article_id] = (score, docnum + offset)
    return heapq.nsmallest(limit, best.values(), key=lambda item: (-item[0], item[1])), len(best)


def _words_matched(searcher: Any, union: WordUnion | None) -> Callable[[int], frozenset[str]]:
    """Of a document (number), the words of ``union`` it matched (it records them per segment); none without a union."""
    if union is None:
        return lambda _docnum: frozenset()
    segments = list(searcher.reader().leaf_readers())
    starts = [start for _reader, start in segments]

    def matched(docnum: int) -> frozenset[str]:
        segment, offset = segments[bisect_right(starts, docnum) - 1]
        return union.matched_words(segment, docnum - offset)

    return matched
