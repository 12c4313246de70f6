"""Title tables: title keywords found as the title postings find them, on every kind of segment.

``twin`` is the same index as searchkit wrote it before title tables (the
title postings only), to compare with.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from searchkit import AnalyzerSettings, Article, SearchIndex
from searchkit.analysis import fold, gram_stream
from searchkit.engine import titles
from searchkit.engine.matchers import CharPhrase
from searchkit.engine.titles import TitleRuns, segment_titles

from .test_reliability import cli_main
from .test_suffixes import _leaves, _scored

# Common title characters (long postings), a character outside the BMP, Latin, white space.
TITLE_ALPHABET = "江南春风二十首夜月山水𠀀ab "


def _title(chooser: random.Random) -> str:
    if chooser.random() < 0.05:
        return ""
    return "".join(chooser.choice(TITLE_ALPHABET) for _ in range(chooser.randint(1, 9))).strip()


def _articles(count: int, seed: int, prefix: str = "a") -> list[Article]:
    chooser = random.Random(seed)
    return [
        Article(id=f"{prefix}{n}", title=_title(chooser),
                paragraphs=[f"第{n}篇{k}段" for k in range(chooser.randint(1, 4))])
        for n in range(count)
    ]


def _three_segments() -> SearchIndex:
    """An index of characters in three segments, some articles deleted, some replaced (a new title)."""
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=1))
    ix.add_articles(_articles(150, 1))
    ix.add_articles(_articles(100, 2, prefix="b"))
    ix.add_articles([Article(id=f"a{n}", title="江南二十首", paragraphs=["新", "的"]) for n in range(0, 150, 11)])
    for n in range(0, 100, 7):
        ix.delete(f"b{n}")
    return ix


def _paragraphs(ix: SearchIndex) -> dict[int, dict]:
    reader = ix.searcher().reader()
    return {docnum: fields for docnum, fields in reader.iter_docs() if fields.get("kind") == "paragraph"}


def _holding(ix: SearchIndex, keyword: str) -> set[int]:
    return {docnum for docnum, fields in _paragraphs(ix).items() if keyword in gram_stream(fold(fields["title"]))[0]}


def _keywords(ix: SearchIndex, count: int, seed: int) -> list[str]:
    chooser = random.Random(seed)
    streams = sorted({gram_stream(fold(fields["title"]))[0] for fields in _paragraphs(ix).values()} - {""})
    found = []
    while len(found) < count:
        stream = chooser.choice(streams)
        size = chooser.randint(1, min(4, len(stream)))
        start = chooser.randrange(len(stream) - size + 1)
        piece = stream[start : start + size]
        if piece.strip() == piece:
            found.append(piece)
    return found + ["江南", "二十", "二十首", "𠀀a", "南 春", "风风风风风风风风风风", "无"]


@pytest.fixture(scope="module")
def tables() -> SearchIndex:
    return _three_segments()


@pytest.fixture(scope="module")
def twin() -> Iterator[SearchIndex]:
    with pytest.MonkeyPatch.context() as older:  # as a searchkit before title tables wrote it
        older.setattr(TitleRuns, "__bool__", lambda self: False)
        ix = _three_segments()
    assert [segment_titles(leaf) for leaf in _leaves(ix)] == [None, None, None]
    yield ix


def test_each_segment_lists_its_articles_paragraphs_once_with_their_title(tables: SearchIndex) -> None:
    leaves = _leaves(tables)
    assert len(leaves) == 3
    for leaf in leaves:
        table = segment_titles(leaf)
        assert table is not None
        covered: list[int] = []
        for first, end, stream in table.runs():
            docs = [leaf.stored_fields(docnum) for docnum in range(first, end)]
            assert {fields["article_id"] for fields in docs} == {docs[0]["article_id"]}
            assert [fields["ordinal"] for fields in docs] == list(range(end - first))
            assert stream == gram_stream(fold(docs[0]["title"]))[0]
            covered.extend(range(first, end))
        paragraphs = [docnum for docnum in range(leaf.doc_count_all()) if leaf.stored_fields(docnum).get("kind") == "paragraph"]
        assert covered == paragraphs


def test_same_documents_and_scores_as_the_title_postings(tables: SearchIndex, twin: SearchIndex) -> None:
    keywords = _keywords(tables, 60, 3)
    found = 0
    for keyword in keywords:
        ours = _scored(tables, CharPhrase("title_grams", list(keyword), boost=0.7))
        postings = _scored(twin, CharPhrase("title_grams", list(keyword), boost=0.7))
        assert set(ours) == set(postings) == _holding(tables, keyword), keyword
        assert ours == pytest.approx(postings, rel=1e-12), keyword
        found += bool(ours)
    assert found > 50


def test_openings_are_each_articles_first_paragraph(tables: SearchIndex, twin: SearchIndex) -> None:
    paragraphs = _paragraphs(tables)
    for keyword in ["江南", "二十", "月", "ab"]:
        opening = set(_scored(tables, CharPhrase("title_grams", list(keyword), openings=True)))
        holding = _holding(tables, keyword)
        assert opening == {docnum for docnum in holding if paragraphs[docnum]["ordinal"] == 0}, keyword
        assert len(opening) < len(holding)
        # Without a table: every paragraph, as without openings.
        assert set(_scored(twin, CharPhrase("title_grams", list(keyword), openings=True))) == holding


def test_searches_alike_with_and_without_title_tables(tables: SearchIndex, twin: SearchIndex) -> None:
    queries = ["江南", "二十首", "title:江南", "title:春风 夜", "南 -title:二十", "江南 OR 月", "第3篇", "𠀀a", "二十 source:x"]
    for level in ("article", "paragraph"):
        for query in queries:
            assert tables.search(query, level=level, limit=50).to_json() == twin.search(query, level=level, limit=50).to_json(), (query, level)


def test_merges_keep_the_tables_and_make_them_for_segments_without(monkeypatch: pytest.MonkeyPatch) -> None:
    merged = _three_segments()
    merged.optimize()  # inputs with tables, deleted documents left out
    with monkeypatch.context() as before:
        before.setattr(TitleRuns, "__bool__", lambda self: False)
        merged_twin = _three_segments()
        merged_twin.optimize()
    older = SearchIndex.in_memory(settings=AnalyzerSettings(grams=1))
    with monkeypatch.context() as before:
        before.setattr(TitleRuns, "__bool__", lambda self: False)
        older.add_articles(_articles(150, 1))
    older.add_articles(_articles(100, 2, prefix="b"))  # one segment with a table, one without
    assert [segment_titles(leaf) is None for leaf in _leaves(older)] == [True, False]
    older.optimize()  # the input without: its runs from its stored documents
    for ix in (merged, older):
        [leaf] = _leaves(ix)
        assert segment_titles(leaf) is not None
        for keyword in _keywords(ix, 30, 4):
            assert set(_scored(ix, CharPhrase("title_grams", list(keyword)))) == _holding(ix, keyword), keyword
        assert ix.check().ok
    for query in ("江南", "title:二十", "月 第1"):
        assert merged.search(query, limit=50).to_json() == merged_twin.search(query, limit=50).to_json(), query


def test_a_damaged_title_file_is_one_line_and_check_finds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ix"
    with SearchIndex.create(path, settings=AnalyzerSettings(grams=1)) as ix:
        ix.add_articles(_articles(40, 5))
    [segment_file] = path.glob("*.seg")
    data = bytearray(segment_file.read_bytes())
    at = data.find(titles.TITLE_MAGIC)
    assert at > 0
    data[at] ^= 0xFF
    segment_file.write_bytes(bytes(data))
    with SearchIndex(path) as damaged:
        with pytest.raises(ValueError, match=r"^title file: bad header"):
            damaged.search("江南")
        report = damaged.check()
    assert not report.ok
    assert any("the title table is damaged (it cannot be read (ValueError))" in problem for problem in report.problems)
    assert cli_main(capsys, monkeypatch, "--index", str(path), "search", "江南") == (
        3,
        "",
        (f"Error: index at {path} is damaged (ValueError): rebuild it with `searchkit --index {path} reindex` "
         "(if that fails, delete it and index your files again)\n"),
    )
    assert cli_main(capsys, monkeypatch, "--index", str(path), "reindex")[0] == 0
    assert cli_main(capsys, monkeypatch, "--index", str(path), "check")[0] == 0
    with SearchIndex(path) as rebuilt:
        assert rebuilt.search("江南").total == len({a.id for a in _articles(40, 5) if "江南" in a.title})


def test_each_documents_opening_is_its_runs_first(tables: SearchIndex) -> None:
    # (article_keys reads it: the articles of an article-level search)
    for leaf in _leaves(tables):
        table = segment_titles(leaf)
        assert table is not None and len(table.openings) == leaf.doc_count_all()
        runs = list(zip(table.firsts, table.ends))
        for first, end in runs:
            assert list(table.openings[first:end]) == [first] * (end - first)
        assert all(table.openings[docnum] == max((f for f, _e in runs if f <= docnum), default=runs[-1][0])
                   for docnum in range(leaf.doc_count_all()))
