"""Whoosh queries that read postings a block at a time.

Whoosh combines matchers in trees (intersections, unions, span wrappers) that
make several Python calls per posting and per level. searchkit's query
shapes are simple enough to answer in one loop each, per segment, and hand
the collector a list of matches with the scores Whoosh would give them:

* :class:`CharPhrase`, an exact keyword: its grams (character bigrams, or
  characters) at consecutive positions (Whoosh's ``Phrase``). In a segment
  with suffix arrays (of characters: no postings of them since schema
  version 3) the arrays find the documents. Elsewhere the postings: common
  grams occur in many paragraphs, so Whoosh's overhead was most of a keyword
  query's time; the rarest gram leads, the others keep the candidates they
  hold, reading only the blocks candidates fall in; positions are checked
  with sets.
* :class:`WordUnion`, the ranking words: any of them, scored by the sum of
  their (boosted) scores (Whoosh's ``Or``), remembering which words each
  document matched for re-ranking (the partial-match fallback).
* :class:`RankedFilter`, a keyword query: the documents its filter (exact
  keywords) matches, each scored as its filter score plus its ranking
  words' (Whoosh's ``AndMaybe``); a word's postings are read only in the
  blocks where a match falls, and the best hits are collected directly.
  Where a segment has few matches, their words are counted in the
  segment's column of each paragraph's words instead (no postings read).
"""

from __future__ import annotations

import functools
import heapq
import math
import pickle
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate, repeat
from typing import Any, TypeVar

from whoosh import formats, scoring
from whoosh import matching as wm
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher, W3PerDocReader, W3TermsReader
from whoosh.util.numeric import byte_to_length

from .codec import FieldLengths
from .suffixes import SEPARATOR, segment_suffixes
from .terms import TermProbe
from .titles import TITLE_FIELD, TitleTable, runs_within, segment_titles
from .words import RANKING_WORDS_PARTS, decode_ranking_words, ranking_words_column

__all__ = [
    "CharPhrase",
    "ColumnRange",
    "RankedFilter",
    "ScoredList",
    "WordUnion",
    "cached_doc_frequency",
    "scored_lists",
    "searcher_cache",
    "term_bytes",
    "top_scored",
]

# A segment's matches up to which RankedFilter counts their words in the
# column rather than reading each word's postings.
FEW_MATCHES = 32
# Beyond those, the column still answers where the documents are spread over the words'
# postings: reading one document's words costs about 1/RECORDED_PER_BLOCK of decoding one
# block of postings (Whoosh's blocks hold POSTINGS_PER_BLOCK postings).
RECORDED_PER_BLOCK = 5
POSTINGS_PER_BLOCK = 128
FILTERS_KEPT = 8  # filters whose documents a segment reader keeps (see DocFilter)
PHRASES_KEPT = 16  # keywords whose documents a segment reader keeps (see _phrase_hits)

T = TypeVar("T")


class _Query(wq.Query):  # type: ignore[misc]
    """A Whoosh query compared and hashed by its :meth:`_key`."""

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def estimate_min_size(self, ixreader: Any) -> int:
        return 0


class Allowed:
    """A filter's documents in one segment: ascending (to walk) and as a set (to test a candidate)."""

    __slots__ = ("_zeros", "ids", "set")

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.set = frozenset(ids)
        self._zeros: list[float] | None = None

    def matcher(self) -> Any:
        """The documents, each scored 0."""
        if not self.ids:
            return wm.NullMatcher()
        if self._zeros is None:
            self._zeros = [0.0] * len(self.ids)
        return ScoredList(self.ids, self._zeros)


class DocFilter(_Query):
    """Documents a filter lets through, each scored 0 (metadata: an author, a date range).

    A segment's documents are worked out once per segment reader (the last
    few filters are kept: paging, or one filter over many queries); then
    :class:`Restricted` tests each candidate against them inside the other
    query's matcher, instead of intersecting two lists of matches.
    """

    def _ids(self, searcher: Any) -> list[int]:
        """The segment's documents, ascending."""
        raise NotImplementedError

    def allowed(self, searcher: Any) -> Allowed:
        """The (segment) searcher's documents this filter lets through."""
        kept = searcher.reader().__dict__.setdefault("_searchkit_filters", {})
        key = (type(self).__name__, self._key())
        found = kept.get(key)
        if found is None:
            ids = self._ids(searcher)
            reader = searcher.reader()
            if reader.has_deletions():
                deleted = reader.deleted_docs_set
                ids = [doc for doc in ids if doc not in deleted]
            found = _keep(kept, key, Allowed(ids), FILTERS_KEPT)
        return found  # type: ignore[no-any-return]

    def estimate_size(self, ixreader: Any) -> int:
        return ixreader.doc_count_all()  # type: ignore[no-any-return]

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        return self.allowed(searcher).matcher()


class TermsFilter(DocFilter):
    """Documents holding any of ``terms`` (exact, unanalyzed) in ``fieldname``."""

    def __init__(self, fieldname: str, terms: Sequence[str]) -> None:
        self.fieldname = fieldname
        self.terms = tuple(terms)
        self.boost = 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fieldname!r}, {self.terms!r})"

    def _key(self) -> tuple[Any, ...]:
        return self.fieldname, self.terms

    def copy(self) -> TermsFilter:
        return TermsFilter(self.fieldname, self.terms)

    def _ids(self, searcher: Any) -> list[int]:
        reader = searcher.reader()
        found: set[int] = set()
        for text in self.terms:
            term = term_bytes(searcher.schema, self.fieldname, text)
            if term is None or _segment_term_info(reader, self.fieldname, term) is None:
                continue
            cursor = _Cursor(reader.postings(self.fieldname, term))
            while cursor.active:
                cursor.load()
                found.update(doc for doc in cursor.ids if doc not in cursor.deleted)
                cursor.next_block()
        return sorted(found)


class AllFilters(DocFilter):
    """Documents every one of ``filters`` lets through."""

    def __init__(self, filters: Sequence[DocFilter]) -> None:
        self.filters = tuple(filters)
        self.boost = 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.filters)!r})"

    def _key(self) -> tuple[Any, ...]:
        return tuple((type(part).__name__, part._key()) for part in self.filters)

    def copy(self) -> AllFilters:
        return AllFilters(self.filters)

    def _ids(self, searcher: Any) -> list[int]:
        sets = sorted((part.allowed(searcher).set for part in self.filters), key=len)
        return sorted(sets[0].intersection(*sets[1:]))


