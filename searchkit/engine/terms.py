"""The term table: Whoosh's ordered hash file of terms, written by searchkit and read without Whoosh's reader.

A term's row holds its term info; a postings list of at most ``INLINE_LIMIT``
postings lives in the row itself. :class:`TermProbe` and :func:`term_range`
look terms up in the file's hash tables directly, and :func:`field_terms`
streams one field's rows in order (merges, ``check``).
"""

from __future__ import annotations

import pickle
import struct
import zlib
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from whoosh.codec.whoosh3 import (
    W3TermInfo,
    length_to_byte,
)
from whoosh.filedb.filetables import HashWriter, OrderedHashWriter, crc_hash
from whoosh.reading import SegmentReader
from whoosh.system import pack_ushort
from whoosh.util.numlists import GrowableArray

from ..analysis import pickle_compact

INLINE_LIMIT = 8  # postings lists this short live in the term table


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


SCAN_CHUNK = 1 << 20  # bytes of a term table read at once by a merge


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
