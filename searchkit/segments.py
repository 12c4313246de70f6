"""Writing Whoosh segments: searchkit's codec, its segment writer, its merge policy.

Whoosh's own writer turns every posting into a tuple, sorts them all through an
external merge sort, and hands them one at a time through four method calls to
the postings writer; a merge pours every posting of the merged segments back
through the same pool, so merges cost memory that grows with the index. Here:

* postings are grouped per field and term as documents arrive (the analyzer
  already counted them per document), and written a block at a time;
* a merge streams the old segments term by term (a k-way merge of their sorted
  lexicons, read a megabyte at a time), holding one term's postings list per
  segment; a list from a segment that lost no documents is copied block by
  block, only each block's first and last ids rewritten;
* the merge policy merges segments of one size tier once ``MERGE_FACTOR`` of
  them gather, so every posting is rewritten O(log n) times, not O(n);
* on an index of characters (``char_streams``), the paragraphs' characters get
  no postings: the segment's suffix arrays answer phrases of them, and the
  ``grams`` terms hold only the statistics scoring reads (:func:`char_rows`).
  They were a third of the postings written.

The files are Whoosh's own (W3 codec): any Whoosh reader reads them.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import math
import os
import pickle
import select
import shutil
import signal
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, chain
from operator import itemgetter, sub
from typing import Any, NamedTuple

from whoosh import columns as wcolumns
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    STORED_COLUMN,
    W3Codec,
    W3FieldWriter,
    W3LeafMatcher,
    W3PerDocWriter,
    W3PostingsWriter,
    W3Segment,
    WHOOSH3_HEADER_MAGIC,
    W3TermInfo,
    _lenfield,
    byte_to_length,
    length_to_byte,
)
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.filetables import HashWriter, OrderedHashWriter, crc_hash
from whoosh.util.numlists import GrowableArray
from whoosh.system import pack_ushort
from whoosh.matching import ListMatcher, ReadTooFar
from whoosh.reading import SegmentReader
from whoosh.writing import SegmentWriter

from .analysis import fold, gram_stream, pickle_compact
from .errors import SearchkitError
from .suffixes import EXTENSION as SUFFIX_EXTENSION
from .suffixes import segment_suffixes, write_suffix_file

__all__ = ["BackgroundMerge", "CHAR_FIELD", "ChildSegment", "FieldLengths", "SearchkitCodec", "SearchkitWriter", "char_rows", "field_terms", "fork_available", "hash_index_problem", "make_codec", "merge_tiers", "stored_stream", "term_range", "TermProbe", "var_bytes"]

_second = itemgetter(1)

INLINE_LIMIT = 8  # postings lists this short live in the term table
MERGE_FACTOR = 8  # segments of one size tier merged at once
# Segments of this tier or above (8**5 = 32,768 live documents) are not
# merged further (but by optimize), so a bulk import rewrites each document
# at most once or twice and its time grows linearly; a million paragraphs
# stay in a few tens of segments.
TOP_TIER = 5
DELETED_SHARE = 0.5  # a segment with more of its documents deleted is rewritten
CHAR_FIELD = "grams"  # paragraph text's characters (or bigrams); see char_rows


# --------------------------------------------------------------------------
# Codec


class _CompactTermInfo(W3TermInfo):  # type: ignore[misc]
    """Writes inlined postings with :func:`~searchkit.analysis.pickle_compact` instead of protocol 2.

    Whoosh's reader unpickles any protocol, so only writing changes.
    """

    def to_bytes(self) -> bytes:
        if not self.is_inlined():
            return bytes(super().to_bytes())
        minlength = 0 if self._minlength is None else length_to_byte(self._minlength)
        header = self._struct.pack(
            True,
            self._weight,
            self._df,
            minlength,
            length_to_byte(self._maxlength),
            self._maxweight,
            0xFFFFFFFF if self._minid is None else self._minid,
            0xFFFFFFFF if self._maxid is None else self._maxid,
        )
        ids, weights, values = self._inlined
        return header + pickle_compact((ids, _compact_weights(weights), values))


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


_DOC_FREQUENCY = struct.Struct("!I")  # in a Whoosh 3 term info
_HASH_ROW = struct.Struct("!ii")  # a hash file row: key length, value length
_HASH_SLOT = struct.Struct("!Iq")  # a hash table slot: hash, row position
CRC32_HASH = 1  # Whoosh's number for the CRC-32 key hash (0: MD5)


def term_range(table: Any, key: bytes) -> tuple[int, int] | None:
    """(value position, value length) of ``key`` in a term table, or None.

    Whoosh's ``HashReader.ranges_for_key`` (a generator making a copy and a
    method call per slot read), reading the slots straight from the file's
    buffer. Query segmentation probes every segment for every substring of
    a query, most of them absent.
    """
    buffer = getattr(table.dbfile, "_buf", None)
    if buffer is None:
        for found in table.ranges_for_key(key):
            return found  # type: ignore[no-any-return]
        return None
    return _find_row(buffer, table.tables, table.hashfn(key), key)


def _find_row(buffer: Any, tables: Sequence[tuple[int, int]], keyhash: int, key: bytes) -> tuple[int, int] | None:
    """The hash file's row of ``key`` (of hash ``keyhash``): (value position, value length), or None."""
    start, slots = tables[keyhash & 255]
    if not slots:
        return None
    end = start + slots * _HASH_SLOT.size
    position = start + (keyhash >> 8) % slots * _HASH_SLOT.size
    read_slot = _HASH_SLOT.unpack_from
    for _ in range(slots):
        slot_hash, item = read_slot(buffer, position)
        if not item:
            return None
        if slot_hash == keyhash:
            key_length, value_length = _HASH_ROW.unpack_from(buffer, item)
            key_start = item + _HASH_ROW.size
            if key_length == len(key) and buffer[key_start:key_start + key_length] == key:
                return key_start + key_length, value_length
        position += _HASH_SLOT.size
        if position == end:
            position = start
    return None