class DocumentSet(DocFilter):
    """Exactly these documents (the top searcher's document numbers); not kept per segment (one query's own)."""

    def __init__(self, docnums: Sequence[int]) -> None:
        self.docnums = sorted(set(docnums))
        self.boost = 1.0

    def _key(self) -> tuple[Any, ...]:
        return tuple(self.docnums)

    def estimate_size(self, ixreader: Any) -> int:
        return len(self.docnums)

    def allowed(self, searcher: Any) -> Allowed:
        parent = searcher.get_parent()
        offset = 0
        if parent is not searcher:
            offset = next(start for sub, start in parent.subsearchers if sub is searcher)
        end = offset + searcher.reader().doc_count_all()
        return Allowed([d - offset for d in self.docnums[bisect_left(self.docnums, offset):bisect_left(self.docnums, end)]])


class Restricted(_Query):
    """The documents of ``query`` that ``allowed`` lets through, scored as ``query`` alone
    (times the boost): as Whoosh's ``And([query, allowed])`` with ``allowed`` scoring 0.

    Exact keywords, ranked filters and word unions test their candidates
    against the filter's documents before scoring them (and before reading
    a keyword's texts); other queries are intersected with them.
    """

    def __init__(self, query: wq.Query, allowed: DocFilter) -> None:
        self.query = query
        self.allowed = allowed
        self.boost = 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.query!r}, {self.allowed!r})"

    def _key(self) -> tuple[Any, ...]:
        return self.query, self.allowed, self.boost

    def copy(self) -> Restricted:
        clone = Restricted(self.query, self.allowed)
        clone.boost = self.boost
        return clone

    def estimate_size(self, ixreader: Any) -> int:
        return min(int(self.query.estimate_size(ixreader)), self.allowed.estimate_size(ixreader))

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        return self.matcher_within(searcher, context, None)

    def matcher_within(self, searcher: Any, context: Any, allowed: Allowed | None) -> Any:
        own = self.allowed.allowed(searcher)
        if allowed is not None:
            own = Allowed(sorted(own.set & allowed.set))
        found = _matcher_within(self.query, searcher, context, own)
        if self.boost == 1.0 or not found.is_active():
            return found
        if isinstance(found, ScoredList) and found._i == 0:
            return ScoredList(found._ids, [score * self.boost for score in found._weights])
        return wm.WrappingMatcher(found, self.boost)


def _matcher_within(q: wq.Query, searcher: Any, context: Any, allowed: Allowed | None) -> Any:
    """``q``'s matcher, of the documents ``allowed`` holds only (None: of all; then an ``Or`` of
    two lists is still merged as one list)."""
    if allowed is None:
        if isinstance(q, wq.Or):
            union = _union_within(q, searcher, context, None)
            if union is not None:
                return union
        return q.matcher(searcher, context)
    if not allowed.ids:
        return wm.NullMatcher()
    if isinstance(q, (CharPhrase, WordUnion, RankedFilter, Restricted)):
        return q.matcher_within(searcher, context, allowed)
    if isinstance(q, DocFilter):
        within = allowed.set
        return Allowed([doc for doc in q.allowed(searcher).ids if doc in within]).matcher()
    if isinstance(q, wq.Or):
        union = _union_within(q, searcher, context, allowed)
        if union is not None:
            return union
    found = q.matcher(searcher, context)
    if not found.is_active():
        return found
    return wm.IntersectionMatcher(found, allowed.matcher())


def _union_within(q: wq.Or, searcher: Any, context: Any, allowed: Allowed | None) -> Any:
    """The matches of an ``Or`` of two queries whose matchers are lists, as one list; None for another ``Or``.

    Scores as Whoosh's union: a document both match scores the sum. Whoosh's
    union and intersection matchers made several Python calls per document
    and level (a keyword's ranking filter: its text matches or its title's
    documents, within the matched paragraphs).
    """
    if len(q.subqueries) != 2 or q.boost != 1.0 or q.scale or q.matcher_type != wq.Or.DEFAULT_MATCHER:
        return None
    lists = []
    for sub in q.subqueries:
        found = _matcher_within(sub, searcher, context, allowed)
        if found.is_active():
            if not isinstance(found, ScoredList) or found._i:
                return None
            lists.append(found)
    if len(lists) < 2:
        return lists[0] if lists else wm.NullMatcher()
    first, second = lists
    scores = dict(zip(first._ids, first._weights))
    for doc, score in zip(second._ids, second._weights):
        known = scores.get(doc)
        scores[doc] = score if known is None else known + score
    ids = sorted(scores)
    return ScoredList(ids, [scores[doc] for doc in ids])


class ColumnRange(DocFilter):
    """Documents whose first value in a column of :class:`~searchkit.engine.schema.KeywordsField`
    (an ISO date) lies from ``start`` to ``end``, both included (``end`` a prefix:
    ``2023-12`` takes in every ``2023-12-xx``; None: open).

    A segment's values are read from its column and sorted once per reader;
    then a range is two bisections, where Whoosh's ``TermRange`` would open a
    postings list per date in the range.
    """

    def __init__(self, fieldname: str, start: str | None, end: str | None) -> None:
        self.fieldname = fieldname
        self.start = start
        self.end = end
        self.boost = 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fieldname!r}, {self.start!r}, {self.end!r})"

    def _key(self) -> tuple[Any, ...]:
        return self.fieldname, self.start, self.end

    def copy(self) -> ColumnRange:
        return ColumnRange(self.fieldname, self.start, self.end)

    def _ids(self, searcher: Any) -> list[int]:
        values, docnums = _sorted_column(searcher.reader(), self.fieldname)
        low = bisect_left(values, self.start) if self.start else 0
        high = bisect_right(values, self.end + "\uffff") if self.end else len(values)
        return sorted(docnums[low:high])


def _sorted_column(reader: Any, fieldname: str) -> tuple[list[str], list[int]]:
    """The segment's documents that have a value in the column, as (values sorted, their document numbers)."""
    key = f"_searchkit_sorted_{fieldname}"
    cached = reader.__dict__.get(key)
    if cached is None:
        pairs: list[tuple[str, int]] = []
        if reader.has_column(fieldname):
            column = reader.column_reader(fieldname, translate=False)
            for docnum in range(reader.doc_count_all()):
                value = column[docnum]
                if value:
                    pairs.append((value.split(b"\x00", 1)[0].decode("utf-8"), docnum))
        pairs.sort()
        cached = ([value for value, _docnum in pairs], [docnum for _value, docnum in pairs])
        reader.__dict__[key] = cached
    return cached  # type: ignore[no-any-return]


