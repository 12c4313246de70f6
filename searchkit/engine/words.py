"""The words column: each paragraph's jieba words and its title's, in order.

A paragraph document holds them in a Whoosh ``VarBytesColumn`` (not indexed,
not stored with the text). Ranking a segment's few hits counts the query's
words there instead of looking each word up and reading its postings (see
:class:`searchkit.engine.matchers.RankedFilter`). Segments written before the
column existed have none and rank from postings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from whoosh import columns as wcolumns
from whoosh import fields as wfields

__all__ = ["RANKING_WORDS_FIELD", "RANKING_WORDS_PARTS", "RankingWordsField", "VarBytesColumn", "decode_ranking_words",
           "encode_ranking_words", "ranking_words_column", "raw_column", "recorded_words"]

RANKING_WORDS_FIELD = "ranking_words"
# The fields whose words the column holds, in its order.
RANKING_WORDS_PARTS = ("words", "title_words")
_WORDS_FORMAT = b"\x01"  # first byte of a column value (empty: no words recorded)
_WORD_SEPARATOR, _PART_SEPARATOR = "\x00", "\x01"


class VarBytesColumn(wcolumns.VarBytesColumn):  # type: ignore[misc]
    """Whoosh's ``VarBytesColumn``, written right when the last documents have no value.

    Whoosh-Reloaded 2.7.5's writer takes its arrays of lengths and offsets
    before it fills in the documents after the last value. When that fill
    widens the offsets' type (the column's size passing 255 or 65,535 bytes
    there), the array it writes misses its tail, and every value then reads
    from the wrong place: a segment ending with files' records (which have no
    words) after exactly such a column was unreadable.
    """

    class Writer(wcolumns.VarBytesColumn.Writer):  # type: ignore[misc]
        def finish(self, doccount: int) -> None:
            self.fill(doccount)
            self._count = max(self._count, doccount)  # fill does not count: Whoosh's finish would fill again
            super().finish(doccount)


class RankingWordsField(wfields.FieldType):  # type: ignore[misc]
    """The column's field: a value per paragraph document, not indexed, not stored."""

    indexed = False
    stored = False
    scorable = False
    vector = None

    def __init__(self) -> None:
        self.format = None
        self.analyzer = None
        self.unique = False
        # Offsets written whatever the segment's size: a reader then need not add up every length.
        self.column_type = VarBytesColumn(write_offsets_cutoff=0)

    def to_column_value(self, value: bytes) -> bytes:
        return value


def encode_ranking_words(words: dict[str, list[str]]) -> bytes:
    """A paragraph's column value: its words per field of RANKING_WORDS_PARTS,
    in order (a word as often as the text has it). Empty (rank from
    postings) if a word holds a separator."""
    parts = [words[fieldname] for fieldname in RANKING_WORDS_PARTS]
    if any(_WORD_SEPARATOR in word or _PART_SEPARATOR in word for part in parts for word in part):
        return b""
    return _WORDS_FORMAT + _PART_SEPARATOR.join(_WORD_SEPARATOR.join(part) for part in parts).encode("utf-8")


def decode_ranking_words(value: bytes) -> list[list[str]]:
    """A non-empty column value's words, per field of RANKING_WORDS_PARTS."""
    return [part.split(_WORD_SEPARATOR) if part else [] for part in value[1:].decode("utf-8").split(_PART_SEPARATOR)]


def ranking_words_column(reader: Any) -> tuple[Any, Any, Callable[[int, int], bytes], int] | None:
    """The segment's column of paragraphs' words as (lengths, offsets, read, base), read once per reader; None without one."""
    return raw_column(reader, RANKING_WORDS_FIELD)


def raw_column(reader: Any, fieldname: str) -> tuple[Any, Any, Callable[[int, int], bytes], int] | None:
    """The segment's variable-length column of ``fieldname`` as (lengths, offsets, read, base): a
    document's bytes are ``read(base + offsets[docnum], lengths[docnum])``. Read once per reader
    (opening reads every length); None without such a column."""
    kept = reader.__dict__.setdefault("_searchkit_raw_columns", {})
    if fieldname not in kept:
        kept[fieldname] = None
        if reader.has_column(fieldname):
            column = reader.column_reader(fieldname, translate=False)
            if type(column) is wcolumns.VarBytesColumn.Reader:
                kept[fieldname] = (column._lengths, column._offsets, column._dbfile.get, column._basepos)
    return kept[fieldname]  # type: ignore[no-any-return]


def recorded_words(searcher: Any, docnum: int) -> list[list[str]] | None:
    """The words the column holds for a paragraph document (by the searcher's
    document number): ``[text words, title words]``; None where none are recorded."""
    leaves = searcher.reader().leaf_readers()
    reader, offset = leaves[0]
    for leaf, start in leaves:
        if start > docnum:
            break
        reader, offset = leaf, start
    if not reader.has_column(RANKING_WORDS_FIELD):
        return None
    value = reader.column_reader(RANKING_WORDS_FIELD, translate=False)[docnum - offset]
    return decode_ranking_words(value) if value else None