class TermProbe:
    """A segment's term table set up once for many lookups (a query probes
    each segment for every substring of its keywords)."""

    __slots__ = ("_table", "_buffer", "_tables", "_hash", "_prefixes")

    def __init__(self, terms: Any) -> None:
        table = terms._tindex
        self._table = table
        self._buffer = getattr(table.dbfile, "_buf", None)
        self._tables = table.tables
        # Whoosh's crc_hash masks what zlib.crc32 already returns unsigned.
        self._hash = zlib.crc32 if table.hashfn is crc_hash else table.hashfn
        self._prefixes = {name: pack_ushort(number) for name, number in terms._fieldmap.items()}

    def value_range(self, fieldname: str, btext: bytes) -> tuple[int, int] | None:
        """(position, length) of the term's term info in the table's file, or None."""
        prefix = self._prefixes.get(fieldname)
        if prefix is None:
            return None
        key = prefix + btext
        if self._buffer is None:
            return term_range(self._table, key)
        return _find_row(self._buffer, self._tables, self._hash(key), key)

    def term_info(self, fieldname: str, btext: bytes) -> Any:
        """The term's term info in this segment (a ``W3TermInfo``), or None."""
        found = self.value_range(fieldname, btext)
        return None if found is None else W3TermInfo.from_bytes(self._table.dbfile.get(*found))

    def doc_frequency(self, fieldname: str, btext: bytes) -> int:
        """The term's document frequency in this segment (0: not there), read from its term info."""
        found = self.value_range(fieldname, btext)
        if found is None:
            return 0
        at = found[0] + 5  # after the term info's flags byte and total weight
        if self._buffer is None:
            return int(_DOC_FREQUENCY.unpack(self._table.dbfile.get(at, 4))[0])
        return int(_DOC_FREQUENCY.unpack_from(self._buffer, at)[0])


def hash_index_problem(table: Any) -> str | None:
    """What is wrong with a term table's hash index (None: nothing found), where its buffer is at hand.

    Its 256 tables lie one after another, each slot empty or at a row.
    Reading every term finds damage to the rows; a damaged slot shows only
    when a query's term (one not in the index, too) hashes to it.
    """
    buffer = getattr(table.dbfile, "_buf", None)
    if buffer is None:
        return None
    position = table.endofdata
    for start, slots in table.tables:
        end = start + slots * _HASH_SLOT.size
        if start != position or end > len(buffer):
            return "a hash table out of place"
        for _hash, item in _HASH_SLOT.iter_unpack(buffer[start:end]):
            if item and not table.startofdata <= item < table.endofdata:
                return "a hash slot points outside the terms"
        position = end
    return None


class _TermTable(OrderedHashWriter):  # type: ignore[misc]
    """Whoosh's term table writer, hashing keys with CRC-32 and writing rows in batches.

    The hash type is in the file's header, so any Whoosh reader reads it;
    MD5 (Whoosh's default, a hex digest parsed back to an int) cost more than
    the rest of adding a term, and every lookup at query time pays it again.
    A segment's table has a row per distinct word, character and character
    bigram: rows are joined and written a few thousand at a time.
    """

    ROWS_PER_WRITE = 4096

    def __init__(self, dbfile: Any) -> None:
        HashWriter.__init__(self, dbfile, hashtype=CRC32_HASH)
        self.lastkey = b""
        self._positions: list[int] = []  # of every row, for the ordered index
        self._rows: list[bytes] = []  # not yet written
        self._position = dbfile.tell()  # where the next row goes

    def add(self, key: bytes, value: bytes) -> None:
        if key <= self.lastkey:
            raise ValueError(f"Keys must increase: {self.lastkey!r}..{key!r}")
        position = self._position
        row = _HASH_ROW.pack(len(key), len(value)) + key + value
        self._positions.append(position)
        self._rows.append(row)
        self._position = position + len(row)
        hashed = zlib.crc32(key)
        self.buckets[hashed & 255].append((hashed, position))
        self.lastkey = key
        if len(self._rows) >= self.ROWS_PER_WRITE:
            self._write_rows()

    def _write_rows(self) -> None:
        self.dbfile.write(b"".join(self._rows))
        self._rows.clear()

    def _write_extras(self) -> None:
        # Whoosh's index of row positions, made at once.
        self.index = GrowableArray("H")
        if self._positions:
            self.index._retype(self._positions[-1])  # the type Whoosh's appends would end with
            self.index.array.extend(self._positions)
        super()._write_extras()

    def _write_hashes(self) -> None:
        self._write_rows()
        # Whoosh's open addressing, each table written at once.
        dbfile, null = self.dbfile, (0, 0)
        for entries in self.buckets:
            slots = 2 * len(entries)
            self.directory.append((dbfile.tell(), slots))
            table = [null] * slots
            for hashed, position in entries:
                slot = (hashed >> 8) % slots
                while table[slot] != null:
                    slot = (slot + 1) % slots
                table[slot] = (hashed, position)
            dbfile.write(b"".join([_HASH_SLOT.pack(*entry) for entry in table]))


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


