"""The article model every reader produces and the index consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Article"]


@dataclass
class Article:
    """One article: a title and its paragraphs, with optional metadata.

    ``id`` is the stable article id; readers derive one from the source when
    the input has none. ``lines`` holds, when known, the 1-based line in the
    source file where each paragraph starts (same length as ``paragraphs``).
    """

    title: str
    paragraphs: list[str]
    id: str | None = None
    subtitle: str | None = None
    source: str | None = None
    date: str | None = None
    author: str | None = None
    lines: list[int] | None = field(default=None, repr=False)
