"""searchkit's codec: Whoosh's W3 file format, written by searchkit's own postings, field and per-document writers.

Whoosh's own writer turns every posting into a tuple, sorts them all through an
external merge sort, and hands them one at a time through four method calls to
the postings writer. Here postings arrive grouped per field and term (see
:mod:`searchkit.engine.writer`) and are written a block at a time; a postings
list of a segment that lost no documents is copied into a merge block by
block (:class:`CopiedRun`), only each block's first and last ids rewritten.
On an index of characters (``char_streams``) the segment also gets its suffix
arrays, and the paragraphs' characters no postings (:mod:`searchkit.engine.chars`).

The files keep Whoosh's W3 layout, but their table of contents names
searchkit's classes, so opening them takes searchkit installed; and since
schema version 3 a Whoosh ``Phrase`` over ``grams`` finds nothing there.
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import accumulate, chain
from operator import sub
from typing import Any, NamedTuple

from whoosh import columns as wcolumns
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    STORED_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3LeafMatcher,
    W3PerDocWriter,
    W3PostingsWriter,
    W3Segment,
    _lenfield,
    byte_to_length,
    length_to_byte,
)
from whoosh.matching import ListMatcher, ReadTooFar
from whoosh.system import pack_ushort

from ..analysis import pickle_compact
from .terms import (
    INLINE_LIMIT,
    SCAN_CHUNK,
    _compact_weights,
    _CompactTermInfo,
    _inlined_terminfo,
    _stored_values,
    _TermTable,
)


class _LeafMatcher(W3LeafMatcher):  # type: ignore[misc]
    """Whoosh's block matcher, skipping within a block by bisection.

    Exact keywords intersect the postings of their characters, and common
    characters occur in most paragraphs: Whoosh steps through a block one
    posting at a time (four method calls each) and decodes ids and
    all-equal weights with Python generators.
    """

    def _read_ids(self) -> None:
        if self._data is None:
            self._read_data()
        ids = self._data[0]
        self._ids = ids if self._byteids else tuple(accumulate(ids))

    def _read_weights(self) -> None:
        # Whoosh builds an all-equal block's weights with a generator.
        if self._data is None:
            self._read_data()
        weights = self._data[1]
        if weights is None or isinstance(weights, float):
            self._weights = array("f", [1.0 if weights is None else weights]) * self._blocklength
        else:
            self._weights = weights

    def skip_to(self, targetid: int) -> None:
        if not self.is_active():
            raise ReadTooFar
        if targetid <= self.id():
            return
        while targetid > self.block_max_id():
            self._next_block()
            if not self.is_active():
                return
        if self._ids is None:
            self._read_ids()
        # The block's last id is >= targetid, so this stays in the block.
        self._i = bisect_left(self._ids, targetid, self._i)


STORE_BELOW = 256  # bytes: zlib makes data this short no shorter
SMALL_DEFLATE = 4096


def deflate(data: bytes, level: int) -> bytes:
    """Data for ``zlib.decompress``, as ``zlib.compress(data, level)`` but quicker.

    Most stored documents and many postings blocks are a few hundred bytes:
    zlib made 52,483 Tang poem lines' stored fields (220 bytes on average)
    5 bytes longer, at about 20 µs each, much of it setting up its 32 KB
    window and hash tables. Data under ``STORE_BELOW`` bytes goes in a zlib
    stream as one stored (uncompressed) block; small data is compressed
    with a 4 KB window and smaller tables (the same length, quicker).
    """
    size = len(data)
    if size < STORE_BELOW:
        # zlib header (deflate, 32 KB window, fastest), a final stored block, Adler-32.
        return b"\x78\x01\x01" + struct.pack("<HH", size, size ^ 0xFFFF) + data + struct.pack(">I", zlib.adler32(data))
    if size > SMALL_DEFLATE:
        return zlib.compress(data, level)
    packer = zlib.compressobj(level, zlib.DEFLATED, 12, 4)
    return packer.compress(data) + packer.flush()


class _StoredFieldsColumn(wcolumns.CompressedBytesColumn):  # type: ignore[misc]
    """Whoosh's stored-fields column, written with :func:`deflate` (read as Whoosh's)."""

    class Writer(wcolumns.CompressedBytesColumn.Writer):  # type: ignore[misc]
        def add(self, docnum: int, v: bytes) -> None:
            wcolumns.VarBytesColumn.Writer.add(self, docnum, deflate(v, self._level))


class _PerDocWriter(W3PerDocWriter):  # type: ignore[misc]
    def _create_column(self, fieldname: str, column: Any) -> None:
        if fieldname == "_stored" and column is STORED_COLUMN:
            column = wcolumns.PickleColumn(_StoredFieldsColumn())
        super()._create_column(fieldname, column)


class _PostingsWriter(W3PostingsWriter):  # type: ignore[misc]
    # A copied block (header and data, without its length) not yet written:
    # whether it is the term's last is known only when the next run comes.
    _held: bytes | None = None

    def _start_block(self) -> None:
        if not self._blockcount:
            self._postfile.write(WHOOSH3_HEADER_MAGIC)

    def _write_held(self, held: bytes, last: bool) -> None:
        self._held = None
        self._start_block()
        self._postfile.write(_BLOCK_LENGTH.pack(-len(held) if last else len(held)) + held)
        self._blockcount += 1

    def _write_block(self, last: bool = False) -> None:
        # Whoosh's own, with its blocks compressed by deflate().
        if self._held is not None:
            self._write_held(self._held, last=False)
        self._start_block()
        self._terminfo.add_block(self)
        databytes = pickle_compact((self._mini_ids(), _compact_weights(self._mini_weights()), self._mini_values()))
        level = self._compression
        if level:
            databytes = deflate(databytes, level)
        ids = self._ids
        infobytes = pickle.dumps(
            (len(ids), ids[-1], self._maxweight, level, length_to_byte(self._minlength), length_to_byte(self._maxlength)),
            2,
        )
        blocklength = len(infobytes) + len(databytes)
        self._postfile.write(_BLOCK_LENGTH.pack(-blocklength if last else blocklength) + infobytes + databytes)
        self._blockcount += 1
        self._new_block()

    def written(self) -> bool:
        return self._blockcount > 0 or self._held is not None

    def add_copied(self, run: CopiedRun) -> None:
        """Add a merged segment's whole postings list of the current term, its blocks copied.

        Only each block's first id and last id change (by ``run.base``); the
        term's statistics add the list's own. Postings buffered before it are
        written first, as a block of their own.
        """
        if self._ids:
            self._write_block()
        source, base, terminfo = run.terminfo, run.base, self._terminfo
        terminfo._weight += source._weight
        terminfo._df += source._df
        if source._minlength:
            terminfo._minlength = source._minlength if terminfo._minlength is None else min(terminfo._minlength, source._minlength)
        terminfo._maxlength = max(terminfo._maxlength, source._maxlength)
        terminfo._maxweight = max(terminfo._maxweight, source._maxweight)
        if terminfo._minid is None:
            terminfo._minid = source._minid + base
        terminfo._maxid = source._maxid + base
        for block in _renumbered_blocks(run.data, base):
            if self._held is not None:
                self._write_held(self._held, last=False)
            self._held = block

    def finish_postings(self) -> Any:
        if self._held is not None and not self._ids:
            self._write_held(self._held, last=True)
        # Whoosh 2.7's own inline branch calls a misspelled method
        # (set_inline for set_inlined), so it never worked; this is it, fixed.
        terminfo = self._terminfo
        if not self.written() and len(self) < self._inlinelimit:
            terminfo.__class__ = _CompactTermInfo
            terminfo.add_block(self)
            terminfo.set_inlined(self._ids, self._weights, self._values)
            self._terminfo = None
            return terminfo
        return super().finish_postings()

    def _mini_ids(self) -> tuple[int, ...]:
        # Whoosh's delta_encode is a Python generator; this is the same in C.
        ids = self._ids
        return tuple(map(sub, ids, chain((0,), ids)))

    def add_list(self, ids: Sequence[int], weights: Sequence[float], values: Sequence[Any],
                 lengths: Sequence[int | None] | None) -> None:
        """Add postings of the current term (ids ascending), a block at a time.

        The same bookkeeping as ``add_posting`` once per posting, done with
        slices and builtins; ``lengths[docnum]`` is the document's field length.
        """
        limit = self._blocklimit
        pos, count = 0, len(ids)
        while pos < count:
            room = limit - len(self._ids)
            if room <= 0:
                self._write_block()
                continue
            end = min(count, pos + room)
            block_ids = ids[pos:end]
            block_weights = weights[pos:end]
            block_values = values[pos:end]
            self._ids.extend(block_ids)
            self._weights.extend(block_weights)
            self._values.extend(_stored_values(block_values))
            self._maxweight = max(self._maxweight, max(block_weights))
            if lengths is not None:
                known = _known_lengths(block_ids, lengths)
                if known:
                    shortest = min(known)
                    if self._minlength is None or shortest < self._minlength:
                        self._minlength = shortest
                    self._maxlength = max(self._maxlength, max(known))
            pos = end


class FieldLengths:
    """Field lengths of a segment (being written, or searched), each field's column read once.

    Whoosh's writer asks the per-document reader for a length at every
    posting (for block statistics), and its BM25 scorer at every scored
    posting, one file read each.
    """

    def __init__(self, per_doc_reader: Any) -> None:
        self._reader = per_doc_reader
        self._bytes: dict[str, Sequence[int] | None] = {}
        self._columns: dict[str, list[int | None] | None] = {}

    def length_bytes(self, fieldname: str) -> Sequence[int] | None:
        """The field's lengths as stored: one byte per document (0: none)."""
        if fieldname not in self._bytes:
            column = self._reader._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            self._bytes[fieldname] = None if column is None else stored_length_bytes(column)
        return self._bytes[fieldname]

    def column(self, fieldname: str) -> list[int | None] | None:
        if fieldname not in self._columns:
            stored = self.length_bytes(fieldname)
            self._columns[fieldname] = None if stored is None else [byte_to_length(b) if b else None for b in stored]
        return self._columns[fieldname]


