"""Suffix arrays of a segment's paragraph texts: exact keywords by binary search.

A keyword is matched as the phrase of its characters (find-in-page
semantics). On character postings that is an intersection of the
characters' lists, and a keyword of common characters (most keywords in
poetry) reads most of their long lists: the cost grows with the index. A
suffix array finds every occurrence of the keyword with two binary searches,
whatever the characters.

Each segment written by searchkit on an index of character grams holds a
``.sfx`` file beside Whoosh's files (inside its compound file). It holds the
segment's gram streams (each paragraph's normalized text with white space
collapsed, see :func:`searchkit.analysis.gram_stream`) in chunks of about a
million characters; per chunk:

* ``text``: the chunk's streams, each followed by U+0000, as UTF-16-BE,
  whose bytes compare in the order the suffixes are sorted in: a keyword is
  looked up in the file where it lies (memory-mapped), nothing decoded but
  the streams of its hits;
* ``starts``: where each document's stream starts in ``text``, in code
  units (one more for the end);
* ``suffixes``: the code-unit offsets in ``text`` of letters, digits and
  ideographs (where a keyword can start; ``str.isalnum``) ordered by the
  ``PREFIX`` code units that start there, as bytes (ties by position);
* ``owners``: per entry of ``suffixes``, the document (an index into the chunk's documents).

The file: a header (magic, documents, chunks), each chunk's four parts, the
chunk directory, and in its last 8 bytes where the directory starts (so the
writer streams a chunk at a time). All integers little-endian.

The magic tells whether the segment also has postings of its characters in
``grams``. Since schema version 3 it has not (:data:`MAGIC`): its ``grams``
terms carry the statistics scoring needs (document frequency, total count,
lengths; see :func:`searchkit.segments.char_rows`) over empty postings, and
the arrays answer every phrase of characters, also one opening with
punctuation (:meth:`SuffixTable.holding_phrase`). Files of older segments
(:data:`MAGIC_WITH_POSTINGS`) answer the same. Segments without the file
(written before the arrays, or on an index of bigrams) answer through the
character postings.
"""

from __future__ import annotations

import io
import mmap
import re
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from typing import Any, Literal

__all__ = [
    "EXTENSION",
    "SuffixTable",
    "build_suffix_file",
    "can_start",
    "has_segment_file",
    "has_suffix_file",
    "read_segment_file",
    "segment_suffixes",
    "write_suffix_file",
]

EXTENSION = ".sfx"
MAGIC = b"SKSFX\x00\x00\x02"  # the segment writes no character postings
MAGIC_WITH_POSTINGS = b"SKSFX\x00\x00\x01"  # before schema version 3
PREFIX = 8  # code units (characters, but outside the BMP) a suffix is ordered by; a longer keyword is checked against the text
CHUNK_CHARS = 1 << 20  # a chunk is sorted alone: this bounds the sort's memory (some 40 MB)
SEPARATOR = "\x00"
_HEADER = struct.Struct("<8sII")  # magic, documents, chunks
_CHUNK = struct.Struct("<IIIIQQQQ")  # first document, documents, characters, suffixes, offsets of text/starts/suffixes/owners
_TRAILER = struct.Struct("<Q")  # where the chunk directory starts


def _chunks_of(streams: Sequence[str]) -> Iterator[tuple[int, int]]:
    """(first, end) document ranges of at most about ``CHUNK_CHARS`` characters."""
    first, size = 0, 0
    for docnum, stream in enumerate(streams):
        if size and size + len(stream) + 1 > CHUNK_CHARS:
            yield first, docnum
            first, size = docnum, 0
        size += len(stream) + 1
    if first < len(streams):
        yield first, len(streams)


def can_start(char: str) -> bool:
    """Whether the arrays hold the suffixes starting with ``char``: a phrase
    starting with anything else (a quoted phrase opening with punctuation)
    is looked up from its first such character. Punctuation is a sixth of a poem."""
    return char.isalnum()


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _unit_offsets(text: str, encoded: bytes) -> Any:
    """Each character's offset in UTF-16 code units: its index, plus one for
    each character outside the BMP before it (rare: set a run at a time)."""
    if len(encoded) == 2 * len(text):
        return range(len(text))
    offsets = array("I", range(len(text)))
    astral = [match.start() for match in _ASTRAL.finditer(text)]
    for shift, (at, following) in enumerate(zip(astral, [*astral[1:], len(text) - 1]), start=1):
        offsets[at + 1 : following + 1] = array("I", range(at + 1 + shift, following + 1 + shift))
    return offsets