def _inlined_terminfo(ids: Sequence[int], weights: Sequence[float], values: Sequence[Any],
                      lengths: Sequence[int | None] | None) -> bytes:
    """``_inlined_row`` of postings given as columns, with decoded field lengths (``lengths[docnum]``)."""
    encoded = None if lengths is None else {docnum: length_to_byte(lengths[docnum]) if lengths[docnum] else 0 for docnum in ids}
    return _inlined_row(list(zip(ids, weights, values)), encoded)


_TERMINFO = W3TermInfo._struct  # flags, total weight, doc freq, min/max length bytes, max weight, min/max id
_FLOAT32 = struct.Struct("f")


def _inlined_row(postings: Sequence[tuple[int, float, Any]],
                 length_bytes: Sequence[int] | Mapping[int, int] | None) -> bytes:
    """The term-table row value of a short list of (docnum, weight, value), without term info objects.

    What ``_PostingsWriter.add_list`` and ``finish_postings`` make of it: the
    same statistics and the same rounding (weights are stored as 32-bit
    floats; the total sums the rounded ones, the maximum takes the given
    ones); ``tests/test_segments.py`` compares every term with Whoosh's
    writer. Most terms of a new segment (rare words and characters, bigrams)
    occur in one or two of its paragraphs, so this makes most rows.
    ``length_bytes[docnum]`` is the document's encoded field length (0: none).
    """
    if len(postings) == 1:
        ((docnum, weight, value),) = postings
        stored = _FLOAT32.unpack(_FLOAT32.pack(weight))[0]
        known = length_bytes[docnum] if length_bytes is not None else 0
        header = _TERMINFO.pack(True, stored, 1, known, known, max(0, weight), docnum, docnum)
        return header + pickle_compact(((docnum,), (int(stored) if stored.is_integer() else stored,), (value,) if value else ()))
    ids, weights, values = zip(*postings)
    stored_weights = _compact_weights(tuple(array("f", weights)))
    known_bytes = [b for b in map(length_bytes.__getitem__, ids) if b] if length_bytes is not None else []
    header = _TERMINFO.pack(
        True,
        sum(stored_weights),
        len(ids),
        min(known_bytes) if known_bytes else 0,
        max(known_bytes) if known_bytes else 0,
        max(0, max(weights)),
        ids[0],
        ids[-1],
    )
    return header + pickle_compact((ids, stored_weights, tuple(_stored_values(values))))


def _shifted_inlined(terminfo: bytes, base: int) -> bytes:
    """An inlined term info of a merged segment, its documents numbered from ``base``."""
    if not base:
        return terminfo
    size = _TERMINFO.size
    header = list(_TERMINFO.unpack_from(terminfo))
    header[6] += base
    header[7] += base
    ids, weights, values = pickle.loads(terminfo[size:])
    return _TERMINFO.pack(*header) + pickle_compact((tuple([docnum + base for docnum in ids]), weights, values))


def _joined_inlined(parts: Sequence[tuple[bytes, int]], limit: int) -> bytes | None:
    """Inlined term infos of merged segments ((bytes, base) each, in docnum order) as one;
    None when the joined list has ``limit`` postings or more (it goes to the postings file)."""
    if len(parts) == 1:
        return _shifted_inlined(*parts[0])
    unpack_from = _TERMINFO.unpack_from
    headers = [unpack_from(terminfo) for terminfo, _base in parts]
    if sum(header[2] for header in headers) >= limit:
        return None
    size = _TERMINFO.size
    ids: list[int] = []
    weights: list[float] = []
    values: list[Any] = []
    for terminfo, base in parts:
        part_ids, part_weights, part_values = pickle.loads(terminfo[size:])
        ids += [docnum + base for docnum in part_ids]
        weights += part_weights
        values += part_values
    known = [header[3] for header in headers if header[3]]
    header = _TERMINFO.pack(
        True,
        sum(weights),
        len(ids),
        min(known) if known else 0,
        max(header[4] for header in headers),
        max(0, max(weights)),
        ids[0],
        ids[-1],
    )
    return header + pickle_compact((tuple(ids), tuple(weights), tuple(values)))


_NO_POSTINGS = pickle_compact(((), (), ()))


CHAR_ROWS_CHUNK = 20_000  # documents counted at a time: bounds the sets a merge of many holds


def char_rows(streams: Sequence[str]) -> list[tuple[bytes, bytes]]:
    """(term, term-table row) of each character of a segment's gram streams
    (by docnum), in term order: the statistics its postings would give
    (:func:`_inlined_row`: total count, document frequency, shortest and
    longest field length, largest count, first and last document) over an
    empty postings list. The suffix arrays find the documents; scoring reads
    only these (and each document's length and stream).

    Counted with C-speed set and Counter calls, a few Python steps per
    paragraph, not per (paragraph, character); ``CHAR_ROWS_CHUNK`` documents
    at a time.
    """
    stats: dict[str, list[int]] = {}  # char -> [total, frequency, shortest, longest, heaviest, first, last]
    for start in range(0, len(streams), CHAR_ROWS_CHUNK):
        for char, found in _char_stats(streams[start : start + CHAR_ROWS_CHUNK], start).items():
            known = stats.get(char)
            if known is None:
                stats[char] = found
            else:  # first stays the earlier chunk's
                known[0] += found[0]
                known[1] += found[1]
                known[2], known[3], known[4] = min(known[2], found[2]), max(known[3], found[3]), max(known[4], found[4])
                known[6] = found[6]
    pack = _TERMINFO.pack
    # Code point order is UTF-8's byte order: the term order.
    return [(char.encode("utf-8"), pack(True, *stats[char]) + _NO_POSTINGS) for char in sorted(stats)]


