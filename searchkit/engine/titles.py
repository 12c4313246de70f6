"""Suffix arrays of a segment's article titles: title keywords by binary search.

Every paragraph document carries its article's title grams (so that a
keyword in the title matches each of its paragraphs). On postings, a title
keyword is an intersection of its characters' lists in which each title is
repeated once per paragraph: a title keyword of common characters (二十,
江南 in poetry) read tens of thousands of postings per search.

Each segment written by searchkit on an index of characters also holds a
``.tsx`` file (inside its compound file). It lists the segment's *runs*:
the consecutive paragraph documents of one article (merges keep an
article's paragraphs together and in order). Per run: its first document
and the end (one past its last), and its title's gram stream (as the
paragraph documents' ``title_grams`` postings have it), once. The streams
are held in a suffix file of :mod:`searchkit.engine.suffixes` whose
documents are the runs. The file:

* a header: magic, the segment's documents, the runs;
* the runs: (first, end) pairs, unsigned 32-bit little-endian;
* the suffix file of the runs' streams.

Segments without the file (written before it, or on an index of bigrams)
answer title keywords from the postings; ``optimize`` (or any merge)
writes it. The postings stay either way: they carry the statistics scores
read.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..analysis import fold, gram_stream
from .suffixes import (
    SuffixTable,
    has_segment_file,
    read_segment_file,
    write_suffix_file,
)

__all__ = [
    "TITLE_EXTENSION",
    "TITLE_FIELD",
    "TitleRuns",
    "TitleTable",
    "has_title_file",
    "runs_within",
    "segment_titles",
    "title_stream",
    "write_title_file",
]

TITLE_EXTENSION = ".tsx"
TITLE_FIELD = "title_grams"  # paragraph documents' title characters, at their positions
TITLE_MAGIC = b"SKTSX\x00\x00\x01"
_HEADER = struct.Struct("<8sII")  # magic, the segment's documents, runs


def title_stream(title: str) -> str:
    """A title's gram stream: what its ``title_grams`` postings hold, position by position."""
    return gram_stream(fold(title))[0]


class TitleRuns:
    """A segment's runs as its documents are written: each paragraph document's article id and title stream."""

    def __init__(self) -> None:
        self.firsts: list[int] = []
        self.ends: list[int] = []
        self.streams: list[str] = []
        self._article: str | None = None

    def add(self, docnum: int, article_id: str, stream: str) -> None:
        """Paragraph document ``docnum`` (numbered in its segment) of ``article_id``, whose title's stream is ``stream``."""
        if self.ends and self.ends[-1] == docnum and self._article == article_id and self.streams[-1] == stream:
            self.ends[-1] = docnum + 1
            return
        self.firsts.append(docnum)
        self.ends.append(docnum + 1)
        self.streams.append(stream)
        self._article = article_id

    def add_table(self, table: TitleTable, live: Sequence[int], base: int) -> None:
        """The runs of a merged segment's ``table``: its ``live`` documents (ascending) become ``base``,
        ``base + 1``, ... (an article's documents are deleted together, so a run stays whole or goes)."""
        for first, end, stream in table.runs():
            start, stop = bisect_left(live, first), bisect_left(live, end)
            if stop > start:
                self.firsts.append(base + start)
                self.ends.append(base + stop)
                self.streams.append(stream)
        self._article = None  # a run never continues across segments

    def add_stored(self, documents: Iterable[tuple[int, Mapping[str, Any]]]) -> Iterator[tuple[int, Mapping[str, Any]]]:
        """Add the runs of stored documents ((docnum in this segment, stored fields), in order)
        as they are read: yields each document on."""
        self._article = None  # a run never continues across segments
        for docnum, fields in documents:
            if fields.get("kind") == "paragraph":
                self.add(docnum, fields.get("article_id") or "", title_stream(fields.get("title") or ""))
            yield docnum, fields

    def __bool__(self) -> bool:
        # Any paragraph, titled or not: a segment of paragraphs without the file was written before it.
        return bool(self.firsts)


def write_title_file(file: Any, documents: int, runs: TitleRuns) -> None:
    """Write the ``.tsx`` file of a segment of ``documents`` documents."""
    file.write(_HEADER.pack(TITLE_MAGIC, documents, len(runs.streams)))
    pairs = array("I")
    for first, end in zip(runs.firsts, runs.ends):
        pairs.extend((first, end))
    if sys.byteorder == "big":
        pairs.byteswap()
    file.write(pairs.tobytes())
    write_suffix_file(file, runs.streams)


