"""Bad input never raises: any Unicode through the analyzer and the query
parser, any bytes through the readers (truncated multibyte sequences, mixed
encodings). Example counts are modest to keep CI fast."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchkit import Article, SearchIndex
from searchkit.analysis import Segmenter, analyze, fold, gram_stream, normalize
from searchkit.errors import QueryError, ReaderError
from searchkit.writing import paragraph_docs, pending_article
from searchkit.readers import decode_bytes, open_source, read_stream

from .conftest import CORPUS

# Every code point, lone surrogates included.
ANY_CHAR = st.characters(exclude_categories=())
TRICKY = st.sampled_from(
    list("民族團結ＧＰＳ㍿ﬁẞİΣς\u0301\u0300\u20dde\u200d\u200b\ufeff\ufffd\x00\x1f\x7f\x85\u2028\u3000 \n\t\r")
    + ["\ud800", "\udfff", "👨\u200d👩\u200d👧", "🇨🇳", "\U0001f600", "\U00020000", "\U0010ffff"]
)
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=200),
    st.lists(TRICKY, max_size=120).map("".join),
    st.builds(lambda c, n: c * n, st.one_of(ANY_CHAR, TRICKY), st.integers(300, 3000)),
)

SEGMENTER = Segmenter()


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_analyzer_offsets_are_valid_for_any_text(text: str) -> None:
    n = normalize(text)
    assert n.text == fold(text)
    for i in range(len(n.text)):
        start, end = n.to_original(i, i + 1)
        assert 0 <= start < end <= len(text)
    stream, where = gram_stream(n.text)
    assert where is None or len(where) == len(stream)
    for query in (False, True):
        normalized, tokens = analyze(text, SEGMENTER, query=query)
        assert normalized == n.text
        for token in tokens:
            assert 0 <= token.start <= token.end <= len(text)
            assert token.original == text[token.start : token.end]
            assert token.text in fold(token.original)


@settings(max_examples=100, deadline=None)
@given(TEXT)
def test_preparing_any_text_indexes_or_refuses_it(text: str) -> None:
    article = Article(id="x", title=text[:50], paragraphs=[text])
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(ReaderError, match="^article 'x': text holds a lone surrogate U\\+D[89A-F][0-9A-F]{2}, "):
            pending_article(article)
        return
    assert len(paragraph_docs(pending_article(article), SEGMENTER)) == 1


_INDEX = SearchIndex.in_memory()
_INDEX.add_articles(CORPUS, workers=1)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(ANY_CHAR, max_size=300), st.lists(TRICKY, max_size=150).map("".join),
                 st.text(st.sampled_from(list('"()- OR:title珠峰民族')), max_size=60)))
def test_any_query_including_surrogates_is_answered_or_refused(query: str) -> None:
    try:
        result = _INDEX.search(query, level="paragraph")
    except QueryError as error:
        assert "\n" not in str(error) and str(error)
        return
    assert result.total >= len(result.hits)
    for hit in result.hits:
        for start, end in hit.snippet.highlights:
            assert 0 <= start < end <= len(hit.snippet.text)


ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "big5", "utf-16", "utf-16-le", "latin-1"])
CJK_TEXT = st.text(st.one_of(st.sampled_from(list("民族团结珠峰日喀則邊境。，“”《》abc 123\n\n")), ANY_CHAR), max_size=120)


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="ignore") if encoding != "latin-1" else text.encode(encoding, errors="replace")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(CJK_TEXT, ENCODINGS), min_size=1, max_size=3), st.integers(0, 400),
       st.sampled_from(["auto", "txt", "md", "jsonl", "newspaper"]), st.booleans())
def test_readers_on_truncated_and_mixed_encodings(parts, cut: int, fmt: str, as_jsonl: bool) -> None:
    if as_jsonl:
        data = b"".join(
            _encode(json.dumps({"title": "t", "text": text}, ensure_ascii=False) + "\n", encoding)
            for text, encoding in parts
        )
    else:
        data = b"".join(_encode(text, encoding) for text, encoding in parts)
    data = data[: max(0, len(data) - cut % (len(data) + 1))]  # may end inside a multibyte sequence
    try:
        text, _encoding = decode_bytes(data, "mixed.bin")
        assert "\r" not in text
    except ReaderError:
        pass
    try:
        for article in read_stream(io.BytesIO(data), fmt).articles():
            assert isinstance(article.title, str)
            assert all(isinstance(p, str) for p in article.paragraphs)
    except ReaderError as error:
        assert "\n" not in str(error)
