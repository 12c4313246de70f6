"""The Whoosh schema of a searchkit index, and the field types that take prepared postings.

Three kinds of Whoosh documents share the index:

* ``article``: id, title and metadata (stored only, never matched);
* ``paragraph``: article id, ordinal, original text (stored), and the analyzed
  ``words`` / ``grams`` of the text and ``title_words`` / ``title_grams`` of its
  article's title (indexed from postings prepared without Token objects), and
  the words column (:mod:`searchkit.engine.words`), and its article's
  metadata for filters, facets and sorting (:class:`KeywordsField`:
  ``f_source``, ``f_author``, ``f_tag``, ``f_date``);
* ``source``: one per indexed file with its content hash, written in the same
  commit as the file's last article, so a file counts as indexed only once all
  of it is.
"""

from __future__ import annotations

from typing import Any

from whoosh import fields as wfields
from whoosh import formats

from ..analysis import ChineseTokenizer, fold, gram_items
from .words import RANKING_WORDS_FIELD, RankingWordsField, VarBytesColumn

__all__ = ["FILTER_FIELDS", "VALUES_SEPARATOR", "ExactID", "KeywordsField", "Prepared", "PreparedField", "make_schema"]

# Metadata a paragraph document carries for filters, facets and sorting: field -> what it holds.
FILTER_FIELDS = {"f_source": "source", "f_author": "author", "f_tag": "tag", "f_date": "date"}
_VALUES = "\x00"  # between the values a column holds
VALUES_SEPARATOR = _VALUES.encode()


class PreparedField(wfields.FieldType):  # type: ignore[misc]
    """An indexed field that also takes postings prepared by the analyzer.

    Given a :class:`Prepared`, ``index`` returns its postings as they are, so
    the writer handles no Token objects; given text, it analyzes as usual.
    """

    def __init__(self, fmt: formats.Format, analyzer: Any) -> None:
        self.format = fmt
        self.analyzer = analyzer
        self.scorable = True
        self.stored = False
        self.unique = False
        self.vector = None
        self.column_type = None

    def index(self, value: Any, **kwargs: Any) -> Any:
        if isinstance(value, Prepared):
            return value.items if value.items is not None else gram_items(value.stream or "")
        return super().index(value, **kwargs)


class Prepared:
    """Postings for one field of one document, ready for the writer.

    ``stream``: the text's gram stream, for the segment's suffix arrays
    (paragraph text on an index of character grams; see :mod:`searchkit.engine.suffixes`).
    Then ``items`` may be None: the writer counts the characters from the
    stream, and makes postings of them only where asked to (see
    :func:`searchkit.engine.chars.char_rows`).
    """

    __slots__ = ("items", "stream")

    def __init__(self, items: list[tuple[bytes, int, float, bytes]] | None, stream: str | None = None) -> None:
        self.items = items
        self.stream = stream


class ExactID(wfields.ID):  # type: ignore[misc]
    """Whoosh's ID field, indexed without a Token: the whole value is the one term."""

    def index(self, value: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return [(value.encode("utf-8"), 1, self.format.field_boost, b"")]
        return super().index(value, **kwargs)


class KeywordsField(wfields.FieldType):  # type: ignore[misc]
    """Exact values, any number per document, for filters and facets.

    Given a list of strings, each is indexed as one term of its folded form
    (so 聯合報 and 联合报, ＡＦＰ and afp are one value); the values as given
    go to a column, in order, for facets, sorting and hits.
    """

    indexed = True
    stored = False
    scorable = False
    vector = None

    def __init__(self) -> None:
        self.format = formats.Existence()
        self.analyzer = None
        self.unique = False
        self.column_type = VarBytesColumn()

    def index(self, value: Any, **kwargs: Any) -> Any:
        terms = sorted({fold(item).strip().encode("utf-8") for item in value if item and item.strip()})
        return [(term, 1, 1.0, b"") for term in terms]

    def to_column_value(self, value: Any) -> bytes:
        return _VALUES.join(value).encode("utf-8")

    def from_column_value(self, value: bytes) -> list[str]:
        return value.decode("utf-8").split(_VALUES) if value else []


def make_schema() -> wfields.Schema:
    tokenizer = ChineseTokenizer()
    return wfields.Schema(
        kind=ExactID(stored=True),
        article_id=ExactID(stored=True, sortable=True),
        source=ExactID(stored=True),
        ordinal=wfields.STORED(),
        title=wfields.STORED(),
        text=wfields.STORED(),
        meta=wfields.STORED(),
        # Words only rank (BM25 of their counts, the postings' weights): no
        # posting values. Indexes made before schema version 2 hold positions
        # of text words and counts of title words there, which are never read.
        words=PreparedField(formats.Existence(), tokenizer),
        grams=PreparedField(formats.Positions(), tokenizer),
        title_words=PreparedField(formats.Existence(), tokenizer),
        title_grams=PreparedField(formats.Positions(), tokenizer),
        # On an index with pinyin: each Chinese character of the text and its readings, at its position.
        pinyin=PreparedField(formats.Positions(), tokenizer),
        **{RANKING_WORDS_FIELD: RankingWordsField()},
        **{fieldname: KeywordsField() for fieldname in FILTER_FIELDS},
    )