class _PositionedFile:
    """A file being written that keeps its position itself.

    ``BufferedWriter.tell`` asks the OS (an lseek) every time, and Whoosh's
    term table and postings writers ask at every term.
    """

    def __init__(self, file: Any) -> None:
        self._file = file
        self._position = file.tell()

    def write(self, data: Any) -> int:
        written: int = self._file.write(data)
        self._position += written
        return written

    def tell(self) -> int:
        return self._position

    def seek(self, *args: Any) -> int:
        self._position = self._file.seek(*args)
        return self._position

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class _FieldWriter(W3FieldWriter):  # type: ignore[misc]
    def __init__(self, codec: Any, storage: Any, segment: Any) -> None:
        # Whoosh's own, with searchkit's term table.
        self._codec, self._storage, self._segment = codec, storage, segment
        self._fieldname = self._fieldid = self._btext = self._fieldobj = self._format = None
        self._tindex = _TermTable(self._create_file(W3Codec.TERMS_EXT))
        self._fieldmap = self._tindex.extras["fieldmap"] = {}
        self._postfile = self._create_file(W3Codec.POSTS_EXT)
        self._postwriter = None
        self._infield = False
        self.is_closed = False

    def _create_file(self, ext: str) -> Any:
        dbfile = super()._create_file(ext)
        dbfile.file = _PositionedFile(dbfile.file)
        return dbfile

    @property
    def inline_limit(self) -> int:
        """Postings lists shorter than this are inlined in the term table."""
        return int(self._codec._inlinelimit)

    def add_inlined(self, btext: bytes, terminfo: bytes) -> None:
        """Write one term whose (inlined) term info is ready, as bytes."""
        self._tindex.add(pack_ushort(self._fieldid) + btext, terminfo)

    def add_term(self, btext: bytes, ids: Sequence[int], weights: Sequence[float], values: Sequence[Any],
                 lengths: Sequence[int | None] | None) -> None:
        """Write one term from its postings (ids ascending, at least one)."""
        if len(ids) < self.inline_limit:
            self.add_inlined(btext, _inlined_terminfo(ids, weights, values, lengths))
            return
        self.start_term(btext)
        self._postwriter.add_list(ids, weights, values, lengths)
        self.finish_term()

    def add_term_lists(self, btext: bytes, lists: Iterator[PostingRun | CopiedRun],
                       lengths: Sequence[int | None] | None) -> None:
        """Write one term from runs of postings (ids ascending across runs).

        A term whose runs are all empty (its documents were deleted) is not written.
        """
        runs = (run for run in lists if run[0])
        first = next(runs, None)
        if first is None:
            return
        second = next(runs, None)
        postwriter = self._postwriter
        if second is None and type(first) is not CopiedRun:
            self.add_term(btext, *first, lengths)
            return
        self.start_term(btext)
        for run in chain((first,), () if second is None else (second,), runs):
            if type(run) is CopiedRun:
                postwriter.add_copied(run)
            else:
                postwriter.add_list(*run, lengths)
        self.finish_term()


