"""Snippets: the part of a paragraph that shows why it matched.

A :class:`Snippet` is data: text plus highlight spans, (start, end) offsets
into that text. Matching happens on normalized text, spans map back to the
original, so a traditional-script hit for a simplified query is highlighted
where the reader sees it. Rendering (terminal colour, plain markers, escaped
HTML) is a separate step.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .analysis import normalize

__all__ = ["Snippet", "make_snippet", "find_spans", "merge_spans", "render_plain", "render_ansi", "render_html"]

ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"[。！？；!?;\n]+[”」』’\")）]*")
_MIN_FRAGMENT = 16


@dataclass(frozen=True)
class Snippet:
    """Snippet text and its highlights, as offsets into ``text``."""

    text: str
    highlights: list[tuple[int, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "highlights": [[start, end] for start, end in self.highlights]}

    def highlighted(self) -> list[str]:
        return [self.text[start:end] for start, end in self.highlights]


@lru_cache(maxsize=256)  # a query's needles, for each of its hits
def _needle_pattern(needle: str) -> re.Pattern[str]:
    # A space in a keyword stands for any run of white space in the text.
    parts = [re.escape(part) for part in needle.split(" ") if part]
    return re.compile(r"\s+".join(parts))


def _occurrences(text: str, needle: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each occurrence of the needle in ``text``, left to right, not overlapping."""
    if " " in needle:
        for match in _needle_pattern(needle).finditer(text):
            yield match.start(), match.end()
        return
    # Most needles: plain text, found without compiling a pattern per query.
    at = text.find(needle)
    while at >= 0:
        yield at, at + len(needle)
        at = text.find(needle, at + len(needle))


def find_spans(text: str, needles: Sequence[str]) -> list[tuple[int, int, int]]:
    """Every occurrence of each normalized needle: (start, end, needle index), original offsets."""
    normalized = normalize(text)
    spans = []
    for index, needle in enumerate(needles):
        if not needle.strip():
            continue
        for found_start, found_end in _occurrences(normalized.text, needle):
            start, end = normalized.to_original(found_start, found_end)
            spans.append((start, end, index))
    spans.sort()
    return spans


def merge_spans(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping and touching ones merged."""
    # Each span its own needle, so touching ones merge too.
    return _merge_matches([(start, end, number) for number, (start, end) in enumerate(spans)])


def _merge_matches(spans: Sequence[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Like :func:`merge_spans`, but repeats of one needle that only touch stay apart.

    民族 + 团结 become one span; 00 found twice in 0000 stays two, each the
    keyword whole.
    """
    merged: list[list[Any]] = []
    for start, end, needle in sorted(spans):
        if merged and (start < merged[-1][1] or start == merged[-1][1] and needle not in merged[-1][2]):
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2].add(needle)
        else:
            merged.append([start, end, {needle}])
    return [(start, end) for start, end, _needles in merged]