class CharPhrase(_Query):
    """Documents whose ``fieldname`` holds ``chars`` at consecutive positions.

    Matches and scores as ``whoosh.query.Phrase(fieldname, chars, slop=1)``:
    a match scores the sum of its characters' scores (once per occurrence
    in the phrase), times the boost.
    """

    def __init__(self, fieldname: str, chars: Sequence[str], boost: float = 1.0, openings: bool = False) -> None:
        self.fieldname = fieldname
        self.chars = tuple(chars)
        self.boost = boost
        # Of a title phrase: only each article's opening paragraph where the segment has a title
        # table (enough to know the articles); elsewhere every paragraph, as without.
        self.openings = openings
        # Worked out once, not again in every segment:
        self._terms: tuple[Any, list[bytes] | None] = (None, None)  # (schema, the chars' term bytes)
        plain = bool(self.chars) and all(len(char) == 1 and char != SEPARATOR for char in self.chars)
        self._by_suffixes = fieldname == "grams" and plain
        self._by_titles = fieldname == TITLE_FIELD and plain

    def __repr__(self) -> str:
        more = ", openings=True" if self.openings else ""
        return f"{type(self).__name__}({self.fieldname!r}, {''.join(self.chars)!r}, boost={self.boost}{more})"

    def _term_bytes(self, schema: Any) -> list[bytes] | None:
        """The chars as the schema stores them (None: one cannot be a term, so nothing matches)."""
        known, terms = self._terms
        if known is not schema:
            found = [term_bytes(schema, self.fieldname, char) for char in self.chars]
            terms = None if None in found else found  # type: ignore[assignment]
            self._terms = (schema, terms)
        return terms

    def _key(self) -> tuple[Any, ...]:
        return self.fieldname, self.chars, self.boost, self.openings

    def copy(self) -> CharPhrase:
        return CharPhrase(self.fieldname, self.chars, self.boost, self.openings)

    def estimate_size(self, ixreader: Any) -> int:
        terms = [term_bytes(ixreader.schema, self.fieldname, char) for char in self.chars]
        if None in terms:
            return 0
        return min(ixreader.doc_frequency(self.fieldname, term) for term in set(terms))

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        return self.matcher_within(searcher, context, None)

    def matcher_within(self, searcher: Any, context: Any, allowed: Allowed | None) -> Any:
        """The matcher of the documents ``allowed`` holds only (None: all)."""
        reader = searcher.reader()
        terms = self._term_bytes(searcher.schema)
        if terms is None:
            return wm.NullMatcher()
        weighting = searcher.weighting if context is None else context.weighting
        table = self._suffix_table(reader)
        if table is not None:
            return self._from_suffixes(searcher, reader, table, terms, weighting, allowed)
        titles = segment_titles(reader) if self._by_titles else None
        if titles is not None:
            return self._from_titles(searcher, reader, titles, terms, weighting, allowed)
        infos = {term: _segment_term_info(reader, self.fieldname, term) for term in terms}
        if None in infos.values():
            return wm.NullMatcher()
        # Rarest first: it leads the intersection.
        distinct = sorted(infos, key=lambda term: infos[term].doc_frequency())
        cursors = _Cursors(searcher, self.fieldname, [(term, infos[term]) for term in distinct], weighting)
        slots = {term: i for i, term in enumerate(distinct)}
        ids, scores = _intersect(cursors, [slots[term] for term in terms], allowed)
        if self.boost != 1.0:
            scores = [score * self.boost for score in scores]
        return ScoredList(ids, scores)

    def _suffix_table(self, reader: Any) -> Any:
        """The segment's suffix arrays, where they can answer this phrase (of
        characters of paragraph text): else None. A segment that has them
        has no postings of those characters (since schema version 3)."""
        if not self._by_suffixes:
            return None
        # A damaged file raises as damaged postings do: the CLI's check then names it.
        return segment_suffixes(reader)

    def _from_suffixes(self, searcher: Any, reader: Any, table: Any, terms: list[bytes], weighting: Any,
                       allowed: Allowed | None) -> Any:
        """The phrase's documents and scores from the segment's suffix arrays.

        The same scores as from the postings: each character's score with its
        count in the document, summed in the phrase's order.
        """
        found = _phrase_hits(reader, table, "".join(self.chars), allowed)
        if not found:
            return wm.NullMatcher()
        return self._scored(searcher, terms, weighting, [doc for doc, _stream in found], [stream for _doc, stream in found])

    def _scored(self, searcher: Any, terms: list[bytes], weighting: Any, ids: list[int], streams: list[str]) -> Any:
        """The documents ``ids`` (the phrase's, each with the stream it is in) scored as the postings
        score them: each character's score with its count in the stream, summed in the phrase's order."""
        if weighting is None:  # an unscored search (Whoosh's boolean context)
            return ScoredList(ids, [0.0] * len(ids))
        by_char: dict[str, list[float]] = {}
        for char, term in zip(self.chars, terms):
            if char not in by_char:
                scorer = (
                    _bm25_scorer(searcher, self.fieldname, term, weighting)
                    if type(weighting) is scoring.BM25F
                    else weighting.scorer(searcher, self.fieldname, term)
                )
                by_char[char] = _scores(scorer, ids, [stream.count(char) for stream in streams])
        scores = _tree_sums([by_char[char] for char in self.chars])
        if self.boost != 1.0:
            scores = [score * self.boost for score in scores]
        return ScoredList(ids, scores)

    def _from_titles(self, searcher: Any, reader: Any, titles: TitleTable, terms: list[bytes], weighting: Any,
                     allowed: Allowed | None) -> Any:
        """The title phrase's documents and scores from the segment's title table: the same
        scores as from the postings (each character's, with its count in the title)."""
        kept = reader.__dict__.setdefault("_searchkit_titles_found", {})
        phrase = "".join(self.chars)
        runs = kept.get(phrase)
        if runs is None:
            runs = _keep(kept, phrase, titles.holding_phrase(phrase), PHRASES_KEPT)
        deleted = reader.deleted_docs_set if reader.has_deletions() else ()
        ids, streams = runs_within(runs, deleted, None if allowed is None else allowed.set, self.openings)
        if not ids:
            return wm.NullMatcher()
        return self._scored(searcher, terms, weighting, ids, streams)


def _phrase_hits(reader: Any, table: Any, phrase: str, allowed: Allowed | None) -> list[tuple[int, str]]:
    """(docnum, stream) of the segment's live documents holding ``phrase`` (only those ``allowed``
    holds, when given), from its suffix arrays. The last few are kept per segment reader: one
    search asks again for the same keyword's documents (for facets, for article-level totals)."""
    kept = reader.__dict__.setdefault("_searchkit_phrases", {})
    key = (phrase, id(allowed))
    hit = kept.get(key)
    if hit is not None and hit[0] is allowed:  # (the same filter object, not one that took its id)
        return hit[1]  # type: ignore[no-any-return]
    within = None if allowed is None else allowed.set
    everywhere = kept.get((phrase, id(None)))
    if within is not None and everywhere is not None:
        # Its documents anywhere are known (an article-level search asks for them, then within its
        # candidates): filtered, not looked up and decoded again.
        found = [(doc, stream) for doc, stream in everywhere[1] if doc in within]
    else:
        deleted = reader.deleted_docs_set if reader.has_deletions() else ()
        found = [(doc, stream) for doc, stream in table.holding_phrase(phrase, within) if doc not in deleted]
    _keep(kept, key, (allowed, found), PHRASES_KEPT)
    return found