def _known_lengths(ids: Sequence[int], lengths: Sequence[int | None]) -> list[int]:
    """The field lengths of documents ``ids`` that are known (not 0 or None)."""
    return [n for n in map(lengths.__getitem__, ids) if n]


class SearchkitCodec(W3Codec):  # type: ignore[misc]
    """Whoosh's codec, with short posting lists stored inline in the term table.

    Most rare characters and words occur in a handful of paragraphs; with Whoosh's
    default each one costs a compressed block of its own in the postings file,
    which made writing slow and the index large.
    """

    next_segid: str | None = None
    # An index of characters: paragraphs' gram streams go to suffix arrays,
    # not to postings (see char_rows). An index of bigrams keeps the postings.
    char_streams = False
    # Temporary files in a folder of each segment's own, not the index's
    # shared one: a writer's commit removes that, and a background merge
    # may outlive the commit (see private_temp_name).
    private_temp: str | None = None

    def per_document_writer(self, storage: Any, segment: Any) -> Any:
        if self.private_temp is not None:
            storage = _PrivateTemp(storage, self.private_temp)
        return _PerDocWriter(self, storage, segment)

    def new_segment(self, storage: Any, indexname: str) -> Any:
        segid, self.next_segid = self.next_segid, None
        return W3Segment(self, indexname, segid=segid)

    def field_writer(self, storage: Any, segment: Any) -> Any:
        return _FieldWriter(self, storage, segment)

    def postings_reader(self, dbfile: Any, terminfo: Any, format_: Any, term: Any = None, scorer: Any = None) -> Any:
        if terminfo.is_inlined():
            ids, weights, values = terminfo.inlined_postings()
            if len(values) != len(ids):
                # Formats without values (Existence) inline no value bytes, and
                # Whoosh's list matcher then answers "" (str), which its merge
                # refuses; give it the empty bytes each posting stands for.
                return ListMatcher(ids, weights, (b"",) * len(ids), format_, scorer=scorer, term=term, terminfo=terminfo)
            return super().postings_reader(dbfile, terminfo, format_, term=term, scorer=scorer)
        offset, length = terminfo.extent()
        return _LeafMatcher(dbfile, offset, length, format_, term=term, scorer=scorer)

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> Any:
        return _PostingsWriter(
            dbfile,
            blocklimit=self._blocklimit,
            byteids=byteids,
            compression=self._compression,
            inlinelimit=self._inlinelimit,
        )