def _sentences(text: str, spans: Sequence[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Sentences of ``text``; two sentences a match runs across count as one."""
    units: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        units.append((start, match.end()))
        start = match.end()
    if start < len(text):
        units.append((start, len(text)))
    # One sweep: spans and boundaries both ascend (linear, for 100,000-character paragraphs).
    joined: list[tuple[int, int]] = []
    reach = 0  # the furthest end of the spans that start before the boundary
    next_span = 0
    for unit in units:
        if joined:
            boundary = joined[-1][1]
            while next_span < len(spans) and spans[next_span][0] < boundary:
                reach = max(reach, spans[next_span][1])
                next_span += 1
            if reach > boundary:
                joined[-1] = (joined[-1][0], unit[1])
                continue
        joined.append(unit)
    return [(s, e) for s, e in joined if text[s:e].strip()]


def _inside(spans: list[tuple[int, int, int]], starts: list[int], unit: tuple[int, int]) -> list[tuple[int, int, int]]:
    """The spans wholly inside ``unit`` (``starts``: the spans' sorted starts)."""
    first = bisect_left(starts, unit[0])
    last = bisect_left(starts, unit[1])
    return [span for span in spans[first:last] if span[1] <= unit[1]]


def _window(unit: tuple[int, int], inside: list[tuple[int, int, int]], width: int) -> tuple[int, int]:
    """The ``width``-long part of ``unit`` holding the most distinct needles (``inside`` it)."""
    ustart, uend = unit
    if uend - ustart <= width:
        return unit
    if not inside:
        return ustart, ustart + width
    # Two pointers over the spans (sorted by start): the group starting at
    # span i runs while the spans end within ``width`` of its start.
    best = (-1, -1, 0, 0)
    counts: dict[int, int] = {}
    j = 0
    group_end = 0
    for i, (first_start, _e, _n) in enumerate(inside):
        if j < i:
            j, counts, group_end = i, {}, 0
        while j < len(inside) and inside[j][1] - first_start <= width:
            counts[inside[j][2]] = counts.get(inside[j][2], 0) + 1
            group_end = max(group_end, inside[j][1])
            j += 1
        if j == i:  # a span longer than the window on its own
            key, last = (1, 1), inside[i][1]
        else:
            key, last = (len(counts), j - i), group_end
        if key > best[:2]:
            best = (key[0], key[1], first_start, last)
        if j > i:
            needle = inside[i][2]
            counts[needle] -= 1
            if not counts[needle]:
                del counts[needle]
    first, last = best[2], best[3]
    slack = max(0, width - (last - first))
    start = max(ustart, first - slack // 3)
    end = min(uend, start + width)
    start = max(ustart, min(start, end - width))
    if end < last:  # a single span longer than the window: show its start
        end = min(uend, first + width)
        start = first
    return start, end


def make_snippet(
    text: str,
    needles: Sequence[str],
    *,
    max_chars: int = 120,
    max_fragments: int = 3,
) -> Snippet:
    """Pick up to ``max_fragments`` parts of ``text`` holding the most distinct needles.

    ``needles`` are normalized keywords; each is highlighted whole, and
    touching highlights merge. A short paragraph is shown whole.
    """
    spans = find_spans(text, needles)
    if len(text) <= max_chars:
        return _build(text, [(0, len(text))], spans, len(text))
    units = _sentences(text, spans) or [(0, len(text))]
    starts = [span[0] for span in spans]
    per_unit = [_inside(spans, starts, unit) for unit in units]
    needles_per_unit = [{span[2] for span in found} for found in per_unit]
    wanted = {s[2] for s in spans}
    chosen: list[tuple[int, int]] = []
    covered: set[int] = set()
    budget = max_chars
    while budget >= _MIN_FRAGMENT and len(chosen) < max_fragments:
        best_key: tuple[int, int, int] | None = None
        best_index = -1
        for index, unit in enumerate(units):
            if any(unit[0] < c[1] and c[0] < unit[1] for c in chosen):
                continue
            new = needles_per_unit[index] - covered
            key = (len(new), len(per_unit[index]), -unit[0])
            if (new or not chosen and not spans) and (best_key is None or key > best_key):
                best_key, best_index = key, index
        if best_index < 0:
            break
        # Leave room for the separators between fragments.
        width = budget - (len(ELLIPSIS) if chosen else 0)
        piece = _window(units[best_index], per_unit[best_index], width)
        chosen.append(piece)
        covered |= {s[2] for s in per_unit[best_index] if s[0] >= piece[0] and s[1] <= piece[1]}
        budget -= piece[1] - piece[0] + (len(ELLIPSIS) if len(chosen) > 1 else 0)
        if covered >= wanted:
            break
    if not chosen:
        chosen = [_window(units[0], per_unit[0], max_chars)]
        budget = max_chars - (chosen[0][1] - chosen[0][0])
    chosen = _grow(chosen, units, budget)
    return _build(text, chosen, spans, len(text))


def _grow(chosen: list[tuple[int, int]], units: list[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """Spend what is left of the budget on whole neighbouring sentences."""
    pieces = sorted(chosen)
    grown = True
    while grown and budget > 0:
        grown = False
        for i, (start, end) in enumerate(pieces):
            following = next((u for u in units if u[0] >= end), None)
            limit = pieces[i + 1][0] if i + 1 < len(pieces) else None
            if following and (limit is None or following[1] <= limit) and following[1] - end <= budget:
                budget -= following[1] - end
                pieces[i] = (start, following[1])
                grown = True
                break
            preceding = next((u for u in reversed(units) if u[1] <= start), None)
            limit = pieces[i - 1][1] if i > 0 else None
            if preceding and (limit is None or preceding[0] >= limit) and start - preceding[0] <= budget:
                budget -= start - preceding[0]
                pieces[i] = (preceding[0], end)
                grown = True
                break
    merged: list[tuple[int, int]] = []
    for piece in pieces:
        if merged and piece[0] <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], piece[1]))
        else:
            merged.append(piece)
    return merged


def _build(text: str, pieces: list[tuple[int, int]], spans: list[tuple[int, int, int]], length: int) -> Snippet:
    parts: list[str] = []
    highlights: list[tuple[int, int, int]] = []
    offset = 0
    for index, (start, end) in enumerate(pieces):
        # Trim white space at the edges so offsets stay exact.
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if index > 0 or start > 0 and not _starts_sentence(text, start):
            if not parts or not parts[-1].endswith(ELLIPSIS):
                parts.append(ELLIPSIS)
                offset += len(ELLIPSIS)
        for s_start, s_end, needle in spans:
            if s_start >= start and s_end <= end:
                highlights.append((offset + s_start - start, offset + s_end - start, needle))
        parts.append(text[start:end].replace("\n", " "))
        offset += end - start
    if pieces and pieces[-1][1] < length and not _ends_sentence(text, pieces[-1][1]):
        parts.append(ELLIPSIS)
    return Snippet("".join(parts), _merge_matches(highlights))


def _starts_sentence(text: str, index: int) -> bool:
    before = text[:index].rstrip()
    return not before or bool(_SENTENCE_END.search(before[-1]))


def _ends_sentence(text: str, index: int) -> bool:
    return index > 0 and bool(_SENTENCE_END.search(text[index - 1])) or not text[index:].strip()


# --------------------------------------------------------------------------
# Rendering


def _render(snippet: Snippet, open_mark: str, close_mark: str, escape: Any = None) -> str:
    out: list[str] = []
    position = 0
    convert = escape or (lambda s: s)
    for start, end in snippet.highlights:
        out.append(convert(snippet.text[position:start]))
        out.append(open_mark + convert(snippet.text[start:end]) + close_mark)
        position = end
    out.append(convert(snippet.text[position:]))
    return "".join(out)


def render_plain(snippet: Snippet, open_mark: str = "[", close_mark: str = "]") -> str:
    return _render(snippet, open_mark, close_mark)


def render_ansi(snippet: Snippet) -> str:
    return _render(snippet, "\x1b[1;31m", "\x1b[0m")


def render_html(snippet: Snippet, tag: str = "mark") -> str:
    return _render(snippet, f"<{tag}>", f"</{tag}>", escape=html.escape)
