"""A user dictionary: an index's own words for its segmenter, in jieba's user-dictionary format.

One word a line: ``word [frequency] [tag]``, separated by white space; the
frequency (a whole number) and the part-of-speech tag (letters) are optional.
Without a frequency the segmenter gives the word the one that keeps it whole
where it stands alone, as jieba's ``add_word`` does. Blank lines and lines
starting with ``#`` are skipped. Words are normalized as text is (a
traditional or full-width spelling is the same word), because the segmenter
cuts normalized text.

The words go to the index's private segmenter only. They change which words
rank a paragraph, never which paragraphs an exact keyword finds (keywords are
matched on characters).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .analysis import DictionaryEntry, fold
from .synonyms import parse_lines

__all__ = ["DictionaryReport", "changed_words", "parse_entry", "read_entries"]

_TAG = re.compile(r"^[A-Za-z]+$")
MAX_WORD = 64  # characters of one word


def parse_entry(line: str) -> DictionaryEntry | None:
    """One line's (word, frequency or None, tag or None); None for a blank line or a comment;
    :class:`ValueError` (the reason) for a malformed line."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    fields = text.split()
    if len(fields) > 3:
        raise ValueError("expected a word, then optionally a frequency and a tag (a word holds no white space)")
    word = fold(fields[0])
    if not any(char.isalnum() for char in word):
        raise ValueError(f"nothing to segment in the word {fields[0]!r}")
    if len(word) > MAX_WORD:
        raise ValueError(f"a word of more than {MAX_WORD} characters")
    frequency: int | None = None
    tag: str | None = None
    rest = fields[1:]
    if rest and rest[0].isascii() and rest[0].isdigit():
        frequency = int(rest.pop(0))
    if rest:
        if not _TAG.match(rest[0]) or len(rest) > 1:
            raise ValueError(f"{' '.join(rest)!r} is not a frequency (a whole number) nor a tag (letters)")
        tag = rest[0].lower()
    return word, frequency, tag


@dataclass
class DictionaryReport:
    """What setting a dictionary did: words set, malformed lines (``WHERE:LINE: reason``),
    words changed, and the paragraphs and titles re-analysed because they hold one."""

    words: int = 0
    errors: list[str] = field(default_factory=list)
    changed: int = 0
    paragraphs: int = 0
    titles: int = 0
    articles: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        text = f"{self.words} word{'s' if self.words != 1 else ''} set"
        if self.errors:
            text += f", {len(self.errors)} malformed line{'s' if len(self.errors) != 1 else ''} skipped"
        text += (f"; {self.changed} word{'s' if self.changed != 1 else ''} changed: {self.paragraphs} "
                 f"paragraph{'s' if self.paragraphs != 1 else ''} and {self.titles} title{'s' if self.titles != 1 else ''} "
                 f"re-analysed ({self.articles} article{'s' if self.articles != 1 else ''})")
        return text


def read_entries(lines: Iterable[str], where: str) -> tuple[list[str], list[DictionaryEntry], DictionaryReport]:
    """The valid lines (stripped), their entries (the last line of a word wins), and a report
    naming each malformed line as ``where:LINE: reason``."""
    kept, parsed, errors = parse_lines(lines, where, parse_entry)
    entries: dict[str, DictionaryEntry] = {}
    for entry in parsed:  # the last line of a word wins, in its place
        entries.pop(entry[0], None)
        entries[entry[0]] = entry
    return kept, list(entries.values()), DictionaryReport(len(entries), errors)


def entries_of(lines: Sequence[str]) -> list[DictionaryEntry]:
    """The entries of lines as an index keeps them (valid ones)."""
    return read_entries(lines, "")[1]


def changed_words(old: Sequence[DictionaryEntry], new: Sequence[DictionaryEntry]) -> set[str]:
    """Words added, removed, or given another frequency or tag."""
    before = {entry[0]: entry for entry in old}
    after = {entry[0]: entry for entry in new}
    return {word for word in before.keys() | after.keys() if before.get(word) != after.get(word)}
