"""The article model every reader produces and the index consumes, and its stored form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Article", "ArticleInfo", "article_meta", "stored_article"]


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


def article_meta(article: Article) -> dict[str, Any]:
    """What the index stores of an article besides its id, title and texts (its ``meta`` field)."""
    return {
        "source": article.source,
        "subtitle": article.subtitle,
        "date": article.date,
        "author": article.author,
        "paragraphs": len(article.paragraphs),
        "lines": article.lines,
    }


def stored_article(fields: dict[str, Any], texts: list[str]) -> Article:
    """The article an index's stored article document and its paragraphs' ``texts`` hold."""
    meta = fields.get("meta") or {}
    lines = meta.get("lines")
    return Article(
        title=fields.get("title") or "",
        paragraphs=texts,
        id=fields["article_id"],
        subtitle=meta.get("subtitle"),
        source=meta.get("source"),
        date=meta.get("date"),
        author=meta.get("author"),
        lines=lines if isinstance(lines, list) and len(lines) == len(texts) else None,
    )


@dataclass
class ArticleInfo:
    """An article as stored in the index. ``source`` is the publication, else the file it came from."""

    article_id: str
    title: str
    paragraphs: list[str]
    subtitle: str | None = None
    source: str | None = None
    date: str | None = None
    author: str | None = None
    lines: list[int] | None = None

    @classmethod
    def from_stored(cls, fields: dict[str, Any], texts: list[str]) -> ArticleInfo:
        article = stored_article(fields, texts)
        return cls(
            article_id=fields["article_id"],
            title=article.title,
            paragraphs=texts,
            subtitle=article.subtitle,
            source=article.source or fields.get("source"),
            date=article.date,
            author=article.author,
            lines=article.lines,
        )

    def to_json(self, with_text: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "article_id": self.article_id,
            "title": self.title,
            "source": self.source,
            "paragraphs": self.paragraphs if with_text else len(self.paragraphs),
        }
        if with_text:
            data.update(subtitle=self.subtitle, date=self.date, author=self.author, lines=self.lines)
        return data