def _sorted_suffixes(text: str, encoded: bytes) -> array:
    """The code-unit offsets in ``encoded`` (``text`` as UTF-16-BE) of the
    characters a keyword can start with, ordered by the ``PREFIX`` code units
    starting there (as bytes: the order the binary search compares in).

    Grouped by first character first: the sort keys of one group are in
    memory at a time (a chunk's commonest character is a few per cent of it).
    """
    groups: dict[str, list[int]] = {}
    for unit, char in zip(_unit_offsets(text, encoded), text):
        group = groups.get(char)
        if group is None:
            groups[char] = [unit]
        else:
            group.append(unit)
    ordered = array("I")
    end = 2 * PREFIX
    for char in sorted((char for char in groups if can_start(char)), key=lambda char: char.encode("utf-16-be")):
        group = groups.pop(char)
        if len(group) > 1:
            width = 4 if char > "\uffff" else 2
            group.sort(key=lambda unit: encoded[2 * unit + width : 2 * unit + end])
        ordered.extend(group)
    return ordered


def _little(values: array) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def write_suffix_file(file: Any, streams: Sequence[str], magic: bytes = MAGIC) -> None:
    """Write the ``.sfx`` file of a segment whose documents' gram streams are
    ``streams`` (by docnum), a chunk at a time: the header, each chunk's
    arrays, then the chunk directory and, last, where it starts."""
    chunks = list(_chunks_of(streams))
    file.write(_HEADER.pack(magic, len(streams), len(chunks)))
    offset = _HEADER.size
    directory: list[bytes] = []
    for first, end in chunks:
        members = streams[first:end]
        text = SEPARATOR.join(members) + SEPARATOR
        encoded = text.encode("utf-16-be")
        bmp = len(encoded) == 2 * len(text)
        starts = array("I", [0])
        owner_of = array("H" if len(members) <= 0xFFFF else "I")
        for local, stream in enumerate(members):
            units = len(stream) + 1 if bmp else len(stream.encode("utf-16-be")) // 2 + 1
            starts.append(starts[-1] + units)
            owner_of.extend([local] * units)
        suffixes = _sorted_suffixes(text, encoded)
        owners = array(owner_of.typecode, [owner_of[unit] for unit in suffixes])
        offsets = []
        for data in (encoded, _little(starts), _little(suffixes), _little(owners)):
            offsets.append(offset)
            offset += len(data)
            file.write(data)
        directory.append(_CHUNK.pack(first, end - first, len(encoded) // 2, len(suffixes), *offsets))
    file.write(b"".join(directory))
    file.write(_TRAILER.pack(offset))


def build_suffix_file(streams: Sequence[str], magic: bytes = MAGIC) -> bytes:
    """The ``.sfx`` file's bytes (see :func:`write_suffix_file`)."""
    buffer = io.BytesIO()
    write_suffix_file(buffer, streams, magic)
    return buffer.getvalue()


class _Chunk:
    """One chunk, read in place: its text is compared and decoded where it lies (a memory map)."""

    __slots__ = ("first", "source", "text_at", "starts", "suffixes", "owners", "buckets")

    def __init__(self, first: int, source: Any, text_at: int, starts: Any, suffixes: Any, owners: Any) -> None:
        self.first, self.source, self.text_at = first, source, text_at
        self.starts, self.suffixes, self.owners = starts, suffixes, owners
        self.buckets: dict[bytes, tuple[int, int]] = {}  # first code unit -> its range of suffixes

    def span(self, probe: bytes) -> tuple[int, int]:
        """The range of ``suffixes`` whose text starts with ``probe`` (UTF-16-BE, at most ``PREFIX`` units)."""
        # The range of the probe's first code unit, remembered: keywords share
        # first characters, and the search within it takes fewer steps.
        first = probe[:2]
        bucket = self.buckets.get(first)
        if bucket is None:
            bucket = self.buckets[first] = self._search(first, 0, len(self.suffixes))
        return bucket if len(probe) == 2 else self._search(probe, *bucket)

    def _search(self, probe: bytes, lo: int, hi: int) -> tuple[int, int]:
        source, base, size = self.source, self.text_at, len(probe)

        def head(suffix: int) -> bytes:
            at = base + 2 * suffix
            return source[at : at + size]  # type: ignore[no-any-return]

        # bisect's loop runs in C; only the key is Python.
        start = bisect_left(self.suffixes, probe, lo, hi, key=head)
        return start, bisect_right(self.suffixes, probe, start, hi, key=head)

    def stream(self, local: int) -> str:
        starts, at = self.starts, self.text_at
        return bytes(self.source[at + 2 * starts[local] : at + 2 * (starts[local + 1] - 1)]).decode("utf-16-be")

    def documents(self) -> int:
        return len(self.starts) - 1


class SuffixTable:
    """A segment's ``.sfx`` file, read in place: which documents hold a text, and their streams.

    ``source`` holds the file at ``base`` (a memory map of the segment's
    compound file, or the file's bytes), ``length`` bytes long.
    """

    def __init__(self, source: Any, base: int, length: int, doc_count: int) -> None:
        magic, documents, count = _HEADER.unpack_from(source, base)
        if magic not in (MAGIC, MAGIC_WITH_POSTINGS) or documents != doc_count:
            raise ValueError(f"suffix file: bad header ({magic!r}, {documents} documents for a segment of {doc_count})")
        self.documents = documents
        # Whether the segment's grams terms have postings, or statistics only (see the module doc).
        self.with_postings = magic == MAGIC_WITH_POSTINGS
        self.chunks: list[_Chunk] = []
        (directory,) = _TRAILER.unpack_from(source, base + length - _TRAILER.size)
        if directory + count * _CHUNK.size + _TRAILER.size != length:
            raise ValueError("suffix file: bad chunk directory")
        view = memoryview(source)[base : base + length]
        expected_first, expected_at = 0, _HEADER.size
        for i in range(count):
            first, members, units, entries, text_at, starts_at, suffixes_at, owners_at = _CHUNK.unpack_from(
                view, directory + i * _CHUNK.size
            )
            width = 2 if members <= 0xFFFF else 4
            ends = (text_at + 2 * units, starts_at + 4 * (members + 1), suffixes_at + 4 * entries, owners_at + width * entries)
            if first != expected_first or (text_at, starts_at, suffixes_at, owners_at) != (expected_at, *ends[:3]):
                raise ValueError("suffix file: a chunk's sizes disagree")
            expected_first, expected_at = first + members, ends[3]
            starts = _ints(view[starts_at : ends[1]], "I")
            if starts[-1] != units:
                raise ValueError("suffix file: a chunk's sizes disagree")
            suffixes = _ints(view[suffixes_at : ends[2]], "I")
            owners = _ints(view[owners_at : ends[3]], "H" if width == 2 else "I")
            self.chunks.append(_Chunk(first, source, base + text_at, starts, suffixes, owners))
        if expected_first != documents or expected_at != directory:
            raise ValueError("suffix file: chunks do not cover the segment's documents")

    def holding(self, keyword: str, within: Container[int] | None = None) -> Iterator[tuple[int, str]]:
        """(docnum, its stream) of each document whose stream holds ``keyword``, ascending.

        Deleted documents included (the caller knows which are); only those
        ``within`` holds when given (a filter's: the others' streams are not
        decoded). ``keyword`` must start with a character that
        :func:`can_start` and not hold U+0000 (the separator).
        """
        encoded = keyword.encode("utf-16-be")
        probe = encoded[: 2 * PREFIX]
        longer, size = len(encoded) > len(probe), len(encoded)
        for chunk in self.chunks:
            start, end = chunk.span(probe)
            if start == end:
                continue
            if longer:
                source, base, suffixes = chunk.source, chunk.text_at, chunk.suffixes
                locals_ = {
                    chunk.owners[k]
                    for k in range(start, end)
                    if source[base + 2 * suffixes[k] : base + 2 * suffixes[k] + size] == encoded
                }
            else:
                locals_ = set(chunk.owners[start:end])
            for local in sorted(locals_):
                if within is None or chunk.first + local in within:
                    yield chunk.first + local, chunk.stream(local)

    def holding_phrase(self, phrase: str, within: Container[int] | None = None) -> list[tuple[int, str]]:
        """:meth:`holding`, for any phrase without U+0000: one that does not
        start with a character :func:`can_start` is looked up from its first
        one that does, and checked against the stream (a phrase of
        punctuation only: every stream is read)."""
        lead = next((i for i, char in enumerate(phrase) if can_start(char)), None)
        if lead == 0:
            return list(self.holding(phrase, within))
        if lead is not None:
            found: Iterable[tuple[int, str]] = self.holding(phrase[lead:], within)
        else:
            found = ((docnum, stream) for docnum, stream in enumerate(self.streams()) if within is None or docnum in within)
        return [(docnum, stream) for docnum, stream in found if phrase in stream]

    def problem(self, expected: Sequence[str]) -> str | None:
        """What is wrong with the table, given each document's stream as the stored texts give it; None if sound."""
        if list(self.streams()) != list(expected):
            return "its texts differ from the stored paragraphs"
        for chunk in self.chunks:
            starts, suffixes, owners = chunk.starts, chunk.suffixes, chunk.owners
            encoded = bytes(chunk.source[chunk.text_at : chunk.text_at + 2 * starts[-1]])
            text = encoded.decode("utf-16-be")
            if list(suffixes) != list(_sorted_suffixes(text, encoded)):
                return "its suffixes are not the chunk's, in order"
            for at, owner in zip(suffixes, owners):
                if not starts[owner] <= at < starts[owner + 1]:
                    return "a suffix has the wrong document"
        return None

    def streams(self) -> Iterator[str]:
        """Every document's stream, by docnum."""
        for chunk in self.chunks:
            for local in range(chunk.documents()):
                yield chunk.stream(local)


def _ints(view: memoryview, typecode: Literal["H", "I"]) -> Any:
    """Little-endian integers: a view cast in place where the machine is little-endian."""
    if sys.byteorder == "little":
        return view.cast("B").cast(typecode)
    values = array(typecode, bytes(view))
    values.byteswap()
    return values


def has_suffix_file(reader: Any) -> bool:
    """Whether the segment reader's segment holds a suffix file (not reading it)."""
    return has_segment_file(reader, EXTENSION)


def has_segment_file(reader: Any, extension: str) -> bool:
    """Whether the segment reader's segment holds its file of ``extension`` (not reading it)."""
    segment = getattr(reader, "_segment", None)
    storage = getattr(reader, "_storage", None)
    return segment is not None and storage is not None and bool(storage.file_exists(segment.make_filename(extension)))


def segment_suffixes(reader: Any) -> SuffixTable | None:
    """The segment reader's suffix table (read once per reader), or None where the segment has none.

    Read in place from the memory map of the segment's compound file where
    there is one (nothing is decoded until a keyword is found). Raises
    ``ValueError`` (and the like) for a damaged file.
    """
    return read_segment_file(reader, EXTENSION, SuffixTable, "_searchkit_suffixes")  # type: ignore[no-any-return]


def read_segment_file(reader: Any, extension: str, table: Callable[[Any, int, int, int], Any], kept: str) -> Any:
    """``table(source, start, length, segment's documents)`` of the segment's file of ``extension``,
    made once per reader (kept as its attribute ``kept``); None where the segment has no such file.

    Read in place from the memory map of the segment's compound file where
    there is one; else the file's bytes.
    """
    cached = reader.__dict__.get(kept, False)
    if cached is not False:
        return cached
    found = None
    if has_segment_file(reader, extension):
        segment, storage = reader._segment, reader._storage
        name = segment.make_filename(extension)
        compound: Any = getattr(storage, "a", None)  # Whoosh's OverlayStorage: the compound file first
        mapped = getattr(compound, "_source", None)
        if isinstance(mapped, mmap.mmap) and compound.file_exists(name):
            start, length = compound.range(name)
            found = table(mapped, start, length, segment.doc_count_all())
        else:
            data = storage.open_file(name).read()
            found = table(data, 0, len(data), segment.doc_count_all())
    setattr(reader, kept, found)
    return found