def _keep(kept: dict[Any, T], key: Any, value: T, bound: int) -> T:
    """``value``, remembered as ``kept[key]`` in a segment reader's dict of at most ``bound`` entries
    (the oldest one dropped to make room)."""
    if len(kept) >= bound:
        kept.pop(next(iter(kept)))
    kept[key] = value
    return value


class WordUnion(_Query):
    """Documents holding any of ``terms`` ((field, word, boost) each), scored as Whoosh's ``Or``.

    ``matched_words(reader, docnum)`` tells, after the search, which words
    of the fields in ``recorded_fields`` a document matched.
    """

    def __init__(self, terms: Sequence[tuple[str, str, float]], recorded_fields: Sequence[str] = ()) -> None:
        self.terms = list(terms)
        self.recorded_fields = frozenset(recorded_fields)
        self.boost = 1.0
        self._matched: dict[int, dict[int, list[str]]] = {}  # id(segment reader) -> docnum -> words

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.terms!r})"

    def _key(self) -> tuple[Any, ...]:
        return tuple(self.terms), self.boost

    def copy(self) -> WordUnion:
        clone = WordUnion(self.terms, self.recorded_fields)
        clone.boost = self.boost
        return clone

    def estimate_size(self, ixreader: Any) -> int:
        terms = [(fieldname, term_bytes(ixreader.schema, fieldname, word)) for fieldname, word, _boost in self.terms]
        return sum(ixreader.doc_frequency(fieldname, term) for fieldname, term in terms if term is not None)

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        return self.matcher_within(searcher, context, None)

    def matcher_within(self, searcher: Any, context: Any, allowed: Allowed | None) -> Any:
        """The matcher of the documents ``allowed`` holds only (None: all).

        Unscored (Whoosh's boolean context: which documents match), it only
        gathers their ids and leaves the words recorded by the scored search.
        """
        reader = searcher.reader()
        weighting = searcher.weighting if context is None else context.weighting
        totals: dict[int, float] = {}
        matched: dict[int, list[str]] = {}
        for fieldname, word, boost in self.terms:
            term = term_bytes(searcher.schema, fieldname, word)
            info = None if term is None else _segment_term_info(reader, fieldname, term)
            if info is None:
                continue
            if weighting is None:
                for docs, _weights in _postings(_Cursor(reader.postings(fieldname, term)), allowed):
                    totals.update(zip(docs, repeat(0.0)))
                continue
            cursor = _open_cursor(searcher, fieldname, term, weighting, info)
            boost *= self.boost
            record = fieldname in self.recorded_fields
            for docs, weights in _postings(cursor, allowed):
                for doc, score in zip(docs, _scores(cursor.scorer, docs, weights)):
                    if boost != 1.0:  # as Whoosh's boost wrapper: the score times the boost
                        score *= boost
                    totals[doc] = totals.get(doc, 0.0) + score
                    if record:
                        matched.setdefault(doc, []).append(word)
        if weighting is not None:
            self._matched[id(reader)] = matched
        ids = sorted(totals)
        return ScoredList(ids, [totals[doc] for doc in ids])

    def matched_words(self, reader: Any, docnum: int) -> frozenset[str]:
        """The recorded fields' words a document (of the segment ``reader``) matched."""
        return frozenset(self._matched.get(id(reader), {}).get(docnum, ()))


class RankedFilter(_Query):
    """The documents ``required`` matches, each scored as its score plus the
    (boosted) scores of the ranking ``terms`` ((field, word, boost) each) it holds.

    Whoosh's ``AndMaybe(required, Or(terms))`` gives the same documents and
    scores (but for the order of float additions: here the terms' in their
    order); it opened a matcher per term and segment and walked every
    posting of every term. Here a term is read only in the blocks where a
    required document falls, and when ``required`` matches nothing in a
    segment no term is looked up there.
    """

    def __init__(self, required: wq.Query, terms: Sequence[tuple[str, str, float]]) -> None:
        self.required = required
        self.terms = list(terms)
        self.boost = 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.required!r}, {self.terms!r})"

    def _key(self) -> tuple[Any, ...]:
        return self.required, tuple(self.terms), self.boost

    def copy(self) -> RankedFilter:
        clone = RankedFilter(self.required, self.terms)
        clone.boost = self.boost
        return clone

    def estimate_size(self, ixreader: Any) -> int:
        return int(self.required.estimate_size(ixreader))

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        return self.matcher_within(searcher, context, None)

    def matcher_within(self, searcher: Any, context: Any, allowed: Allowed | None) -> Any:
        """The matcher of the documents ``allowed`` holds only (None: all)."""
        required = _matcher_within(self.required, searcher, context, allowed)
        if not required.is_active():
            return wm.NullMatcher()
        if isinstance(required, ScoredList) and required._i == 0:
            ids, scores = list(required._ids), list(required._weights)
        else:
            ids, scores = [], []
            while required.is_active():
                ids.append(required.id())
                scores.append(required.score())
                required.next()
        weighting = searcher.weighting if context is None else context.weighting
        if weighting is None:  # unscored: which documents match
            return ScoredList(ids, scores)
        recorded = _recorded_words(searcher, ids, weighting, self.terms)
        ranking: dict[int, float] = {}  # index in ids -> the ranking terms' sum
        for fieldname, word, boost in self.terms:
            if recorded is None or fieldname not in RANKING_WORDS_PARTS:
                cursor = _word_cursor(searcher, fieldname, word, weighting)
                if cursor is None:
                    continue
                found = []
                for block in cursor.held(ids):
                    weights = cursor.weights  # (of the block read then)
                    found.extend([(k, weights[i]) for k, i in block])
                scorer = cursor.scorer
            else:  # the same counts as the postings' weights, and the same scorer
                part = RANKING_WORDS_PARTS.index(fieldname)
                found = [(k, float(count)) for k, words in enumerate(recorded) if (count := words[part].count(word))]
                term = term_bytes(searcher.schema, fieldname, word) if found else None
                if term is None:
                    continue
                scorer = _bm25_scorer(searcher, fieldname, term, weighting)
            term_scores = _scores(scorer, [ids[k] for k, _weight in found], [weight for _k, weight in found])
            for (k, _weight), score in zip(found, term_scores):
                if boost != 1.0:  # as Whoosh's boost wrapper: the score times the boost
                    score *= boost
                ranking[k] = ranking.get(k, 0.0) + score
        for k, score in ranking.items():
            scores[k] += score
        if self.boost != 1.0:
            scores = [score * self.boost for score in scores]
        return ScoredList(ids, scores)

    def top(self, searcher: Any, limit: int) -> tuple[list[tuple[float, int]], int]:
        """The ``limit`` best (score, docnum) over the whole index, best first, and the number of matches."""
        return top_scored(searcher, self, limit)  # type: ignore[return-value]


