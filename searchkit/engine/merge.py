"""Merges: streaming the old segments term by term, and the policy of what to merge.

A merge reads the segments' sorted lexicons a megabyte at a time (a k-way
merge), holding one term's postings list per segment; a list from a segment
that lost no documents is copied block by block, only each block's first and
last ids rewritten. The policy merges segments of one size tier once
``MERGE_FACTOR`` of them gather, so every posting is rewritten O(log n) times.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import Any

from whoosh.codec.whoosh3 import (
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
)
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader
from whoosh.writing import SegmentWriter

from .codec import CopiedRun, PostingRun, _blocks
from .terms import field_terms

MERGE_FACTOR = 8  # segments of one size tier merged at once
# Segments of this tier or above (8**5 = 32,768 live documents) are not
# merged further (but by optimize), so a bulk import rewrites each document
# at most once or twice and its time grows linearly; a million paragraphs
# stay in a few tens of segments.
TOP_TIER = 5
DELETED_SHARE = 0.5  # a segment with more of its documents deleted is rewritten


class _MergedSegment:
    """An old segment being merged into the new one: its postings, renumbered."""

    def __init__(self, reader: SegmentReader, base: int, docmap: dict[int, int] | None) -> None:
        self.reader = reader
        self.base = base
        self.docmap = docmap  # old docnum -> new docnum, when some were deleted
        self.field_names = set(reader.indexed_field_names())
        self._terms = reader._terms

    def terms(self, fieldname: str) -> Iterator[tuple[bytes, bytes]]:
        """(term, term info bytes) of the field in order (see :func:`field_terms`)."""
        if fieldname in self.field_names:
            yield from field_terms(self.reader, fieldname)

    def runs(self, fieldname: str, btext: bytes, terminfo: Any, fmt: Any) -> Iterator[PostingRun | CopiedRun]:
        """The term's postings in this segment with new docnums: a block at a time,
        or, when the segment lost no documents, its whole list to copy."""
        if terminfo.is_inlined():
            ids, weights, values = terminfo.inlined_postings()
            yield self._renumber(ids, weights, values)
            return
        offset, length = terminfo.extent()
        if isinstance(length, tuple):  # Whoosh's from_bytes leaves it a 1-tuple
            (length,) = length
        # One read for the term's postings, not several per block.
        data = self._terms._postfile.get(offset, length)
        if data[:4] != WHOOSH3_HEADER_MAGIC or not isinstance(self._terms._codec, W3Codec):
            matcher = self._terms._codec.postings_reader(self._terms._postfile, terminfo, fmt, term=(fieldname, btext))
            yield self._renumber(*_drain(matcher))
            return
        if self.docmap is None and terminfo._minid is not None:
            # Nothing deleted: the blocks as they are, but for the first and last ids.
            yield CopiedRun(data, terminfo, self.base)
            return
        fixed = fmt.fixed_value_size()
        for count, (deltas, weights, values) in _blocks(data):
            ids = list(accumulate(deltas))
            if weights is None:
                weights = (1.0,) * count
            elif isinstance(weights, float):
                weights = (weights,) * count
            if fixed is not None and fixed > 0:
                values = [values[i:i + fixed] for i in range(0, len(values), fixed)]
            elif fixed == 0 or values is None:
                values = ()
            yield self._renumber(ids, weights, values)

    def _renumber(self, ids: Sequence[int], weights: Sequence[float], values: Sequence[Any]) -> PostingRun:
        if len(values) != len(ids):
            values = (b"",) * len(ids)
        docmap = self.docmap
        if docmap is None:
            base = self.base
            return [docnum + base for docnum in ids], weights, values
        kept = [i for i, docnum in enumerate(ids) if docnum in docmap]
        return [docmap[ids[i]] for i in kept], [weights[i] for i in kept], [values[i] for i in kept]

    def close(self) -> None:
        self.reader.close()


def _drain(matcher: Any) -> tuple[list[int], list[float], list[Any]]:
    ids: list[int] = []
    weights: list[float] = []
    values: list[Any] = []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        values.append(matcher.value())
        matcher.next()
    return ids, weights, values


def _tagged(terms: Iterable[tuple[bytes, Any]], source: int) -> Iterator[tuple[bytes, int, Any]]:
    # Sorted by term, then source (never equal within one field), so the
    # term infos are never compared.
    return ((btext, source, terminfo) for btext, terminfo in terms)


def _unmapped(storage: Any) -> Any:
    """The same folder, read without mmap: a merge reads each segment once,
    in order, and every page of a mapped file it touched would stay in the
    process's resident set (for the largest merges, hundreds of MB)."""
    if isinstance(storage, FileStorage) and storage.supports_mmap:
        return FileStorage(storage.folder, supports_mmap=False, readonly=True)
    return storage


def tiers_to_merge(segments: list[Any]) -> tuple[list[Any], list[Any]]:
    """The merge policy: (segments to merge into one, segments kept).

    Segments whose live document counts fall in one size tier (log base
    MERGE_FACTOR) below TOP_TIER are merged once MERGE_FACTOR of them gather,
    and a segment more than half deleted is rewritten. Each posting is thus
    rewritten a bounded number of times (log_F of TOP_TIER's size over the
    batch's) and the index keeps a few segments per tier, where Whoosh's
    MERGE_SMALL kept re-merging the largest.
    """
    tiers: dict[int, list[Any]] = {}
    merge = []
    for segment in segments:
        live = segment.doc_count()
        if segment.doc_count_all() and segment.deleted_count() > DELETED_SHARE * segment.doc_count_all():
            merge.append(segment)
            continue
        tier = int(math.log(max(live, 1), MERGE_FACTOR))
        if tier < TOP_TIER:
            tiers.setdefault(tier, []).append(segment)
    for tier_segments in tiers.values():
        if len(tier_segments) >= MERGE_FACTOR:
            merge.extend(tier_segments)
    return merge, [segment for segment in segments if segment not in merge]


def merge_into(writer: SegmentWriter, segments: list[Any]) -> None:
    """Add the segments' live documents to the segment ``writer`` writes (read without a memory map)."""
    storage = _unmapped(writer.storage)
    for segment in segments:
        reader = SegmentReader(storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()


def merge_tiers(writer: SegmentWriter, segments: list[Any]) -> list[Any]:
    """Whoosh merge policy for :func:`tiers_to_merge`, merging in this writer."""
    merge, kept = tiers_to_merge(segments)
    merge_into(writer, merge)
    return kept
