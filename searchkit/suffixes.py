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

* ``text``: the chunk's streams, each followed by U+0000, as UTF-16-LE;
* ``starts``: where each document's stream starts in ``text`` (one more for the end);
* ``suffixes``: the positions in ``text`` of letters, digits and ideographs
  (where a keyword can start; ``str.isalnum``) ordered by the ``PREFIX``
  characters that start there (ties by position);
* ``owners``: per entry of ``suffixes``, the document (an index into the chunk's documents).

The file: a header (magic, documents, chunks), each chunk's four parts, the
chunk directory, and in its last 8 bytes where the directory starts (so the
writer streams a chunk at a time). All integers little-endian. Segments without the file (written by an older
searchkit, or on an index of bigrams) answer through the character postings:
the answers are the same (the query tests run on both).
"""

from __future__ import annotations

import io
import struct
import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, Literal

__all__ = ["EXTENSION", "SuffixTable", "build_suffix_file", "can_start", "has_suffix_file", "segment_suffixes", "write_suffix_file"]

EXTENSION = ".sfx"
MAGIC = b"SKSFX\x00\x00\x01"
PREFIX = 8  # characters a suffix is ordered by; a longer keyword is checked against the text
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
    """Whether the arrays hold the suffixes starting with ``char``: a keyword
    starting with anything else (a quoted phrase opening with punctuation)
    is answered from the postings. Punctuation is a sixth of a poem."""
    return char.isalnum()


def _sorted_suffixes(text: str) -> array:
    """The positions in ``text`` a keyword can start at, ordered by the ``PREFIX`` characters starting there.

    Grouped by first character first: the sort keys of one group are in
    memory at a time (a chunk's commonest character is a few per cent of it).
    """
    groups: dict[str, list[int]] = {}
    for position, char in enumerate(text):
        group = groups.get(char)
        if group is None:
            groups[char] = [position]
        else:
            group.append(position)
    ordered = array("I")
    tail = PREFIX
    for char in sorted(char for char in groups if can_start(char)):
        group = groups.pop(char)
        if len(group) > 1:
            group.sort(key=lambda position: text[position + 1 : position + tail])
        ordered.extend(group)
    return ordered


def _little(values: array) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def write_suffix_file(file: Any, streams: Sequence[str]) -> None:
    """Write the ``.sfx`` file of a segment whose documents' gram streams are
    ``streams`` (by docnum), a chunk at a time: the header, each chunk's
    arrays, then the chunk directory and, last, where it starts."""
    chunks = list(_chunks_of(streams))
    file.write(_HEADER.pack(MAGIC, len(streams), len(chunks)))
    offset = _HEADER.size
    directory: list[bytes] = []
    for first, end in chunks:
        members = streams[first:end]
        text = SEPARATOR.join(members) + SEPARATOR
        starts = array("I", [0])
        for stream in members:
            starts.append(starts[-1] + len(stream) + 1)
        suffixes = _sorted_suffixes(text)
        owner_of = array("H" if len(members) <= 0xFFFF else "I")
        for local, stream in enumerate(members):
            owner_of.extend([local] * (len(stream) + 1))
        owners = array(owner_of.typecode, [owner_of[position] for position in suffixes])
        offsets = []
        for data in (text.encode("utf-16-le"), _little(starts), _little(suffixes), _little(owners)):
            offsets.append(offset)
            offset += len(data)
            file.write(data)
        directory.append(_CHUNK.pack(first, end - first, len(text), len(suffixes), *offsets))
    file.write(b"".join(directory))
    file.write(_TRAILER.pack(offset))


def build_suffix_file(streams: Sequence[str]) -> bytes:
    """The ``.sfx`` file's bytes (see :func:`write_suffix_file`)."""
    buffer = io.BytesIO()
    write_suffix_file(buffer, streams)
    return buffer.getvalue()


class _Chunk:
    __slots__ = ("first", "text", "starts", "suffixes", "owners")

    def __init__(self, first: int, text: str, starts: Any, suffixes: Any, owners: Any) -> None:
        self.first, self.text, self.starts, self.suffixes, self.owners = first, text, starts, suffixes, owners

    def span(self, keyword: str) -> tuple[int, int]:
        """The range of ``suffixes`` whose text starts with ``keyword`` (at most ``PREFIX`` characters)."""
        text, suffixes, size = self.text, self.suffixes, len(keyword)
        lo, hi = 0, len(suffixes)
        while lo < hi:
            mid = (lo + hi) // 2
            at = suffixes[mid]
            if text[at : at + size] < keyword:
                lo = mid + 1
            else:
                hi = mid
        start, hi = lo, len(suffixes)
        while lo < hi:
            mid = (lo + hi) // 2
            at = suffixes[mid]
            if text[at : at + size] <= keyword:
                lo = mid + 1
            else:
                hi = mid
        return start, lo


class SuffixTable:
    """A segment's ``.sfx`` file, read: which documents hold a text, and their streams."""

    def __init__(self, data: Any, doc_count: int) -> None:
        view = memoryview(data)
        magic, documents, count = _HEADER.unpack_from(view, 0)
        if magic != MAGIC or documents != doc_count:
            raise ValueError(f"suffix file: bad header ({magic!r}, {documents} documents for a segment of {doc_count})")
        self.documents = documents
        self.chunks: list[_Chunk] = []
        (directory,) = _TRAILER.unpack_from(view, len(view) - _TRAILER.size)
        if directory + count * _CHUNK.size + _TRAILER.size != len(view):
            raise ValueError("suffix file: bad chunk directory")
        expected_first = 0
        for i in range(count):
            first, members, chars, entries, text_at, starts_at, suffixes_at, owners_at = _CHUNK.unpack_from(
                view, directory + i * _CHUNK.size
            )
            if first != expected_first:
                raise ValueError("suffix file: chunks out of order")
            expected_first = first + members
            text = bytes(view[text_at:starts_at]).decode("utf-16-le")
            starts = _ints(view[starts_at : starts_at + 4 * (members + 1)], "I")
            suffixes = _ints(view[suffixes_at:owners_at], "I")
            width = 2 if members <= 0xFFFF else 4
            owners = _ints(view[owners_at : owners_at + width * entries], "H" if width == 2 else "I")
            if len(text) != chars or len(suffixes) != entries or len(owners) != entries or starts[-1] != chars:
                raise ValueError("suffix file: a chunk's sizes disagree")
            self.chunks.append(_Chunk(first, text, starts, suffixes, owners))
        if expected_first != documents:
            raise ValueError("suffix file: chunks do not cover the segment's documents")

    def holding(self, keyword: str) -> Iterator[tuple[int, str]]:
        """(docnum, its stream) of each document whose stream holds ``keyword``, ascending.

        Deleted documents included (the caller knows which are). ``keyword``
        must start with a character that :func:`can_start` and not hold
        U+0000 (the separator).
        """
        probe = keyword[:PREFIX]
        longer = len(keyword) > PREFIX
        size = len(keyword)
        for chunk in self.chunks:
            start, end = chunk.span(probe)
            if start == end:
                continue
            if longer:
                text, suffixes = chunk.text, chunk.suffixes
                locals_ = {chunk.owners[k] for k in range(start, end) if text[suffixes[k] : suffixes[k] + size] == keyword}
            else:
                locals_ = set(chunk.owners[start:end])
            starts, text, first = chunk.starts, chunk.text, chunk.first
            for local in sorted(locals_):
                yield first + local, text[starts[local] : starts[local + 1] - 1]

    def stream(self, docnum: int) -> str:
        """The document's gram stream."""
        for chunk in self.chunks:
            local = docnum - chunk.first
            if 0 <= local < len(chunk.starts) - 1:
                return chunk.text[chunk.starts[local] : chunk.starts[local + 1] - 1]
        raise IndexError(docnum)

    def problem(self, expected: Sequence[str]) -> str | None:
        """What is wrong with the table, given each document's stream as the stored texts give it; None if sound."""
        if list(self.streams()) != list(expected):
            return "its texts differ from the stored paragraphs"
        for chunk in self.chunks:
            text, starts, suffixes, owners = chunk.text, chunk.starts, chunk.suffixes, chunk.owners
            if sorted(suffixes) != [at for at, char in enumerate(text) if can_start(char)]:
                return "its suffixes are not the chunk's positions"
            previous = ""
            for at, owner in zip(suffixes, owners):
                if not starts[owner] <= at < starts[owner + 1]:
                    return "a suffix has the wrong document"
                key = text[at : at + PREFIX]
                if key < previous:
                    return "its suffixes are out of order"
                previous = key
        return None

    def streams(self) -> Iterator[str]:
        """Every document's stream, by docnum."""
        for chunk in self.chunks:
            starts, text = chunk.starts, chunk.text
            for local in range(len(starts) - 1):
                yield text[starts[local] : starts[local + 1] - 1]


def _ints(view: memoryview, typecode: Literal["H", "I"]) -> Any:
    """Little-endian integers: a view cast in place where the machine is little-endian."""
    if sys.byteorder == "little":
        return view.cast("B").cast(typecode)
    values = array(typecode, bytes(view))
    values.byteswap()
    return values


def has_suffix_file(reader: Any) -> bool:
    """Whether the segment reader's segment holds a suffix file (not reading it)."""
    segment = getattr(reader, "_segment", None)
    storage = getattr(reader, "_storage", None)
    return segment is not None and storage is not None and bool(storage.file_exists(segment.make_filename(EXTENSION)))


def segment_suffixes(reader: Any) -> SuffixTable | None:
    """The segment reader's suffix table (read once per reader), or None where the segment has none.

    Raises ``ValueError`` (and the like) for a damaged file.
    """
    cached = reader.__dict__.get("_searchkit_suffixes", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    table = None
    if has_suffix_file(reader):
        segment = reader._segment
        file = reader._storage.open_file(segment.make_filename(EXTENSION))
        buffer = getattr(file, "_buf", None)
        data = buffer if buffer is not None else file.read()
        table = SuffixTable(data, segment.doc_count_all())
    reader._searchkit_suffixes = table
    return table