_OPENING = struct.Struct("=I")  # an entry of TitleTable.openings, in this machine's order (as array's)


class TitleTable:
    """A segment's ``.tsx`` file, read in place (see the module doc)."""

    def __init__(self, source: Any, base: int, length: int, doc_count: int) -> None:
        magic, documents, count = _HEADER.unpack_from(source, base)
        if magic != TITLE_MAGIC or documents != doc_count:
            raise ValueError(f"title file: bad header ({magic!r}, {documents} documents for a segment of {doc_count})")
        at = base + _HEADER.size
        pairs = array("I", bytes(memoryview(source)[at : at + 8 * count]))
        if len(pairs) != 2 * count:
            raise ValueError("title file: its runs are cut short")
        if sys.byteorder == "big":
            pairs.byteswap()
        self.firsts, self.ends = pairs[0::2], pairs[1::2]
        previous = 0
        for first, end in zip(self.firsts, self.ends):
            if not previous <= first < end <= documents:
                raise ValueError("title file: its runs are out of order or out of the segment")
            previous = end
        self.table = SuffixTable(source, at + 8 * count, length - _HEADER.size - 8 * count, count)
        self.documents = documents
        self._openings: array[int] | None = None

    @property
    def openings(self) -> array[int]:
        """Per document of the segment, the first document of its run (made once, on first use):
        ``firsts[bisect_right(firsts, doc) - 1]`` for every ``doc`` at once."""
        if self._openings is None:
            firsts, pack = self.firsts, _OPENING.pack
            before = pack(firsts[-1] if firsts else 0) * (firsts[0] if firsts else self.documents)
            openings = array("I")
            # (Joined as bytes: a third faster than extending the array run by run.)
            openings.frombytes(before + b"".join([pack(first) * (following - first)
                                                  for first, following in zip(firsts, [*firsts[1:], self.documents])]))
            self._openings = openings
        return self._openings

    def holding_phrase(self, phrase: str) -> list[tuple[int, int, str]]:
        """(first, end, title stream) of each run whose title holds ``phrase`` (no U+0000), in document order."""
        firsts, ends = self.firsts, self.ends
        return [(firsts[run], ends[run], stream) for run, stream in self.table.holding_phrase(phrase)]

    def runs(self) -> Iterator[tuple[int, int, str]]:
        """Every run: (first, end, title stream)."""
        return zip(self.firsts, self.ends, self.table.streams())

    def problem(self, expected: TitleRuns) -> str | None:
        """What is wrong with the table, given the runs the stored documents make; None if sound."""
        if list(self.firsts) != expected.firsts or list(self.ends) != expected.ends:
            return "its articles' paragraphs differ from the stored ones"
        return self.table.problem(expected.streams) and "its titles differ from the stored ones"


def has_title_file(reader: Any) -> bool:
    """Whether the segment reader's segment holds a title table (not reading it)."""
    return has_segment_file(reader, TITLE_EXTENSION)


def segment_titles(reader: Any) -> TitleTable | None:
    """The segment reader's title table (read once per reader), or None where the segment has none.

    Raises ``ValueError`` (and the like) for a damaged file.
    """
    return read_segment_file(reader, TITLE_EXTENSION, TitleTable, "_searchkit_titles")  # type: ignore[no-any-return]


def runs_within(runs: list[tuple[int, int, str]], deleted: Container[int], allowed: Container[int] | None,
                openings: bool) -> tuple[list[int], list[str]]:
    """The documents of ``runs`` (each paragraph; with ``openings``, each run's first), deleted ones
    left out and only those ``allowed`` holds (None: all), with each one's title stream."""
    ids: list[int] = []
    streams: list[str] = []
    for first, end, stream in runs:
        if not deleted and allowed is None:
            if openings:
                ids.append(first)
                streams.append(stream)
            else:
                ids.extend(range(first, end))
                streams.extend([stream] * (end - first))
            continue
        for doc in range(first, end):
            if doc in deleted or (allowed is not None and doc not in allowed):
                continue
            ids.append(doc)
            streams.append(stream)
            if openings:
                break
    return ids, streams