def _char_stats(streams: Sequence[str], base: int) -> dict[str, list[int]]:
    """:func:`char_rows`' statistics of the streams of documents ``base``, ``base + 1``, ..."""
    held = list(map(set, streams))
    frequency = Counter(chain.from_iterable(held))
    total, heaviest = frequency.copy(), dict.fromkeys(frequency, 1)
    for stream, distinct in zip(streams, held):
        if len(distinct) < len(stream):  # a character repeats
            for char, count in Counter(stream).items():
                if count > 1:
                    total[char] += count - 1
                    heaviest[char] = max(heaviest[char], count)
    count = len(frequency)
    by_length = sorted(range(len(held)), key=lambda docnum: len(streams[docnum]))
    first = _first_holders(held, range(len(held)), count)
    last = _first_holders(held, reversed(range(len(held))), count)
    # length_to_byte keeps the order of lengths: the shortest document's byte is the least.
    shortest = _first_holders(held, by_length, count)
    longest = _first_holders(held, reversed(by_length), count)
    return {
        char: [total[char], frequency[char], length_to_byte(len(streams[shortest[char]])),
               length_to_byte(len(streams[longest[char]])), heaviest[char], base + first[char], base + last[char]]
        for char in frequency
    }


def _first_holders(held: Sequence[set[str]], order: Iterable[int], count: int) -> dict[str, int]:
    """Per character of the sets ``held`` (``count`` of them), the first of the documents in ``order`` that holds it."""
    found: dict[str, int] = {}
    seen: set[str] = set()
    for docnum in order:
        chars = held[docnum]
        if not chars <= seen:
            fresh = chars - seen
            seen |= fresh
            found.update(dict.fromkeys(fresh, docnum))
            if len(found) == count:
                break
    return found


def stored_stream(fields: Mapping[str, Any]) -> str:
    """The gram stream of a stored document: its paragraph text's, else empty."""
    text = fields.get("text")
    return _stream_of(text) if fields.get("kind") == "paragraph" and isinstance(text, str) else ""


def _compact_weights(weights: Any) -> Any:
    """Weights as a postings list keeps them: whole numbers (term counts, most of them) as ints.

    An int pickles in 2 bytes where a float takes 9, and scores the same.
    None (all 1) and a single float (all equal) stay as Whoosh's reader expects them.
    """
    if weights is None or isinstance(weights, float):
        return weights
    if all(weight.is_integer() for weight in weights):
        return tuple(map(int, weights))
    return tuple(weights)


def _stored_values(values: Sequence[Any]) -> Sequence[Any]:
    """The values a postings list keeps: as Whoosh's add_posting, no empty ones."""
    return values if all(values) else [v for v in values if v]


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


SCAN_CHUNK = 1 << 20  # bytes of a term table read at once by a merge
_BLOCK_LENGTH = struct.Struct("!i")


