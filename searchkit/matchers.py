"""Whoosh queries that read postings a block at a time.

Whoosh combines matchers in trees (intersections, unions, span wrappers) that
make several Python calls per posting and per level. searchkit's two query
shapes are simple enough to answer in one loop each, per segment, and hand
the collector a list of matches with the scores Whoosh would give them:

* :class:`CharPhrase`, an exact keyword: its grams (character bigrams, or
  characters) at consecutive positions (Whoosh's ``Phrase``). Common grams
  occur in many paragraphs, so that overhead was most of a keyword query's
  time. The rarest gram leads; the others keep the candidates they hold,
  reading only the blocks candidates fall in; positions are checked with sets.
* :class:`WordUnion`, the ranking words: any of them, scored by the sum of
  their (boosted) scores (Whoosh's ``Or``), remembering which words each
  document matched for re-ranking.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from whoosh import matching as wm
from whoosh import query as wq
from whoosh import scoring
from whoosh.codec.whoosh3 import W3LeafMatcher, W3TermInfo, W3TermsReader
from whoosh.system import pack_ushort

__all__ = ["CharPhrase", "WordUnion", "doc_frequency"]


class CharPhrase(wq.Query):  # type: ignore[misc]
    """Documents whose ``fieldname`` holds ``chars`` at consecutive positions.

    Matches and scores as ``whoosh.query.Phrase(fieldname, chars, slop=1)``:
    a match scores the sum of its characters' scores (once per occurrence
    in the phrase), times the boost.
    """

    def __init__(self, fieldname: str, chars: Sequence[str], boost: float = 1.0) -> None:
        self.fieldname = fieldname
        self.chars = tuple(chars)
        self.boost = boost

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fieldname!r}, {''.join(self.chars)!r}, boost={self.boost})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.fieldname == self.fieldname  # type: ignore[attr-defined]
            and other.chars == self.chars  # type: ignore[attr-defined]
            and other.boost == self.boost  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.fieldname, self.chars, self.boost))

    def copy(self) -> CharPhrase:
        return CharPhrase(self.fieldname, self.chars, self.boost)

    def estimate_size(self, ixreader: Any) -> int:
        terms = [_term_bytes(ixreader.schema, self.fieldname, char) for char in self.chars]
        if None in terms:
            return 0
        return min(ixreader.doc_frequency(self.fieldname, term) for term in set(terms))

    def estimate_min_size(self, ixreader: Any) -> int:
        return 0

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        reader = searcher.reader()
        terms = [_term_bytes(searcher.schema, self.fieldname, char) for char in self.chars]
        if None in terms:
            return wm.NullMatcher()
        frequency = {term: _segment_doc_frequency(reader, self.fieldname, term) for term in terms}
        if not all(frequency.values()):
            return wm.NullMatcher()
        weighting = searcher.weighting if context is None else context.weighting
        # Rarest first: it leads the intersection.
        distinct = sorted(frequency, key=frequency.__getitem__)
        cursors = _Cursors(searcher, self.fieldname, distinct, weighting)
        slots = {term: i for i, term in enumerate(distinct)}
        ids, scores = _intersect(cursors, [slots[term] for term in terms])
        if self.boost != 1.0:
            scores = [score * self.boost for score in scores]
        return _ScoredList(ids, scores)


class WordUnion(wq.Query):  # type: ignore[misc]
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

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.terms == self.terms and other.boost == self.boost  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.terms), self.boost))

    def copy(self) -> WordUnion:
        clone = WordUnion(self.terms, self.recorded_fields)
        clone.boost = self.boost
        return clone

    def estimate_size(self, ixreader: Any) -> int:
        terms = [(fieldname, _term_bytes(ixreader.schema, fieldname, word)) for fieldname, word, _boost in self.terms]
        return sum(ixreader.doc_frequency(fieldname, term) for fieldname, term in terms if term is not None)

    def estimate_min_size(self, ixreader: Any) -> int:
        return 0

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        reader = searcher.reader()
        weighting = searcher.weighting if context is None else context.weighting
        totals: dict[int, float] = {}
        matched: dict[int, list[str]] = {}
        for fieldname, word, boost in self.terms:
            term = _term_bytes(searcher.schema, fieldname, word)
            if term is None or (fieldname, term) not in reader:
                continue
            cursor = _open_cursor(searcher, fieldname, term, weighting)
            boost *= self.boost
            record = fieldname in self.recorded_fields
            scorer, deleted = cursor.scorer, cursor.deleted
            while cursor.active:
                cursor.load()
                for doc, weight in zip(cursor.ids, cursor.weights):
                    if doc in deleted:
                        continue
                    score = scorer.score(_Posting(doc, weight))
                    if boost != 1.0:  # as Whoosh's boost wrapper: the score times the boost
                        score *= boost
                    totals[doc] = totals.get(doc, 0.0) + score
                    if record:
                        matched.setdefault(doc, []).append(word)
                cursor.next_block()
        self._matched[id(reader)] = matched
        ids = sorted(totals)
        return _ScoredList(ids, [totals[doc] for doc in ids])

    def matched_words(self, reader: Any, docnum: int) -> frozenset[str]:
        """The recorded fields' words a document (of the segment ``reader``) matched."""
        return frozenset(self._matched.get(id(reader), {}).get(docnum, ()))


