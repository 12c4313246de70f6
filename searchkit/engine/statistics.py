"""Term statistics of several indexes at once, so that each scores as their union would.

A sharded search gathers, from every shard, the counts BM25F and the query
lexicon read: documents (all, and live), each scorable field's total length,
and the document frequency of each term the query can ask about. Their sum,
a :class:`Statistics`, is handed back to every shard, which then searches
with a :func:`statistics_searcher`: a searcher of its own segments whose
counts are the global ones. A term the table lacks is recorded in
``missing`` (and the local count used), so the caller can fetch it and ask
again: an answer is only kept when nothing was missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from whoosh.searching import Searcher

from .matchers import cached_doc_frequency

__all__ = ["Statistics", "local_statistics", "statistics_searcher"]

Key = tuple[str, bytes]  # (field name, term as stored)

# Frequencies a kept statistics searcher collects from the queries it serves before it is made anew.
MAX_KEPT_FREQUENCIES = 200_000


@dataclass
class Statistics:
    """Counts that add up over indexes: plain data, so it pickles to and from Dask workers."""

    doc_count_all: int = 0
    doc_count: int = 0
    field_lengths: dict[str, int] = field(default_factory=dict)
    frequencies: dict[Key, int] = field(default_factory=dict)
    # Of the indexes counted: the state each was in (a change anywhere changes the whole).
    states: tuple[Any, ...] = ()

    def __add__(self, other: Statistics) -> Statistics:
        lengths = dict(self.field_lengths)
        for name, length in other.field_lengths.items():
            lengths[name] = lengths.get(name, 0) + length
        frequencies = dict(self.frequencies)
        for key, count in other.frequencies.items():
            frequencies[key] = frequencies.get(key, 0) + count
        return Statistics(self.doc_count_all + other.doc_count_all, self.doc_count + other.doc_count,
                          lengths, frequencies, self.states + other.states)

    def with_frequencies(self, more: Statistics) -> Statistics:
        """These counts, with ``more``'s term frequencies (of the same indexes) added to the table."""
        return Statistics(self.doc_count_all, self.doc_count, self.field_lengths,
                          {**self.frequencies, **more.frequencies}, self.states)


def _state(searcher: Any) -> Any:
    reader = searcher.reader()
    return (getattr(searcher._ix, "indexname", None), reader.generation(), reader.doc_count_all(), reader.doc_count())


def local_statistics(searcher: Any, keys: Iterable[Key]) -> Statistics:
    """This index's counts, and the frequencies of ``keys``."""
    reader = searcher.reader()
    schema = searcher.schema
    lengths = {name: reader.field_length(name) for name in schema.names() if schema[name].scorable}
    frequencies = {key: cached_doc_frequency(searcher, *key) for key in dict.fromkeys(keys)}
    return Statistics(reader.doc_count_all(), reader.doc_count(), lengths, frequencies, (_state(searcher),))


class _GlobalSearcher(Searcher):  # type: ignore[misc]
    """A searcher of one index's segments whose counts are a :class:`Statistics`'s."""

    def __init__(self, reader: Any, *args: Any, statistics: Statistics | None = None, **kwargs: Any) -> None:
        super().__init__(reader, *args, **kwargs)
        self.statistics = statistics
        self.missing: set[Key] = set()
        if statistics is not None:  # the top searcher; its leaves ask it (Searcher.get_parent)
            self._doccount = statistics.doc_count_all
            self.doc_frequency = self._doc_frequency  # Searcher copies the reader's method onto itself

    def doc_count(self) -> int:
        if self.statistics is None:
            return self.get_parent().doc_count()  # type: ignore[no-any-return]
        return self.statistics.doc_count

    def field_length(self, fieldname: str) -> int:
        if self.statistics is None:
            return self.get_parent().field_length(fieldname)  # type: ignore[no-any-return]
        return self.statistics.field_lengths.get(fieldname, 0)

    def table_frequency(self, fieldname: str, btext: bytes) -> int | None:
        """The global frequency, or None (and the term recorded as missing) when the table lacks it."""
        assert self.statistics is not None
        found = self.statistics.frequencies.get((fieldname, btext))
        if found is None:
            self.missing.add((fieldname, btext))
        return found

    def _doc_frequency(self, fieldname: str, text: Any) -> int:
        btext = self.schema[fieldname].to_bytes(text) if isinstance(text, str) else text
        found = self.table_frequency(fieldname, btext)
        return self.ixreader.doc_frequency(fieldname, btext) if found is None else found


def statistics_searcher(searcher: Any, statistics: Statistics) -> Any:
    """A searcher of ``searcher``'s index (the same segments) that scores with ``statistics``.

    It is kept on ``searcher`` while the global state is the same, with the
    frequencies it was given since, so the engine's per-searcher caches
    (scorers, frequencies, the lexicon's words) serve later queries too; not
    after a query that found terms missing (its caches then hold local counts):
    the next query gets a searcher of its own.
    """
    kept = searcher.__dict__.get("_searchkit_global")
    if (kept is not None and kept.statistics.states == statistics.states and not kept.missing
            and len(kept.statistics.frequencies) < MAX_KEPT_FREQUENCIES):
        kept.statistics.frequencies.update(statistics.frequencies)
        return kept
    own = Statistics(statistics.doc_count_all, statistics.doc_count, dict(statistics.field_lengths),
                     dict(statistics.frequencies), statistics.states)
    made = _GlobalSearcher(searcher.reader(), weighting=searcher.weighting, closereader=False,
                           fromindex=searcher._ix, statistics=own)
    searcher._searchkit_global = made
    return made