def _records(dbfile: Any, pos: int, end: int) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) records of a Whoosh hash file from ``pos`` to ``end``, in file order."""
    buf, i, read_to = b"", 0, pos  # buf[i] is the file's byte at pos
    unpack_from, header = _HASH_ROW.unpack_from, _HASH_ROW.size
    while pos < end:
        if i + header > len(buf):
            buf, i, read_to = _refill(dbfile, buf, i, read_to, end, header)
        keylen, datalen = unpack_from(buf, i)
        size = header + keylen + datalen
        if i + size > len(buf):
            buf, i, read_to = _refill(dbfile, buf, i, read_to, end, size)
        keystart = i + header
        yield buf[keystart:keystart + keylen], buf[keystart + keylen:i + size]
        i += size
        pos += size


def _refill(dbfile: Any, buf: bytes, i: int, read_to: int, end: int, need: int) -> tuple[bytes, int, int]:
    size = min(max(SCAN_CHUNK, need), end - read_to)
    return buf[i:] + dbfile.get(read_to, size), 0, read_to + size


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


class _GroupedPostings:
    """The new segment's postings, grouped per field and term as documents come.

    Stands where Whoosh's writer keeps its PostingPool (``pool``).
    """

    def __init__(self) -> None:
        # field -> term -> [(docnum, weight, value)], docnums ascending
        self.fields: dict[str, dict[bytes, list[tuple[int, float, Any]]]] = {}
        self.merged: list[_MergedSegment] = []

    def add_items(self, fieldname: str, items: Sequence[tuple[bytes, int, float, bytes]], docnum: int) -> None:
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        get = terms.get
        for btext, _freq, weight, value in items:
            postings = get(btext)
            if postings is None:
                terms[btext] = [(docnum, weight, value)]
            else:
                postings.append((docnum, weight, value))

    def add_posting(self, fieldname: str, btext: bytes, docnum: int, weight: float, value: Any) -> None:
        self.add_items(fieldname, ((btext, 1, weight, value),), docnum)

    def write(self, schema: Any, fieldwriter: _FieldWriter, lengths: FieldLengths | None,
              streams: Sequence[str] | None = None) -> None:
        """Write every field's terms; with ``streams`` (by docnum), CHAR_FIELD's rows come from them."""
        names = set(self.fields)
        for segment in self.merged:
            names |= segment.field_names
        rows = None
        if streams is not None:
            rows = char_rows(streams)
            names.discard(CHAR_FIELD)
            if rows:
                names.add(CHAR_FIELD)
        for fieldname in sorted(name for name in names if name in schema):
            fieldobj = schema[fieldname]
            column = lengths.column(fieldname) if lengths is not None else None
            batch = self.fields.get(fieldname, {})
            fieldwriter.start_field(fieldname, fieldobj)
            if rows is not None and fieldname == CHAR_FIELD:
                for btext, row in rows:
                    fieldwriter.add_inlined(btext, row)
            elif not self.merged:
                # A new segment of its own (most commits): no streams to merge.
                self._write_batch(fieldwriter, batch, column, lengths.length_bytes(fieldname) if lengths is not None else None)
            else:
                self._write_merged(fieldname, fieldobj, fieldwriter, batch, column)
            fieldwriter.finish_field()
            batch.clear()

    @staticmethod
    def _write_batch(fieldwriter: _FieldWriter, batch: dict[bytes, list[tuple[int, float, Any]]],
                     column: Sequence[int | None] | None, length_bytes: Sequence[int] | None) -> None:
        add_term, add_inlined, limit = fieldwriter.add_term, fieldwriter.add_inlined, fieldwriter.inline_limit
        for btext in sorted(batch):
            postings = batch[btext]
            if len(postings) < limit:
                add_inlined(btext, _inlined_row(postings, length_bytes))
            else:
                ids, weights, values = zip(*postings)
                add_term(btext, ids, weights, values, column)

    def _write_merged(self, fieldname: str, fieldobj: Any, fieldwriter: _FieldWriter,
                      batch: dict[bytes, list[tuple[int, float, Any]]], column: Sequence[int | None] | None) -> None:
        # (term, source, term info bytes): source -1 is this batch, which
        # holds the lowest docnums; merged segments follow in the order they
        # were added.
        streams = [_tagged(((btext, b"") for btext in sorted(batch)), -1)]
        streams += [_tagged(segment.terms(fieldname), number) for number, segment in enumerate(self.merged)]
        merged, limit = self.merged, fieldwriter.inline_limit
        pending: list[tuple[int, bytes]] = []
        current: bytes | None = None
        for btext, source, terminfo in chain(heapq.merge(*streams), ((None, -1, b""),)):
            if btext == current:
                pending.append((source, terminfo))
                continue
            if current is not None:
                # Most terms are short lists inlined in each segment's table
                # (character bigrams, rare words): joined without term info
                # objects where no document of theirs was deleted.
                if all(part >= 0 and raw[0] and merged[part].docmap is None for part, raw in pending):
                    joined = _joined_inlined([(raw, merged[part].base) for part, raw in pending], limit)
                    if joined is not None:
                        fieldwriter.add_inlined(current, joined)
                        current, pending = btext, [(source, terminfo)]
                        continue
                fieldwriter.add_term_lists(current, self._runs(fieldname, fieldobj, current, batch, pending), column)
            current, pending = btext, [(source, terminfo)]

    def _runs(self, fieldname: str, fieldobj: Any, btext: bytes, batch: dict[bytes, Any],
              sources: list[tuple[int, bytes]]) -> Iterator[PostingRun | CopiedRun]:
        for source, terminfo in sources:
            if source < 0:
                yield tuple(zip(*batch[btext]))  # type: ignore[misc]
            else:
                yield from self.merged[source].runs(fieldname, btext, W3TermInfo.from_bytes(terminfo), fieldobj.format)

    def cleanup(self) -> None:
        for segment in self.merged:
            segment.close()
        self.merged = []
        self.fields = {}


# --------------------------------------------------------------------------
# The writer


class SearchkitWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's segment writer with postings grouped per term (see the module doc).

    Same files, same locking and commit protocol; documents, deletions and
    merges go through the usual Whoosh calls.
    """

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self._ix = ix
        self.pool.cleanup()
        self.pool = _GroupedPostings()
        self._children: list[ChildSegment] = []
        self._plans: dict[str, tuple[Any, Any, Any]] = {}  # see _plan
        # Set by a writer whose batches go to child processes: merges then
        # run in the background (see BackgroundMerge), one at a time.
        self.merge_in_child = False
        self.background: BackgroundMerge | None = None  # carried from commit to commit
        self.finish_background = False  # wait for it (the last commit)
        # The new segment's gram streams by docnum, for its suffix arrays and
        # its characters' statistics (None: an index of bigrams, with postings).
        self._streams: list[str] | None = [] if getattr(self.codec, "char_streams", False) else None

    def reader(self, reuse: Any = None) -> Any:
        # The reader behind delete_by_term: thousands of scattered term
        # lookups per batch, which through mmap would stay resident.
        from whoosh.index import FileIndex

        self._check_state()
        return FileIndex._reader(_unmapped(self.storage), self.schema, self.segments, self.generation, reuse=reuse)

    def add_child(self, child: ChildSegment) -> None:
        """Commit the segment that ``child`` writes with this one.

        The child works while this writer merges and flushes its own segment;
        the commit waits for it just before writing the table of contents.
        """
        self._children.append(child)

    def _commit_toc(self, segments: list[Any]) -> None:
        from whoosh.index import TOC

        try:
            added = [child.result() for child in self._children]
        except BaseException:
            # Whoosh's commit releases the lock only after the table of
            # contents is written; without it, nothing is committed.
            self._finish()
            raise
        finally:
            self._kill_children()
        segments = list(segments) + added
        TOC(self.schema, segments, self.generation).write(self.storage, self.indexname)
        self._remove_files_but(self.generation, segments)

    def commit(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().commit(*args, **kwargs)
        except BaseException:
            # Whoosh's commit has no clean-up of its own: stop the children
            # and let go of the lock (a merge started here is the caller's).
            self._kill_children()
            if not self.is_closed:
                try:
                    self._close_segment()
                    with contextlib.suppress(Exception):  # the failure raised is the one to report
                        self._remove_unlisted()
                finally:
                    self._finish()
            raise

    def _remove_unlisted(self) -> None:
        """After a failed commit (still holding the lock): delete the files
        of segments that no table of contents lists, as the next commit
        would, sparing those other processes' children are writing."""
        from whoosh.index import TOC

        generation = TOC._latest_generation(self.storage, self.indexname)
        if generation < 0:
            return
        # A table of contents written before the failure lists this writer's segment: it stays.
        self._remove_files_but(generation, TOC.read(self.storage, self.indexname, generation, schema=self.schema).segments)

    def _remove_files_but(self, generation: int, listed: list[Any]) -> None:
        """Delete older tables of contents and the files of segments not ``listed``,
        but those a child process (of this or another searchkit process) is
        writing, or has written and its parent not yet taken in: each has its
        private temporary folder."""
        from whoosh.index import clean_files

        clean_files(self.storage, self.indexname, generation, list(listed) + _segments_in_progress(self.storage))

    def cancel(self) -> None:
        self._kill_children()
        super().cancel()

    def _kill_children(self) -> None:
        for child in self._children:
            child.kill()
        self._children = []

    def _merge_segments(self, mergetype: Any, optimize: Any, merge: Any) -> Any:
        # Whoosh's default policy (MERGE_SMALL) becomes merge_tiers; an
        # explicit policy, optimize=True or merge=False still rule.
        if mergetype is None and self.mergetype is None:
            optimize = self.optimize if optimize is None else optimize
            merge = self.merge if merge is None else merge
            if merge and not optimize:
                if self.merge_in_child and fork_available():
                    return self._background_merge()
                mergetype = merge_tiers
        return super()._merge_segments(mergetype, optimize, merge)

    def _background_merge(self) -> list[Any]:
        """Take in a finished background merge; start the next one. Returns the segments to list."""
        segments = list(self.segments)
        running = self.background
        if running is not None and (self.finish_background or running.ready()):
            merged = running.finish(segments)
            if merged is not None:
                segments = [s for s in segments if s.segment_id() not in running.input_ids]
                if merged.doc_count_all():  # else every input document was deleted
                    segments.append(merged)
            self.background = running = None
        if running is None and not self.finish_background:
            to_merge, _kept = tiers_to_merge(segments)
            if to_merge:
                self.background = BackgroundMerge(self._ix, to_merge, char_streams=self._streams is not None)
        return segments

    def add_document(self, **fields: Any) -> None:
        # Whoosh's own, with what each field needs looked up once per writer
        # and the per-document writer's bookkeeping done in place.
        self._check_state()
        perdocwriter = self.perdocwriter
        docnum = self.docnum
        self._check_fields(self.schema, fields)
        perdocwriter.start_doc(docnum)
        stored, totals = perdocwriter._storedfields, perdocwriter._fieldlengths
        plans, add_items, streams = self._plans, self.pool.add_items, self._streams
        stream = ""
        try:
            for fieldname in sorted(fields):
                value = fields[fieldname]
                if value is None:
                    continue
                field, lengths, column = plans.get(fieldname) or self._plan(fieldname)
                if field.indexed:
                    if streams is not None and fieldname == CHAR_FIELD:
                        stream = _stream_of(value)
                        length = len(stream)  # one posting per character
                    else:
                        items = field.index(value)
                        if not isinstance(items, list):
                            items = list(items)
                        add_items(fieldname, items, docnum)
                        length = sum(map(_second, items)) if lengths is not None else 0
                    if lengths is not None:
                        if length:
                            lengths.add(docnum, length_to_byte(length))
                            totals[fieldname] += length
                if field.stored:
                    stored[fieldname] = value
                if column is not None:
                    column.add(docnum, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        if streams is not None:
            streams.append(stream)  # empty: articles and file records have no text
        self._added = True
        self.docnum += 1

    def _add_reader_streams(self, reader: Any, live: Sequence[int]) -> None:
        """The streams of a merged segment's live documents: from its suffix
        arrays, else (none, or damaged) from its stored paragraphs."""
        if self._streams is None:
            return
        try:
            table = segment_suffixes(reader) if isinstance(reader, SegmentReader) else None
            streams = None if table is None else list(table.streams())
        except Exception:  # noqa: BLE001  a damaged file: the stored texts say the same
            streams = None
        if streams is None:
            self._streams.extend(stored_stream(reader.stored_fields(docnum)) for docnum in live)
        else:
            self._streams.extend(streams[docnum] for docnum in live)

    def _plan(self, fieldname: str) -> tuple[Any, Any, Any]:
        """(field, its length column's writer, its own column's writer)."""
        field = self.schema[fieldname]
        lengths = self._column_writer(_lenfield(fieldname), LENGTHS_COLUMN) if field.indexed and field.scorable else None
        column = self._column_writer(fieldname, field.column_type) if field.column_type is not None else None
        plan = self._plans[fieldname] = (field, lengths, column)
        return plan

    def write_per_doc(self, fieldnames: set[str], reader: Any) -> dict[int, int] | None:
        # Whoosh's own copy unpickles and decompresses every document's stored
        # fields to compress and pickle them again, and asks for every field
        # length of every document (for a field without lengths it looks for
        # the column file again each time). This copies the stored bytes as
        # they are and each column in one pass.
        stored = reader._perdoc._cached_reader("_stored", STORED_COLUMN) if isinstance(reader, SegmentReader) else None
        raw_stored = getattr(stored, "_child", None)
        live = list(reader.all_doc_ids())  # in order, deleted ones left out
        self._add_reader_streams(reader, live)
        if (
            type(raw_stored) is not wcolumns.CompressedBytesColumn.Reader
            or not isinstance(self.perdocwriter, W3PerDocWriter)
            or any(self.schema[name].vector for name in fieldnames if name in self.schema)
        ):
            return super().write_per_doc(fieldnames, reader)  # type: ignore[no-any-return]
        perdoc, perdocwriter, schema = reader._perdoc, self.perdocwriter, self.schema
        start = self.docnum
        new_numbers = range(start, start + len(live))
        docmap = dict(zip(live, new_numbers)) if reader.has_deletions() else None

        # Stored fields: the compressed bytes of each document as they are.
        stored_writer = perdocwriter._colwriters["_stored"]._child
        for new, data in zip(new_numbers, var_bytes(raw_stored, live)):
            if data:
                wcolumns.VarBytesColumn.Writer.add(stored_writer, new, data)
        # Field lengths: their bytes, and the totals Whoosh keeps.
        for fieldname in sorted(name for name in schema.names() if schema[name].scorable):
            column = perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            if column is None:
                continue
            lengths = stored_length_bytes(column)
            writer = self._column_writer(_lenfield(fieldname), LENGTHS_COLUMN)
            total = 0
            for old, new in zip(live, new_numbers):
                byte = lengths[old]
                if byte:
                    writer.add(new, byte)
                    total += byte_to_length(byte)
            # Whoosh adds up the rounded lengths the bytes hold. Without
            # deletions the input's own total (of its documents' true lengths)
            # stays exact: merged, the documents score as they did, as in an
            # index built at once.
            perdocwriter._fieldlengths[fieldname] += reader.field_length(fieldname) if docmap is None else total
        # Other columns (sortable fields).
        for fieldname in sorted(fieldnames):
            column_type = schema[fieldname].column_type if fieldname in schema else None
            if column_type and reader.has_column(fieldname):
                column = reader.column_reader(fieldname, column_type)
                if isinstance(column, wcolumns.TranslatingColumnReader):
                    column = column.raw_column()
                writer = self._column_writer(fieldname, column_type)
                if type(column) is wcolumns.VarBytesColumn.Reader:  # (the paragraphs' words) read a run at a time
                    for new, data in zip(new_numbers, var_bytes(column, live)):
                        if data:
                            writer.add(new, data)
                else:
                    for old, new in zip(live, new_numbers):
                        writer.add(new, column[old])
        # What start_doc and finish_doc would have counted.
        perdocwriter._doccount += len(live)
        self.docnum += len(live)
        return docmap

    def _column_writer(self, name: str, column_type: Any) -> Any:
        perdocwriter = self.perdocwriter
        if not perdocwriter._has_column(name):
            perdocwriter._create_column(name, column_type)
        return perdocwriter._get_column(name)

    def add_postings_to_pool(self, reader: Any, startdoc: int, docmap: dict[int, int] | None) -> None:
        # Whoosh's merge policies close the reader right after add_reader, so
        # the stream reads the segment through a reader of its own.
        if isinstance(reader, SegmentReader):
            own = SegmentReader(_unmapped(self.storage), self.schema, reader.segment())
            self.pool.merged.append(_MergedSegment(own, startdoc, docmap))
            return
        for fieldname, btext, docnum, weight, value in self._process_posts(reader.iter_postings(), startdoc, docmap):
            self.pool.add_posting(fieldname, btext, docnum, weight, value)

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        per_doc = self.per_document_reader() if self.codec.length_stats else None
        streams = self._streams
        if streams is not None and len(streams) != self.docnum - self.docbase:
            raise SearchkitError(f"a segment of {self.docnum - self.docbase} documents got {len(streams)} texts")
        try:
            self.pool.write(self.schema, self.fieldwriter, FieldLengths(per_doc) if per_doc else None, streams)
        finally:
            if per_doc is not None:
                per_doc.close()
        self.fieldwriter.close()
        # Written before the segment is assembled, so its compound file holds it.
        if streams is not None and any(streams):
            with self.newsegment.create_file(self.storage, SUFFIX_EXTENSION) as file:
                write_suffix_file(file, streams)


def _stream_of(value: Any) -> str:
    """The gram stream of a CHAR_FIELD value: the analyzer's, or of text given as it is."""
    if isinstance(value, str):
        return gram_stream(fold(value))[0]
    stream = getattr(value, "stream", None)
    if stream is None:
        raise SearchkitError("paragraph postings came without their text's stream for the suffix arrays")
    return stream  # type: ignore[no-any-return]


def field_terms(reader: SegmentReader, fieldname: str) -> Iterator[tuple[bytes, bytes]]:
    """(term, term info bytes) of a segment's field in order: its term table read in sequence, a chunk at a time.

    Whoosh's ``items_from`` makes four small reads per term through the
    compound file (about a third of a merge's time).
    """
    terms = reader._terms
    table = terms._tindex
    prefix = terms._keycoder(fieldname, b"")
    pos = table.closest_key_pos(prefix)
    if pos is None:
        return
    for key, value in _records(table.dbfile, pos, table.endofdata):
        if key[:2] != prefix:
            return
        yield key[2:], value


def _unmapped(storage: Any) -> Any:
    """The same folder, read without mmap: a merge reads each segment once,
    in order, and every page of a mapped file it touched would stay in the
    process's resident set (for the largest merges, hundreds of MB)."""
    if isinstance(storage, FileStorage) and storage.supports_mmap:
        return FileStorage(storage.folder, supports_mmap=False, readonly=True)
    return storage


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32"


class ChildSegment:
    """A segment written by a forked copy of this process, in parallel.

    The child has the documents already (fork copies memory), so nothing but
    the finished segment's descriptor crosses the pipe. It writes without the
    index lock, which this process holds, and never commits: the parent's
    writer lists the segment in its own commit (``add_child``), so a failure
    anywhere leaves only unlisted files, which the next commit deletes.
    """

    def __init__(self, ix: Any, payload: Any, write: Callable[[Any, Any], None], *, char_streams: bool) -> None:
        segid = W3Segment._random_id()
        folder = getattr(ix.storage, "folder", None)
        # Where the child keeps its temporary files (removed here once it is reaped).
        temp_name = private_temp_name(f"{ix.indexname}_{segid}", os.getpid())
        self._temp = os.path.join(folder, temp_name) if folder else None
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
            status = 0
            try:
                os.close(read_fd)
                codec = make_codec(segid, char_streams=char_streams)
                codec.private_temp = temp_name
                writer = SearchkitWriter(ix, _lk=False, codec=codec)
                writer._tempstorage = writer.storage.temp_storage(temp_name)
                # The folder stays until the parent has reaped this process:
                # while it exists, every searchkit commit spares the segment's
                # files (see _commit_toc), also another process's commit.
                write(writer, payload)
                result: tuple[str, Any] = ("ok", writer._finalize_segment())
            except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
                result, status = ("error", f"{type(exc).__name__}: {exc}"), 1
            try:
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(pickle.dumps(result))
            finally:
                os._exit(status)
        os.close(write_fd)
        self._pid: int | None = pid
        self._fd: int | None = read_fd
        self._folder = folder
        self._file_prefix = f"{ix.indexname}_{segid}."

    def ready(self) -> bool:
        """Whether the child has finished (so ``result`` will not wait)."""
        return self._fd is None or bool(select.select([self._fd], [], [], 0)[0])

    def result(self) -> Any:
        """Wait for the child; its segment, or SearchkitError if it failed."""
        fd, self._fd = self._fd, None
        if fd is None:
            raise SearchkitError("a writer process's result was already taken")
        with os.fdopen(fd, "rb") as pipe:
            data = pipe.read()
        self._reap()
        if not data:
            raise SearchkitError("a writer process died before finishing its segment; nothing of this batch was committed")
        kind, value = pickle.loads(data)
        if kind != "ok":
            raise SearchkitError(f"a writer process failed ({value}); nothing of this batch was committed")
        return value

    def kill(self) -> None:
        """Stop the child; a segment it wrote but no one took is deleted (no commit can list it)."""
        untaken = self._fd is not None
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if untaken and self._folder is not None:
            for filename in os.listdir(self._folder):
                if filename.startswith(self._file_prefix):
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(self._folder, filename))

    def _reap(self) -> None:
        if self._pid is not None:
            os.waitpid(self._pid, 0)
            self._pid = None
            if self._temp is not None:
                shutil.rmtree(self._temp, ignore_errors=True)


def _segments_in_progress(storage: Any) -> list[_SegmentName]:
    """Segments a live process's child is writing (or wrote, not yet taken in); stale folders go."""
    names = []
    for filename in storage.list() if isinstance(storage, FileStorage) else ():
        if filename.startswith(".") and filename.endswith(".tmp"):
            segment_id, _dot, owner = filename[1:-4].rpartition(".")
            if not owner.isdigit():  # a folder of a searchkit before owners were named: keep sparing it
                names.append(_SegmentName(filename[1:-4]))
            elif _alive(int(owner)):
                names.append(_SegmentName(segment_id))
            else:
                shutil.rmtree(os.path.join(storage.folder, filename), ignore_errors=True)
    return names


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class _SegmentName:
    def __init__(self, segment_id: str) -> None:
        self._segment_id = segment_id

    def segment_id(self) -> str:
        return self._segment_id


class BackgroundMerge:
    """Segments merged by a forked process while later batches are written.

    The merged segment replaces its inputs at the first commit after it is
    done, or at the last one (``finish_background``). Documents deleted from
    the inputs meanwhile are deleted from it too: its documents are the
    inputs' live ones at the start, in order. If an input is gone by then
    (another writer merged it) or the process failed, the inputs stay as
    they are and the merge is dropped: nothing is lost.
    """

    def __init__(self, ix: Any, segments: list[Any], *, char_streams: bool) -> None:
        self.inputs = [
            (segment.segment_id(), [d for d in range(segment.doc_count_all()) if not segment.is_deleted(d)])
            for segment in segments
        ]
        self.input_ids = {segment_id for segment_id, _live in self.inputs}
        self._child = ChildSegment(ix, segments, merge_into, char_streams=char_streams)

    def ready(self) -> bool:
        return self._child.ready()

    def finish(self, segments: list[Any]) -> Any:
        """The merged segment, with the inputs' later deletions; None if dropped."""
        try:
            merged = self._child.result()
        except Exception:  # noqa: BLE001 - failed, died, or an unreadable result: drop it
            return None
        by_id = {segment.segment_id(): segment for segment in segments}
        if not self.input_ids <= by_id.keys() or merged.doc_count_all() != sum(len(live) for _id, live in self.inputs):
            return None
        base = 0
        for segment_id, live in self.inputs:
            segment = by_id[segment_id]
            if segment.deleted_count():
                for offset, docnum in enumerate(live):
                    if segment.is_deleted(docnum):
                        merged.delete_document(base + offset)
            base += len(live)
        return merged

    def kill(self) -> None:
        self._child.kill()


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