def scored_lists(searcher: Any, q: wq.Query) -> list[tuple[Any, int, Sequence[int], Sequence[float]]] | None:
    """Per segment where ``q`` matches, (its reader, its first docnum, the documents, their scores);
    None where a segment's matcher of ``q`` is not a list of scored documents (then Whoosh's
    collector must walk it)."""
    lists = []
    for subsearcher, offset in searcher.leaf_searchers():
        found = q.matcher(subsearcher)
        if not found.is_active():
            continue
        if not isinstance(found, ScoredList) or found._i:
            return None
        lists.append((subsearcher.reader(), offset, found._ids, found._weights))
    return lists


def top_scored(searcher: Any, q: wq.Query, limit: int) -> tuple[list[tuple[float, int]], int] | None:
    """The ``limit`` best (score, docnum) of ``q`` over the whole index, best first (ties: lower
    docnum first, as Whoosh's collector), and the number of matches; None as :func:`scored_lists`."""
    lists = scored_lists(searcher, q)
    if lists is None:
        return None
    best: list[tuple[float, int]] = []
    total = 0
    for _reader, offset, ids, scores in lists:
        total += len(ids)
        best = heapq.nlargest(limit, [*best, *zip(scores, [-(docnum + offset) for docnum in ids])])
    return [(score, -negated) for score, negated in best], total


def _recorded_words(searcher: Any, ids: Sequence[int], weighting: Any,
                    terms: Sequence[tuple[str, str, float]]) -> list[list[list[str]]] | None:
    """Per document of ``ids``, its words per field of RANKING_WORDS_PARTS,
    from the segment's column; None where the postings must answer (no
    column, a document without words recorded, a weighting other than
    BM25F) or answer sooner: many documents, and the ``terms``' postings
    (fieldname, word, boost) in fewer blocks than they would take to read."""
    if type(weighting) is not scoring.BM25F:
        return None
    reader = searcher.reader()
    if len(ids) > FEW_MATCHES and len(ids) > RECORDED_PER_BLOCK * _blocks_to_read(reader, ids, terms):
        return None
    column = ranking_words_column(reader)
    if column is None:
        return None
    lengths, offsets, get, base = column
    recorded = []
    for doc in ids:
        length = lengths[doc]
        if not length:
            return None
        recorded.append(decode_ranking_words(get(base + offsets[doc], length)))
    return recorded


