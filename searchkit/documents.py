"""The article model every reader produces and the index consumes, and its stored form."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Any

from .errors import RecordError

__all__ = ["Article", "ArticleInfo", "MAX_FIELD_CHARS", "article_meta", "checked_date", "id_forms", "join_pieces", "split_authors", "line_blocks", "normalize_newlines", "parse_date",
           "split_paragraphs",
           "stored_article"]

MAX_FIELD_CHARS = 1000  # a title, id or metadata value longer than this is refused (paragraphs have no limit)
_METADATA = ("subtitle", "source", "date")


@dataclass
class Article:
    """One article: a title and its paragraphs, with optional metadata.

    ``id`` is the stable article id; readers derive one from the file when
    the input has none. ``source`` is the publication (人民日报), never the
    file. ``author`` holds one or several names (see :attr:`authors`);
    ``date`` is ISO once added (``2023-12-10``, ``2023-12`` or ``2023``).
    ``lines`` holds, when known, the 1-based line in the file where each
    paragraph starts (same length as ``paragraphs``).
    """

    title: str
    paragraphs: list[str]
    id: str | None = None
    subtitle: str | None = None
    source: str | None = None
    date: str | None = None
    author: str | None = None
    lines: list[int] | None = field(default=None, repr=False)
    tags: list[str] | None = None

    @property
    def authors(self) -> list[str]:
        """The names ``author`` holds: split at 、，,；; and /, or at spaces between Chinese names."""
        return split_authors(self.author)


    @classmethod
    def from_dict(cls, record: Mapping[str, Any], *, where: str | None = None, default_id: str | None = None) -> Article:
        """An article from a record in searchkit's JSONL form.

        ``{"id", "title", "paragraphs": [str, ...] or "text": str, "subtitle",
        "source", "date", "author"}``: ``title`` is required and not empty;
        ``text`` is split into paragraphs at blank lines; a ``date`` is read
        as ISO (a time may follow), ``2023/12/10``, ``2023年12月10日``, or a
        month or year alone, and kept as ISO (``2023-12-10``, ``2023-12``,
        ``2023``). Raises :class:`RecordError` naming ``where`` (the record:
        ``path:line``, say) and the field.
        """
        where = where or (f"record {record.get('id')!r}" if isinstance(record, Mapping) and record.get("id") else "record")

        def bad(reason: str) -> RecordError:
            return RecordError(f"{where}: {reason}")

        if not isinstance(record, Mapping):
            raise bad("record is not a JSON object")
        if "title" not in record:
            raise bad('missing "title"')
        title = record["title"]
        if not isinstance(title, str):
            raise bad('"title" must be a string')
        if not title.strip():
            raise bad('"title" is empty')
        if "paragraphs" in record:
            paragraphs = record["paragraphs"]
            if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
                raise bad('"paragraphs" must be a list of strings')
            paragraphs = list(paragraphs)
        elif "text" in record:
            body = record["text"]
            if not isinstance(body, str):
                raise bad('"text" must be a string')
            paragraphs = split_paragraphs(body)
        else:
            raise bad('record has neither "paragraphs" nor "text"')
        raw_id = record.get("id")
        if raw_id is None:
            article_id = default_id
        elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or raw_id == "":
            raise bad('"id" must be a non-empty string or an integer')
        else:
            article_id = str(raw_id)
        values: dict[str, str | None] = {}
        for key in _METADATA:
            value = record.get(key)
            if value is not None and not isinstance(value, str):
                raise bad(f'"{key}" must be a string')
            values[key] = value
        author = record.get("author")
        if isinstance(author, list) and all(isinstance(name, str) for name in author):
            author = "、".join(name.strip() for name in author if name.strip()) or None
        elif author is not None and not isinstance(author, str):
            raise bad('"author" must be a string or a list of strings')
        values["author"] = author
        tags = record.get("tags")
        if isinstance(tags, str):
            tags = [tags]
        if tags is not None and not (isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)):
            raise bad('"tags" must be a string or a list of strings')
        tags = [tag.strip() for tag in tags or () if tag.strip()] or None
        for tag in tags or ():
            if len(tag) > MAX_FIELD_CHARS:
                raise bad(f'"tags" holds a tag too long: {len(tag)} characters (at most {MAX_FIELD_CHARS})')
        for key, value in (("id", article_id), ("title", title), *values.items()):
            if value is not None and len(value) > MAX_FIELD_CHARS:
                raise bad(f'"{key}" is too long: {len(value)} characters (at most {MAX_FIELD_CHARS})')
        for key, texts in (("title", [title]), ("paragraphs", paragraphs), ("tags", tags or []),
                           *((k, [v]) for k, v in values.items() if v)):
            surrogate = _lone_surrogate(texts)
            if surrogate is not None:
                raise bad(f'"{key}" holds a lone surrogate U+{surrogate:04X}, which is not valid Unicode')
        if values["date"] is not None:
            values["date"] = checked_date(values["date"], where)
        return cls(title=title, paragraphs=paragraphs, id=article_id, tags=tags, **values)

def article_meta(article: Article) -> dict[str, Any]:
    """What the index stores of an article besides its id, title and texts (its ``meta`` field)."""
    return {
        "source": article.source,
        "subtitle": article.subtitle,
        "date": article.date,
        "author": article.author,
        "paragraphs": len(article.paragraphs),
        "lines": article.lines,
        "tags": article.tags,
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
        tags=meta.get("tags"),
    )


@dataclass
class ArticleInfo:
    """An article as stored in the index: its metadata, and ``path``, the file it came from (if any)."""

    article_id: str
    title: str
    paragraphs: list[str]
    subtitle: str | None = None
    source: str | None = None
    date: str | None = None
    author: str | None = None
    lines: list[int] | None = None
    tags: list[str] | None = None
    path: str | None = None

    @classmethod
    def from_stored(cls, fields: dict[str, Any], texts: list[str]) -> ArticleInfo:
        article = stored_article(fields, texts)
        return cls(
            article_id=fields["article_id"],
            title=article.title,
            paragraphs=texts,
            subtitle=article.subtitle,
            source=article.source,
            date=article.date,
            author=article.author,
            lines=article.lines,
            tags=article.tags,
            path=fields.get("source"),  # the index's "source" field holds the file's path
        )

    @property
    def authors(self) -> list[str]:
        return split_authors(self.author)

    def to_json(self, with_text: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "article_id": self.article_id,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "authors": self.authors,
            "tags": self.tags or [],
            "path": self.path,
            "paragraphs": self.paragraphs if with_text else len(self.paragraphs),
        }
        if with_text:
            data.update(subtitle=self.subtitle, lines=self.lines)
        return data


_AUTHOR_SEPARATORS = re.compile(r"\s*[、，,；;/]\s*")
_CHINESE_NAME = re.compile(r"[\u3400-\u9fff·・]{2,8}")


def split_authors(author: str | None) -> list[str]:
    """The names in an ``author`` value: split at 、，,；; and /, else at spaces between Chinese names
    (a byline's 汪纯 旦增嘎瓦), but not inside a Western name."""
    if not author or not author.strip():
        return []
    names = [name for name in _AUTHOR_SEPARATORS.split(author.strip()) if name]
    if len(names) == 1:
        pieces = author.split()
        if len(pieces) > 1 and all(_CHINESE_NAME.fullmatch(piece) for piece in pieces):
            return pieces
    return names

_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(texts: list[str]) -> int | None:
    for text in texts:
        found = _SURROGATE.search(text)
        if found:
            return ord(found.group())
    return None


# --------------------------------------------------------------------------
# Text into paragraphs


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_WIDE = re.compile(
    "[\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\u2014\u2018\u2019\u201c\u201d\u2026\U00020000-\U0003ffff]"
)


def join_pieces(pieces: Sequence[str]) -> str:
    """Join stripped lines: no space between wide (CJK) characters."""
    out = ""
    for piece in pieces:
        if not piece:
            continue
        if out and not (_WIDE.match(out[-1]) and _WIDE.match(piece[0])):
            out += " "
        out += piece
    return out


def line_blocks(lines: Sequence[str]) -> list[tuple[int, list[str]]]:
    """Split lines at blank lines: (1-based start line, stripped lines)."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped:
            if not current:
                start = number
            current.append(stripped)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a text: its blocks between blank lines, lines joined (no space between CJK characters)."""
    return [join_pieces(block) for _, block in line_blocks(normalize_newlines(text).split("\n"))]


_DATE = re.compile(
    r"(?P<year>\d{4})(?:(?:[-/.]|年)(?P<month>\d{1,2})(?:(?:[-/.]|月)(?P<day>\d{1,2})日?(?:[T ]\d{1,2}:\d{2}.*)?|月)?|年)?"
)


def parse_date(value: str) -> str | None:
    """``value`` as an ISO date (``YYYY-MM-DD``, or ``YYYY-MM`` / ``YYYY`` when that is all it says); None if it is not one.

    Reads ISO (a time may follow), ``2023/12/10``, ``2023.12.10``,
    ``2023年12月10日`` and a month or year alone (``2023-12``, ``2023年12月``,
    ``2023年``), full-width digits too.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(part) if part else None for part in match.group("year", "month", "day"))
    try:
        Date(year, month or 1, day or 1)  # type: ignore[arg-type]
    except ValueError:
        return None
    if year < 1 or (month is None and text.endswith(("-", "/", "."))):
        return None
    return f"{year:04d}" + (f"-{month:02d}" if month else "") + (f"-{day:02d}" if day else "")


def checked_date(value: str, where: str) -> str:
    """``value`` as an ISO date (:func:`parse_date`), or :class:`RecordError` naming ``where``."""
    parsed = parse_date(value)
    if parsed is None:
        raise RecordError(f'{where}: "date" cannot be read as a date: {value!r} '
                          "(use 2023-12-10, 2023/12/10, 2023年12月10日, 2023-12 or 2023)")
    return parsed


def id_forms(article_id: str) -> list[str]:
    """The forms an article id given by a user may be indexed under: as given, and (an id of a
    file's article, ``path#n``, its path relative to here) with the path absolute, as indexed."""
    forms = [article_id]
    path, hash_sign, rest = article_id.partition("#")
    if hash_sign and not os.path.isabs(path):
        forms.append(f"{Path(path).resolve().as_posix()}#{rest}")
    return forms