class _PrivateTemp:
    """A storage whose temporary storage is always the one named."""

    def __init__(self, storage: Any, name: str) -> None:
        self._storage = storage
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._storage, attr)

    def temp_storage(self, name: str | None = None) -> Any:
        return self._storage.temp_storage(self._name)


def private_temp_name(segment_id: str, owner: int) -> str:
    """The hidden folder (clean_files passes it by) of a segment a forked child of ``owner`` writes.

    ChildSegment removes it; while it exists, commits spare the segment's
    files, unless ``owner`` is gone (killed): then nobody will take the
    segment in, and the next commit removes both.
    """
    return f".{segment_id}.{owner}.tmp"


def make_codec(segid: str | None = None, *, char_streams: bool) -> SearchkitCodec:
    """The codec; ``segid`` names the next segment it starts (a child process's);
    ``char_streams``: the index is one of characters (see SearchkitCodec)."""
    codec = SearchkitCodec(inlinelimit=INLINE_LIMIT)
    codec.next_segid = segid
    codec.char_streams = char_streams
    return codec


# --------------------------------------------------------------------------
# Postings of the segment being written

PostingRun = tuple[Sequence[int], Sequence[float], Sequence[Any]]


class CopiedRun(NamedTuple):
    """A term's whole postings list in a merged segment, to be copied block by block."""

    data: bytes  # as in the postings file: the W3 tag, then the blocks
    terminfo: Any  # its statistics in that segment
    base: int  # added to every docnum
