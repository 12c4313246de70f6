"""Synonyms: an index's list of alternatives for keywords, applied at query time.

The list is in the Solr (and Elasticsearch) synonyms format, one rule a line:

* ``珠峰, 珠穆朗玛峰, 圣母峰``: mutual, each term finds the others;
* ``沪 => 上海``: one-way, 沪 finds 上海 too, 上海 does not find 沪;
* ``a, b => c, d``: a and b each find c and d;
* blank lines and lines starting with ``#`` are skipped.

Terms are normalized as query keywords are (:func:`~searchkit.analysis.keyword_text`),
so a traditional or full-width spelling is the same term. A keyword as typed
is always one of its own alternatives (it still finds every paragraph that
holds it); rules are not chained (with ``a, b`` and ``b, c``, a finds b but
not c). A keyword takes at most :data:`MAX_ALTERNATIVES` synonyms, the first
ones in the list's order.

The index keeps the rules as written (the valid lines), so that
``synonyms --show`` prints a list that reads back the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .analysis import keyword_text

__all__ = ["MAX_ALTERNATIVES", "Synonyms", "SynonymsReport", "parse_lines", "parse_rule", "read_rules"]

T = TypeVar("T")
MAX_ALTERNATIVES = 8  # synonyms per keyword, besides the keyword itself
_SEPARATOR = re.compile("[,，]")  # an ASCII or a full-width comma


def _terms(side: str, what: str) -> list[str]:
    terms = []
    for raw in _SEPARATOR.split(side):
        raw = raw.strip()
        if not raw:
            raise ValueError(f"an empty term {what}(two commas in a row, or one at an end)")
        term = keyword_text(raw)
        if not any(char.isalnum() for char in term):
            raise ValueError(f"nothing to search for in the term {raw!r}")
        terms.append(term)
    return terms


def parse_rule(line: str) -> tuple[list[str], list[str]] | None:
    """One line's rule as (terms, alternatives): for a mutual rule both are its terms.

    None for a blank line or a comment; :class:`ValueError` (the reason) for a malformed line.
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if "=>" in text:
        parts = text.split("=>")
        if len(parts) > 2:
            raise ValueError('more than one "=>"')
        left, right = (part.strip() for part in parts)
        if not left or not right:
            raise ValueError(f'nothing on the {"left" if not left else "right"} of "=>"')
        return _terms(left, "on the left "), _terms(right, "on the right ")
    terms = _terms(text, "")
    if len(terms) < 2:
        raise ValueError("a rule needs two or more terms separated by commas (a, b) or an arrow (a => b)")
    return terms, terms


@dataclass
class SynonymsReport:
    """What setting a synonyms list did: the rules kept, and one ``WHERE:LINE: reason`` per line skipped."""

    rules: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        text = f"{self.rules} rule{'s' if self.rules != 1 else ''} set"
        if self.errors:
            text += f", {len(self.errors)} malformed line{'s' if len(self.errors) != 1 else ''} skipped"
        return text


def parse_lines(lines: Iterable[str], where: str, parse: Callable[[str], T | None]) -> tuple[list[str], list[T], list[str]]:
    """A list file's lines read with ``parse`` (None: a blank or comment line; :class:`ValueError`:
    malformed): the valid lines (stripped), what they parse to, and ``where:LINE: reason`` per malformed one."""
    kept: list[str] = []
    parsed: list[T] = []
    errors: list[str] = []
    for number, line in enumerate(lines, 1):
        try:
            value = parse(line)
        except ValueError as error:
            errors.append(f"{where}:{number}: {error}")
            continue
        if value is not None:
            kept.append(line.strip())
            parsed.append(value)
    return kept, parsed, errors


def read_rules(lines: Iterable[str], where: str) -> tuple[list[str], SynonymsReport]:
    """The valid rule lines (stripped), and a report naming each malformed one as ``where:LINE: reason``."""
    kept, _rules, errors = parse_lines(lines, where, parse_rule)
    return kept, SynonymsReport(len(kept), errors)


class Synonyms:
    """The alternatives of each term, from rule lines as the index keeps them."""

    def __init__(self, rules: Sequence[str]) -> None:
        self.rules = list(rules)
        found: dict[str, dict[str, None]] = {}
        for line in rules:
            try:
                rule = parse_rule(line)
            except ValueError:
                continue  # not written by read_rules: skipped as it would have been
            if rule is None:
                continue
            terms, alternatives = rule
            for term in terms:
                held = found.setdefault(term, {})
                for alternative in alternatives:
                    if alternative != term:
                        held[alternative] = None
        self._alternatives = {term: list(held) for term, held in found.items() if held}

    def __bool__(self) -> bool:
        return bool(self._alternatives)

    def alternatives(self, text: str) -> tuple[list[str], int]:
        """The synonyms of a (normalized) keyword, at most :data:`MAX_ALTERNATIVES`, and how many it has in all."""
        every = self._alternatives.get(text, [])
        return every[:MAX_ALTERNATIVES], len(every)