def _blocks_to_read(reader: Any, ids: Sequence[int], terms: Sequence[tuple[str, str, float]]) -> int:
    """About how many postings blocks the ranking words' cursors would decode to find ``ids``
    in the segment: a block per document at most, and at most each word's every block."""
    blocks = 0
    for fieldname, word, _boost in terms:
        if fieldname in RANKING_WORDS_PARTS:
            term = term_bytes(reader.schema, fieldname, word)
            info = None if term is None else _segment_term_info(reader, fieldname, term)
            if info is not None:
                blocks += min(len(ids), -(-info.doc_frequency() // POSTINGS_PER_BLOCK))
    return blocks


def _segment_term_info(leaf: Any, fieldname: str, btext: bytes) -> Any:
    """One segment reader's term info of the term (None: not there), with one probe of its term table."""
    probe = _term_probe(leaf)
    if probe is None:
        return leaf.term_info(fieldname, btext) if (fieldname, btext) in leaf else None
    return probe.term_info(fieldname, btext)


def _term_probe(leaf: Any) -> TermProbe | None:
    """The segment reader's term table probe, made once per reader (None: not a Whoosh 3 table)."""
    probe = leaf.__dict__.get("_searchkit_probe")
    if probe is None:
        terms = getattr(leaf, "_terms", None)
        if not isinstance(terms, W3TermsReader):
            return None
        probe = leaf._searchkit_probe = TermProbe(terms)
    return probe  # type: ignore[no-any-return]


def searcher_cache(searcher: Any, name: str, bound: int) -> dict[Any, Any]:
    """A dict kept on the (top) searcher, emptied once past ``bound`` entries.

    A searcher reads one state of the index (a new one is opened when the
    index changes), so what is computed from that state stays true.
    """
    parent = searcher.get_parent()
    cache: dict[Any, Any] | None = parent.__dict__.get(name)
    if cache is None or len(cache) > bound:
        cache = parent.__dict__[name] = {}
    return cache


MAX_CACHED_FREQUENCIES = 200_000


def cached_doc_frequency(searcher: Any, fieldname: str, btext: bytes) -> int:
    """The term's document frequency in the (top) searcher's index, remembered by that searcher.

    Query segmentation and each ranking term's idf ask for it; Whoosh's own
    idf cache is per segment searcher, so it summed every segment's
    frequency again in each segment.
    """
    parent = searcher.get_parent()
    table = getattr(parent, "table_frequency", None)  # a searcher with global statistics (engine.statistics)
    if table is not None:
        found = table(fieldname, btext)
        if found is not None:
            return found  # type: ignore[no-any-return]
    cache = searcher_cache(parent, "_searchkit_frequencies", MAX_CACHED_FREQUENCIES)
    key = (fieldname, btext)
    frequency = cache.get(key)
    if frequency is None:
        frequency = cache[key] = sum(source(fieldname, btext) for source in _frequency_sources(parent))
    return frequency


def _frequency_sources(parent: Any) -> list[Callable[[str, bytes], int]]:
    """Per segment of the top searcher, its ``doc_frequency(fieldname, btext)``: a probe of its term table where it can."""
    sources: list[Callable[[str, bytes], int]] | None = parent.__dict__.get("_searchkit_frequency_sources")
    if sources is None:
        sources = []
        for leaf, _offset in parent.reader().leaf_readers():
            probe = _term_probe(leaf)
            sources.append(leaf.doc_frequency if probe is None else probe.doc_frequency)
        parent._searchkit_frequency_sources = sources
    return sources


def term_bytes(schema: Any, fieldname: str, text: str) -> bytes | None:
    """The term as the index stores it; None for text that cannot be a term.

    As Whoosh's Term and Phrase: such text (a lone surrogate) matches nothing.
    """
    try:
        return schema[fieldname].to_bytes(text)  # type: ignore[no-any-return]
    except ValueError:
        return None


# A phrase's candidate document: its docnum, the (weight, value) postings of
# the terms that hold it so far, and where the phrase can start in it.
_Candidate = tuple[int, list[tuple[float, Any]], frozenset[int] | None]


class _Cursor:
    """One term's postings in a segment, a block at a time.

    Moving to the block that may hold a document reads block headers only;
    a block's postings are decoded when a candidate falls in it.
    """

    def __init__(self, matcher: Any, scorer: Any = None) -> None:
        self.deleted: frozenset[int] | set[int] = frozenset()
        if isinstance(matcher, wm.FilterMatcher) and matcher._exclude:
            self.deleted = matcher._ids  # the segment's deleted documents
            matcher = matcher.child
        if scorer is None:
            scorer = matcher.scorer if isinstance(matcher, W3LeafMatcher) else matcher._scorer
        self.scorer = scorer
        self.format = matcher.format if isinstance(matcher, W3LeafMatcher) else matcher._format
        self.leaf = matcher if isinstance(matcher, W3LeafMatcher) and matcher.is_active() else None
        self.active = matcher.is_active()
        self.ids: Sequence[int] = ()
        self.weights: Sequence[float] = ()
        self.values: Sequence[Any] = ()
        self.where: dict[int, int] | None = None
        # Inactive (every posting of the term in this segment deleted, the
        # term still in its table): no block holds anything.
        self.max_id = -1
        self.loaded = True
        if self.leaf is not None:
            self.max_id = self.leaf.block_max_id()
            self.loaded = False
        elif self.active:  # an inlined list (or another matcher): all of it as one block
            postings = []
            while matcher.is_active():
                postings.append((matcher.id(), matcher.weight(), matcher.value()))
                matcher.next()
            self.ids, self.weights, self.values = (tuple(column) for column in zip(*postings))
            self.max_id = self.ids[-1]

    def reach(self, doc: int) -> bool:
        """Move to the block that would hold ``doc``; False when no block can."""
        while self.max_id < doc:
            if self.leaf is None or not self.active:
                self.active = False
                return False
            self.leaf._next_block()
            if not self.leaf.is_active():
                self.active = False
                return False
            self.max_id = self.leaf.block_max_id()
            self.loaded = False
        return True

    def load(self) -> None:
        if not self.loaded:
            leaf = self.leaf
            leaf._read_ids()
            leaf._read_weights()
            leaf._read_values()
            self.ids, self.weights, self.values = leaf._ids, leaf._weights, leaf._values
            self.where = None
            self.loaded = True

    def held(self, docs: Sequence[int]) -> Iterator[list[tuple[int, int]]]:
        """Per block of the term's postings, (index in ``docs``, index in the block) of each of the
        ascending ``docs`` it holds, yielded while that block is loaded (``ids``, ``weights``, ``values``).

        Only the blocks the documents fall in are decoded.
        """
        start, count = 0, len(docs)
        while start < count:
            if not self.reach(docs[start]):
                return
            end = bisect_right(docs, self.max_id, start)
            self.load()
            if self.where is None:
                self.where = dict(zip(self.ids, range(len(self.ids))))
            found = [(k, i) for k, i in zip(range(start, end), map(self.where.get, docs[start:end])) if i is not None]
            if found:
                yield found
            start = end

    def keep(self, candidates: list[_Candidate]) -> list[_Candidate]:
        """The candidates (ascending) this term holds, its posting added to theirs."""
        kept: list[_Candidate] = []
        for found in self.held([candidate[0] for candidate in candidates]):
            weights, values = self.weights, self.values
            for k, i in found:
                candidate = candidates[k]
                candidate[1].append((weights[i], values[i]))
                kept.append(candidate)
        return kept

    def next_block(self) -> None:
        self.reach(self.max_id + 1)


def _open_cursor(searcher: Any, fieldname: str, btext: bytes, weighting: Any, info: Any = None) -> _Cursor:
    """A cursor over the term's postings in the (segment) searcher's reader, with its scorer.

    ``info``, the term's term info in that segment when the caller has it,
    saves looking the term up again (Whoosh looks it up twice more).
    ``weighting`` None (an unscored search): no scorer (Whoosh would make one).
    """
    scored = weighting is not None
    if scored and (type(weighting) is not scoring.BM25F or not searcher.schema[fieldname].scorable):
        return _Cursor(searcher.postings(fieldname, btext, weighting=weighting))
    reader = searcher.reader()
    if info is None or not isinstance(getattr(reader, "_terms", None), W3TermsReader):
        postings = reader.postings(fieldname, btext)
    else:  # SegmentReader.postings, from the term info
        terms = reader._terms
        postings = terms._codec.postings_reader(terms._postfile, info, reader.schema[fieldname].format, term=(fieldname, btext))
        if reader.deleted_docs_set:
            postings = wm.FilterMatcher(postings, reader.deleted_docs_set, exclude=True)
    return _Cursor(postings, _bm25_scorer(searcher, fieldname, btext, weighting) if scored else _UNSCORED)


def _word_cursor(searcher: Any, fieldname: str, word: str, weighting: Any) -> _Cursor | None:
    """A cursor over the word's postings in the (segment) searcher's reader; None where it holds no such term."""
    term = term_bytes(searcher.schema, fieldname, word)
    if term is None:
        return None
    info = _segment_term_info(searcher.reader(), fieldname, term)
    return None if info is None else _open_cursor(searcher, fieldname, term, weighting, info)


def _postings(cursor: _Cursor, allowed: Allowed | None) -> Iterator[tuple[list[int], list[float]]]:
    """The term's postings (documents, weights) a block at a time, deleted documents left out, and those
    ``allowed`` does not hold (then only the blocks its documents fall in are read, and each is
    intersected with its set: a filter costs what its documents' share of the postings does)."""
    deleted = cursor.deleted
    if allowed is not None:  # (it never holds deleted documents)
        ids, keep = allowed.ids, allowed.set
        start, count = 0, len(ids)
        while start < count and cursor.reach(ids[start]):
            cursor.load()
            common = keep.intersection(cursor.ids)
            if common:
                where = dict(zip(cursor.ids, range(len(cursor.ids))))
                docs = sorted(common)
                yield docs, [cursor.weights[where[doc]] for doc in docs]
            start = bisect_right(ids, cursor.max_id, start)
        return
    while cursor.active:
        cursor.load()
        if not deleted:
            yield list(cursor.ids), list(cursor.weights)
        else:
            pairs = [(doc, weight) for doc, weight in zip(cursor.ids, cursor.weights) if doc not in deleted]
            if pairs:
                yield [doc for doc, _weight in pairs], [weight for _doc, weight in pairs]
        cursor.next_block()


class _BM25Scorer:
    """Whoosh's BM25F scorer of one term in one segment, the same scores, made cheaper.

    Whoosh's looks the term up again (the postings reader just did) and asks
    the top searcher to add up every segment's total field length, for each
    term in each segment (the average is kept per top searcher here), and
    reads each document's field length from the column one at a time (here
    the segment's lengths are read once, then indexed).
    """

    __slots__ = ("idf", "avgfl", "B", "K1", "lengths", "dfl", "once")
    lengths: Sequence[int] | None

    def __init__(self, searcher: Any, fieldname: str, btext: bytes, weighting: scoring.BM25F) -> None:
        parent = searcher.get_parent()
        averages = parent.__dict__.setdefault("_searchkit_avgfl", {})
        if fieldname not in averages:
            averages[fieldname] = parent.avg_field_length(fieldname) or 1
        # Whoosh's WeightingModel.idf, the frequency remembered by the top searcher
        self.idf = math.log(parent.doc_count_all() / (cached_doc_frequency(parent, fieldname, btext) + 1)) + 1
        self.avgfl = averages[fieldname]
        self.B = weighting._field_B.get(fieldname, weighting.B)
        self.K1 = weighting.K1
        reader = searcher.reader()
        self.lengths = _field_lengths(reader, fieldname)
        self.dfl = lambda docnum: reader.doc_field_length(docnum, fieldname, 1)
        self.once: list[float] | None = None

    def score(self, posting: Any) -> float:
        return self.scores((posting.id(),), (posting.weight(),))[0]

    def scores(self, docs: Sequence[int], weights: Sequence[float]) -> list[float]:
        """The scores of the postings (``docs[i]``, ``weights[i]``), as ``scoring.bm25`` computes them."""
        idf, avgfl, B, K1 = self.idf, self.avgfl, self.B, self.K1
        lengths = self.lengths
        if lengths is None:
            return [float(scoring.bm25(idf, tf, self.dfl(doc), avgfl, B, K1)) for doc, tf in zip(docs, weights)]
        # The same arithmetic as scoring.bm25, its part per length byte worked out once per
        # scorer (and the whole of it for a count of 1).
        norms = _length_norms(K1, B, avgfl)
        once = self.once
        if once is None:
            once = self.once = [idf * ((1 * (K1 + 1)) / (1 + norm)) for norm in norms]
        scale = K1 + 1
        return [once[length] if tf == 1 else idf * ((tf * scale) / (tf + norms[length]))
                for length, tf in zip(map(lengths.__getitem__, docs), weights)]


@functools.lru_cache(maxsize=64)
def _length_norms(K1: float, B: float, avgfl: float) -> tuple[float, ...]:
    """Per stored length byte, BM25's ``K1 * ((1 - B) + B * length / avgfl)``, as :meth:`_BM25Scorer.scores` computes it."""
    return tuple(K1 * ((1 - B) + B * length / avgfl) for length in _LENGTH_OF_BYTE)


MAX_CACHED_SCORERS = 100_000


def _bm25_scorer(searcher: Any, fieldname: str, btext: bytes, weighting: scoring.BM25F) -> _BM25Scorer:
    """The term's scorer in the (segment) searcher's reader, remembered by the top searcher.

    Keyword queries share characters: each one's scorer per segment is made
    once per state of the index, not once per query.
    """
    cache = searcher_cache(searcher, "_searchkit_scorers", MAX_CACHED_SCORERS)
    # The top searcher keeps its segment readers open, so their ids stay theirs.
    key = (id(searcher.reader()), fieldname, btext, weighting._field_B.get(fieldname, weighting.B), weighting.K1)
    scorer = cache.get(key)
    if scorer is None:
        scorer = cache[key] = _BM25Scorer(searcher, fieldname, btext, weighting)
    return scorer


# A stored length byte's length, as Whoosh's doc_field_length decodes it (0: no length; Whoosh
# answers None, which no posting's document has).
_LENGTH_OF_BYTE = [1] + [byte_to_length(b) for b in range(1, 256)]


def _field_lengths(reader: Any, fieldname: str) -> Sequence[int] | None:
    """A segment's stored length bytes of ``fieldname``, one per document, read once per reader."""
    perdoc = getattr(reader, "_perdoc", None)
    if not isinstance(perdoc, W3PerDocReader):
        return None
    lengths = reader.__dict__.get("_searchkit_lengths")
    if lengths is None:
        lengths = reader._searchkit_lengths = FieldLengths(perdoc)
    return lengths.length_bytes(fieldname)


def _scores(scorer: Any, docs: Sequence[int], weights: Sequence[float]) -> list[float]:
    """The scorer's scores of postings (``docs[i]``, ``weights[i]``)."""
    if isinstance(scorer, _BM25Scorer):
        return scorer.scores(docs, weights)
    return [scorer.score(_Posting(doc, weight)) for doc, weight in zip(docs, weights)]


class _Posting:
    """The current posting, as a scorer reads it from a matcher."""

    __slots__ = ("_id", "_weight")

    def __init__(self, doc: int, weight: float) -> None:
        self._id, self._weight = doc, weight

    def id(self) -> int:
        return self._id

    def weight(self) -> float:
        return self._weight


_UNSCORED = object()  # a cursor's scorer in an unscored search


class _Cursors:
    """The terms' cursors, each opened (postings reader and scorer) when first needed.

    When the leading terms leave no candidates in a segment, as for most
    keywords in most segments of a large index, the others are never opened.
    ``terms`` are (term bytes, its term info in the segment) pairs.
    """

    def __init__(self, searcher: Any, fieldname: str, terms: list[tuple[bytes, Any]], weighting: Any) -> None:
        self._open = lambda term: _open_cursor(searcher, fieldname, term[0], weighting, term[1])
        self._terms = terms
        self.opened: list[_Cursor | None] = [None] * len(terms)

    def __len__(self) -> int:
        return len(self._terms)

    def __getitem__(self, i: int) -> _Cursor:
        cursor = self.opened[i]
        if cursor is None:
            cursor = self.opened[i] = self._open(self._terms[i])
        return cursor


def _intersect(cursors: _Cursors, phrase: list[int], allowed: Allowed | None = None) -> tuple[list[int], list[float]]:
    """Documents where every cursor's term occurs, at the phrase's positions.

    ``phrase`` lists, per position of the phrase, the index of its cursor.
    The leading (rarest) term's postings are the candidates, a block at a
    time; each other term keeps those it holds where it stands at the right
    distance from the terms before it, so later (commoner) terms see few
    candidates and read few of their blocks. Only documents ``allowed``
    holds are candidates (None: all).
    """
    ids: list[int] = []
    scores: list[float] = []
    lead = cursors[0]
    # Per cursor, the offsets in the phrase where its term stands.
    offsets = [[at for at, slot in enumerate(phrase) if slot == i] for i in range(len(cursors))]
    deleted = lead.deleted
    positions_of = _positions_decoder(lead.format)
    # A term's posting value -> where the phrase can start by it. Values repeat: every
    # paragraph carries its article's title, and many titles are alike (二首, 十韻).
    known: list[dict[bytes, frozenset[int]]] = [{} for _ in cursors.opened]

    def starts_by(i: int, value: bytes) -> frozenset[int]:
        found = known[i].get(value)
        if found is None:
            found = known[i][value] = frozenset(_starts(positions_of(value), offsets[i]))
        return found

    while lead.active:
        lead.load()
        # Where the phrase can start is worked out once a candidate holds two
        # terms: most of the lead's documents lack the second.
        candidates: list[_Candidate] = [
            (doc, [(weight, value)], None) for doc, weight, value in zip(lead.ids, lead.weights, lead.values)
            if doc not in deleted and (allowed is None or doc in allowed.set)
        ]
        for i in range(1, len(cursors)):
            if not candidates:
                break
            kept: list[_Candidate] = []
            for doc, postings, starts in cursors[i].keep(candidates):
                starts = (starts_by(0, postings[0][1]) if starts is None else starts) & starts_by(i, postings[-1][1])
                if starts:
                    kept.append((doc, postings, starts))
            candidates = kept
        if len(cursors) == 1:  # one term, repeated (山山): its own positions decide
            candidates = [c for c in candidates if starts_by(0, c[1][0][1])]
        if candidates:
            docs = [doc for doc, _postings, _starts_left in candidates]
            ids.extend(docs)
            if lead.scorer is _UNSCORED:
                scores.extend([0.0] * len(docs))
            else:
                # Per term (cursor), its score in each candidate document.
                by_term = [_scores(cursors[i].scorer, docs, [postings[i][0] for _doc, postings, _s in candidates])
                           for i in range(len(cursors))]
                scores.extend(_tree_sums([by_term[slot] for slot in phrase]))
        if not all(cursor.active for cursor in cursors.opened[1:] if cursor is not None):
            break  # a term has no postings left: nothing further can match
        lead.next_block()
    return ids, scores


def _positions_decoder(fmt: Any) -> Callable[[bytes], Sequence[int]]:
    """The format's decoder of a posting value's positions."""
    if type(fmt) is formats.Positions:
        # Whoosh's decode_positions, without its lookups and Python loop:
        # the value is a count, then the pickled deltas.
        return lambda value: list(accumulate(pickle.loads(value[4:])))
    return lambda value: fmt.decode_as("positions", value)  # type: ignore[no-any-return]


def _starts(positions: Sequence[int], offsets: list[int]) -> set[int]:
    """Where the phrase can start, given a term's positions and its offsets in the phrase."""
    first = offsets[0]
    starts = {position - first for position in positions} if first else set(positions)
    for offset in offsets[1:]:
        starts.intersection_update([position - offset for position in positions])
    return starts


def _tree_sums(columns: list[list[float]]) -> list[float]:
    """Per row, the sum of the columns' values in the order of Whoosh's
    balanced intersection tree (same float rounding); an addition per row
    and tree node, a column at a time."""
    if len(columns) == 1:
        return list(columns[0])
    half = len(columns) // 2
    return [left + right for left, right in zip(_tree_sums(columns[:half]), _tree_sums(columns[half:]))]


class ScoredList(wm.ListMatcher):  # type: ignore[misc]
    """Matched documents with their scores; skips by bisection."""

    def __init__(self, ids: list[int], scores: list[float]) -> None:
        super().__init__(ids, weights=scores)

    def copy(self) -> ScoredList:
        clone = ScoredList(self._ids, self._weights)
        clone._i = self._i
        return clone

    def skip_to(self, target: int) -> None:
        if not self.is_active():
            raise wm.ReadTooFar
        self._i = bisect_left(self._ids, target, self._i)

    def score(self) -> float:
        return float(self._weights[self._i])


class PinyinPhrase(_Query):
    """Documents whose ``fieldname`` holds, at consecutive positions, one term of each unit
    (``units``: per position, the terms that may stand there), scored by how often it does.

    A match scores ``n / (n + 1.2)`` times the boost for ``n`` occurrences (the
    same for every unit: all it says is that the run reads so). ``found`` keeps,
    per document (the searcher's numbers), where the occurrences start: a
    query's highlights. Each unit's postings are read whole, in every segment.
    """

    def __init__(self, fieldname: str, units: Sequence[Sequence[str]], boost: float = 1.0) -> None:
        self.fieldname = fieldname
        self.units = tuple(tuple(unit) for unit in units)
        self.boost = boost
        self.found: dict[int, list[int]] = {}  # shared by copies: filled as segments are matched

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fieldname!r}, {len(self.units)} units, boost={self.boost})"

    def _key(self) -> tuple[Any, ...]:
        return self.fieldname, self.units, self.boost

    def __deepcopy__(self, memo: dict[int, Any]) -> PinyinPhrase:
        # Whoosh copies queries deeply (Query.copy, when boosted): the copy records where the original does.
        clone = PinyinPhrase(self.fieldname, self.units, self.boost)
        clone.found = self.found
        return clone

    def estimate_size(self, ixreader: Any) -> int:
        return int(ixreader.doc_count_all())

    def _postings(self, reader: Any, unit: tuple[str, ...]) -> list[Any]:
        """A postings matcher per term of the unit the segment holds."""
        found = []
        for text in unit:
            btext = term_bytes(reader.schema, self.fieldname, text)
            if btext is not None and (self.fieldname, btext) in reader:
                found.append(reader.postings(self.fieldname, btext))
        return found

    def _positions(self, reader: Any, unit: tuple[str, ...], wanted: list[int]) -> dict[int, set[int]]:
        """Where the unit's terms are in each of the ``wanted`` documents (ascending): values decoded only there."""
        decode = _positions_decoder(reader.schema[self.fieldname].format)
        held: dict[int, set[int]] = {}
        for postings in self._postings(reader, unit):
            for docnum in wanted:
                if not postings.is_active():
                    break
                if postings.id() < docnum:
                    postings.skip_to(docnum)
                    if not postings.is_active():
                        break
                if postings.id() == docnum:
                    held.setdefault(docnum, set()).update(decode(postings.value()))
        return held

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        reader = searcher.reader()
        if self.fieldname not in reader.schema or not self.units:
            return wm.NullMatcher()
        parent = searcher.get_parent()
        offset = 0
        if parent is not searcher:
            offset = next(start for sub, start in parent.subsearchers if sub is searcher)
        # The documents holding every unit, from the ids alone (the cheap part)...
        candidates: set[int] | None = None
        for unit in sorted(set(self.units), key=len):
            ids: set[int] = set()
            for postings in self._postings(reader, unit):
                ids.update(postings.all_ids())
            candidates = ids if candidates is None else candidates & ids
            if not candidates:
                return wm.NullMatcher()
        wanted = sorted(candidates or ())
        # ... then the positions, there only.
        per_unit = [self._positions(reader, unit, wanted) for unit in self.units]
        ids_found: list[int] = []
        scores: list[float] = []
        for docnum in wanted:
            first = per_unit[0].get(docnum, ())
            starts = sorted(p for p in first if all(p + i in per_unit[i].get(docnum, ()) for i in range(1, len(per_unit))))
            if starts:
                ids_found.append(docnum)
                scores.append(len(starts) / (len(starts) + 1.2) * self.boost)
                self.found[offset + docnum] = starts
        return ScoredList(ids_found, scores) if ids_found else wm.NullMatcher()