def doc_frequency(leaves: Sequence[Any], fieldname: str, text: str) -> int:
    """``reader.doc_frequency(fieldname, text)`` over a reader's leaf (segment) readers.

    Each segment's term table is probed directly: Whoosh raises and catches
    an exception per segment that lacks the term, and query segmentation
    asks about every substring of the query in every segment.
    """
    if not leaves:
        return 0
    btext = _term_bytes(leaves[0].schema, fieldname, text)
    if btext is None:
        return 0
    return sum(_segment_doc_frequency(leaf, fieldname, btext) for leaf in leaves)


def _segment_doc_frequency(leaf: Any, fieldname: str, btext: bytes) -> int:
    """One segment reader's ``doc_frequency``, its term table probed directly."""
    terms = getattr(leaf, "_terms", None)
    if not isinstance(terms, W3TermsReader):
        return int(leaf.doc_frequency(fieldname, btext))
    fieldnum = terms._fieldmap.get(fieldname)
    if fieldnum is not None:
        for datapos, _length in terms._tindex.ranges_for_key(pack_ushort(fieldnum) + btext):
            return int(W3TermInfo.read_doc_freq(terms._dbfile, datapos))
    return 0


def _term_bytes(schema: Any, fieldname: str, text: str) -> bytes | None:
    """The term as the index stores it; None for text that cannot be a term.

    As Whoosh's Term and Phrase: such text (a lone surrogate) matches nothing.
    """
    try:
        return schema[fieldname].to_bytes(text)  # type: ignore[no-any-return]
    except ValueError:
        return None


# A phrase's candidate document: its docnum, the (weight, value) postings of
# the terms that hold it so far, and where the phrase can start in it.
_Candidate = tuple[int, list[tuple[float, Any]], set[int] | None]


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
            self.loaded = True

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

    def keep(self, candidates: list[_Candidate]) -> list[_Candidate]:
        """The candidates (ascending) this term holds, its posting added to theirs."""
        kept: list[_Candidate] = []
        docs = [candidate[0] for candidate in candidates]
        start, count = 0, len(candidates)
        while start < count:
            if not self.reach(docs[start]):
                break
            end = bisect_right(docs, self.max_id, start)
            self.load()
            if self.where is None:
                self.where = dict(zip(self.ids, range(len(self.ids))))
            where, weights, values = self.where, self.weights, self.values
            for candidate in candidates[start:end]:
                i = where.get(candidate[0])
                if i is not None:
                    candidate[1].append((weights[i], values[i]))
                    kept.append(candidate)
            start = end
        return kept

    def next_block(self) -> None:
        self.reach(self.max_id + 1)


def _open_cursor(searcher: Any, fieldname: str, btext: bytes, weighting: Any) -> _Cursor:
    """A cursor over the term's postings in the (segment) searcher's reader, with its scorer."""
    if type(weighting) is not scoring.BM25F or not searcher.schema[fieldname].scorable:
        return _Cursor(searcher.postings(fieldname, btext, weighting=weighting))
    return _Cursor(searcher.reader().postings(fieldname, btext), _BM25Scorer(searcher, fieldname, btext, weighting))


class _BM25Scorer:
    """Whoosh's BM25F scorer of one term in one segment, the same scores, made cheaper.

    Whoosh's looks the term up again (the postings reader just did) and asks
    the top searcher to add up every segment's total field length, for each
    term in each segment; the average is kept per top searcher here.
    """

    __slots__ = ("idf", "avgfl", "B", "K1", "dfl")

    def __init__(self, searcher: Any, fieldname: str, btext: bytes, weighting: scoring.BM25F) -> None:
        parent = searcher.get_parent()
        averages = parent.__dict__.setdefault("_searchkit_avgfl", {})
        if fieldname not in averages:
            averages[fieldname] = parent.avg_field_length(fieldname) or 1
        self.idf = parent.idf(fieldname, btext)
        self.avgfl = averages[fieldname]
        self.B = weighting._field_B.get(fieldname, weighting.B)
        self.K1 = weighting.K1
        reader = searcher.reader()
        self.dfl = lambda docnum: reader.doc_field_length(docnum, fieldname, 1)

    def score(self, posting: Any) -> float:
        return float(scoring.bm25(self.idf, posting.weight(), self.dfl(posting.id()), self.avgfl, self.B, self.K1))


