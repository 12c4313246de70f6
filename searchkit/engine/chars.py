"""The ``grams`` field of an index of characters (schema version 3).

Paragraphs' characters get no postings there: the segment's suffix arrays
answer phrases of them (:mod:`searchkit.engine.suffixes`), and the ``grams``
terms keep only the statistics scoring reads, counted from the gram streams
(:func:`char_rows`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from whoosh.codec.whoosh3 import (
    length_to_byte,
)

from ..analysis import fold, gram_stream, pickle_compact
from ..errors import SearchkitError
from .terms import _TERMINFO

CHAR_FIELD = "grams"  # paragraph text's characters (or bigrams); see char_rows


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


def _stream_of(value: Any) -> str:
    """The gram stream of a CHAR_FIELD value: the analyzer's, or of text given as it is."""
    if isinstance(value, str):
        return gram_stream(fold(value))[0]
    stream = getattr(value, "stream", None)
    if stream is None:
        raise SearchkitError("paragraph postings came without their text's stream for the suffix arrays")
    return stream  # type: ignore[no-any-return]