_BLOCK_LENGTH = struct.Struct("!i")


def _raw_blocks(data: bytes) -> Iterator[tuple[tuple[Any, ...], bytes, bytes]]:
    """(header, header's bytes, data's bytes) of each block of a W3 postings list.

    The header: (count, max id, max weight, compression level, min length, max length).
    """
    stream = io.BytesIO(data)
    pos = len(WHOOSH3_HEADER_MAGIC)
    while True:
        (length,) = _BLOCK_LENGTH.unpack_from(data, pos)
        start = pos + _BLOCK_LENGTH.size
        end = start + abs(length)
        stream.seek(start)
        header = pickle.load(stream)
        yield header, data[start:stream.tell()], data[stream.tell():end]
        if length < 0:  # the last block
            return
        pos = end


def _blocks(data: bytes) -> Iterator[tuple[int, tuple[Any, Any, Any]]]:
    """(posting count, (id deltas, weights, values)) of each block of a W3 postings list."""
    for header, _header_bytes, block in _raw_blocks(data):
        yield header[0], pickle.loads(zlib.decompress(block) if header[3] else block)


def stored_length_bytes(column: Any) -> Sequence[int]:
    """A field-length column's bytes, one per document, read at once (Whoosh reads one at a time)."""
    if type(column) is not wcolumns.NumericColumn.Reader or column._typecode != "B" or column._default != 0:
        return list(column)
    stored = column._dbfile.get(column._basepos, column._count) if column._count else b""
    return stored + bytes(column._doccount - column._count)  # documents past the end: 0


def var_bytes(column: Any, docnums: Sequence[int]) -> Iterator[bytes]:
    """Values of a VarBytesColumn reader for ascending ``docnums``, read a chunk at a time."""
    chunk = SCAN_CHUNK
    offsets, lengths, get, base = column._offsets, column._lengths, column._dbfile.get, column._basepos
    start = 0
    while start < len(docnums):
        first = offsets[docnums[start]]
        end = start
        while end < len(docnums) and (end == start or offsets[docnums[end]] + lengths[docnums[end]] - first <= chunk):
            end += 1
        last = docnums[end - 1]
        region = get(base + first, offsets[last] + lengths[last] - first)
        for docnum in docnums[start:end]:
            offset = offsets[docnum] - first
            yield region[offset:offset + lengths[docnum]]
        start = end


def _renumbered_blocks(data: bytes, base: int) -> Iterator[bytes]:
    """Each block of a W3 postings list (header and data, no length), docnums moved by ``base``.

    A block stores its ids as deltas from the previous one, the first from 0,
    and its header the last id: only those two numbers change. The data is
    unpickled only as far as its first id.
    """
    for header, header_bytes, block in _raw_blocks(data):
        if not base:
            yield header_bytes + block
            continue
        count, maxid, maxweight, level, minlength, maxlength = header
        raw = _shift_first_id(zlib.decompress(block) if level else block, base)
        yield (pickle.dumps((count, maxid + base, maxweight, level, minlength, maxlength), 2)
               + (deflate(raw, level) if level else raw))


_PICKLED_INT_SIZES = {0x4B: 1, 0x4D: 2, 0x4A: 4}  # BININT1, BININT2, BININT: little-endian


def _shift_first_id(raw: bytes, base: int) -> bytes:
    """A block's pickled ``(id deltas, weights, values)`` with the first delta (the first id) moved by ``base``."""
    # Protocol 2 (Whoosh's) or 3 (searchkit's): PROTO, then the ids tuple:
    # MARK before its items if it has more than three (else the items, then TUPLE1-3).
    at = 3 if raw[2] == 0x28 else 2
    size = _PICKLED_INT_SIZES.get(raw[at]) if raw[:2] in (b"\x80\x02", b"\x80\x03") else None
    if size is None:  # not as searchkit's and Whoosh's writers pickle it: unpickle it all
        deltas, weights, values = pickle.loads(raw)
        return pickle_compact(((deltas[0] + base, *deltas[1:]), weights, values))
    first = int.from_bytes(raw[at + 1:at + 1 + size], "little", signed=size == 4)
    return raw[:at] + pickle.dumps(first + base, 2)[2:-1] + raw[at + 1 + size:]