class _Posting:
    """The current posting, as a scorer reads it from a matcher."""

    __slots__ = ("_id", "_weight")

    def __init__(self, doc: int, weight: float) -> None:
        self._id, self._weight = doc, weight

    def id(self) -> int:
        return self._id

    def weight(self) -> float:
        return self._weight


class _Cursors:
    """The terms' cursors, each opened (postings reader and scorer) when first needed.

    When the leading terms leave no candidates in a segment, as for most
    keywords in most segments of a large index, the others are never opened.
    """

    def __init__(self, searcher: Any, fieldname: str, terms: list[bytes], weighting: Any) -> None:
        self._open = lambda term: _open_cursor(searcher, fieldname, term, weighting)
        self._terms = terms
        self.opened: list[_Cursor | None] = [None] * len(terms)

    def __len__(self) -> int:
        return len(self._terms)

    def __getitem__(self, i: int) -> _Cursor:
        cursor = self.opened[i]
        if cursor is None:
            cursor = self.opened[i] = self._open(self._terms[i])
        return cursor


def _intersect(cursors: _Cursors, phrase: list[int]) -> tuple[list[int], list[float]]:
    """Documents where every cursor's term occurs, at the phrase's positions.

    ``phrase`` lists, per position of the phrase, the index of its cursor.
    The leading (rarest) term's postings are the candidates, a block at a
    time; each other term keeps those it holds where it stands at the right
    distance from the terms before it, so later (commoner) terms see few
    candidates and read few of their blocks.
    """
    ids: list[int] = []
    scores: list[float] = []
    lead = cursors[0]
    # Per cursor, the offsets in the phrase where its term stands.
    offsets = [[at for at, slot in enumerate(phrase) if slot == i] for i in range(len(cursors))]
    deleted = lead.deleted
    decode = lead.format.decode_as
    while lead.active:
        lead.load()
        # Where the phrase can start is worked out once a candidate holds two
        # terms: most of the lead's documents lack the second.
        candidates: list[_Candidate] = [
            (doc, [(weight, value)], None) for doc, weight, value in zip(lead.ids, lead.weights, lead.values) if doc not in deleted
        ]
        for i in range(1, len(cursors)):
            if not candidates:
                break
            kept: list[_Candidate] = []
            for doc, postings, starts in cursors[i].keep(candidates):
                if starts is None:
                    starts = _starts(decode("positions", postings[0][1]), offsets[0])
                starts &= _starts(decode("positions", postings[-1][1]), offsets[i])
                if starts:
                    kept.append((doc, postings, starts))
            candidates = kept
        if len(cursors) == 1:  # one term, repeated (山山): its own positions decide
            candidates = [c for c in candidates if _starts(decode("positions", c[1][0][1]), offsets[0])]
        if candidates:
            opened = [cursors[i] for i in range(len(cursors))]
            for doc, postings, _starts_left in candidates:
                term_scores = [cursor.scorer.score(_Posting(doc, weight)) for cursor, (weight, _v) in zip(opened, postings)]
                ids.append(doc)
                scores.append(_tree_sum([term_scores[slot] for slot in phrase]))
        if not all(cursor.active for cursor in cursors.opened[1:] if cursor is not None):
            break  # a term has no postings left: nothing further can match
        lead.next_block()
    return ids, scores


def _starts(positions: list[int], offsets: list[int]) -> set[int]:
    """Where the phrase can start, given a term's positions and its offsets in the phrase."""
    starts = {position - offsets[0] for position in positions}
    for offset in offsets[1:]:
        starts.intersection_update([position - offset for position in positions])
    return starts


def _tree_sum(values: list[float]) -> float:
    """Sum in the order of Whoosh's balanced intersection tree (same float rounding)."""
    if len(values) == 1:
        return values[0]
    half = len(values) // 2
    return _tree_sum(values[:half]) + _tree_sum(values[half:])


class _ScoredList(wm.ListMatcher):  # type: ignore[misc]
    """Matched documents with their scores; skips by bisection."""

    def __init__(self, ids: list[int], scores: list[float]) -> None:
        super().__init__(ids, weights=scores)

    def copy(self) -> _ScoredList:
        clone = _ScoredList(self._ids, self._weights)
        clone._i = self._i
        return clone

    def skip_to(self, target: int) -> None:
        if not self.is_active():
            raise wm.ReadTooFar
        self._i = bisect_left(self._ids, target, self._i)

    def score(self) -> float:
        return float(self._weights[self._i])
