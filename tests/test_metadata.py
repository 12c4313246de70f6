"""Dates, sources, authors and tags: filters, facets, sorting and paging, in the CLI, the API and queries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import QueryError, SearchIndex
from searchkit.cli import cli
from tests.conftest import index_records
from tests.conftest import search_json as search

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "indexes"

RECORDS = [
    {"id": "n1", "title": "冬季旅游升温", "paragraphs": ["冬季西藏旅游火热。", "游客增多。"], "source": "新华社",
     "date": "2023-12-10", "author": "卓玛"},
    {"id": "n2", "title": "冬季取暖", "text": "各地保障冬季取暖。", "source": "聯合報", "date": "2024/01/05",
     "author": ["次仁", "卓玛"], "tags": ["民生"]},
    {"id": "n3", "title": "珠峰", "text": "珠峰冬季景色。\n\n冬季登山季结束。", "source": "人民日报", "date": "2023年12月",
     "tags": "旅游"},
    {"id": "n4", "title": "没有日期", "text": "冬季的一篇旧闻。", "source": "新华社"},
    {"id": "n5", "title": "外电", "text": "冬季风暴来袭。", "source": "AFP", "date": "2022", "author": "John Smith"},
]


@pytest.fixture()
def news(tmp_path: Path) -> Path:
    return index_records(tmp_path, RECORDS)


def ids(data: dict) -> list[str]:
    return [hit["article_id"] for hit in data["hits"]]


def test_hits_carry_their_article_metadata(news: Path) -> None:
    hit = search(news, "冬季取暖")["hits"][0]
    assert {k: hit[k] for k in ("article_id", "date", "source", "authors", "tags", "title_highlights")} == {
        "article_id": "n2", "date": "2024-01-05", "source": "聯合報", "authors": ["次仁", "卓玛"], "tags": ["民生"],
        "title_highlights": [[0, 4]]}
    assert hit["path"].endswith("/news.jsonl")
    with SearchIndex(news) as index:
        info = index.get_article("n3")
        assert (info.date, info.source, info.authors, info.tags) == ("2023-12", "人民日报", [], ["旅游"])


@pytest.mark.parametrize(("args", "expected"), [
    (["--source", "联合报"], ["n2"]),  # simplified finds traditional
    (["--source", "ＡＦＰ"], ["n5"]),  # full width finds half width
    (["--source", "新华社", "--source", "AFP"], ["n1", "n4", "n5"]),  # OR within one option
    (["--author", "卓玛"], ["n1", "n2"]),
    (["--author", "john smith"], ["n5"]),
    (["--tag", "旅游"], ["n3"]),
    (["--from", "2023-12", "--to", "2023-12"], ["n1", "n3"]),  # a month takes in its days, and itself
    (["--from", "2023-12-01", "--to", "2023-12-31"], ["n1"]),  # a month alone is not within those days
    (["--from", "2024"], ["n2"]),
    (["--to", "2022-12-31"], ["n5"]),
    (["--source", "新华社", "--author", "卓玛"], ["n1"]),  # AND across options
])
def test_cli_filters(news: Path, args: list[str], expected: list[str]) -> None:
    assert sorted(set(ids(search(news, "冬季", "--limit", "20", *args)))) == expected


@pytest.mark.parametrize(("query", "expected"), [
    ("冬季 source:联合报", ["n2"]),
    ("冬季 author:卓玛", ["n1", "n2"]),
    ("冬季 date:2023-12", ["n1", "n3"]),
    ("冬季 date:2023-12-01..2024-01-31", ["n1", "n2"]),
    ("冬季 date:..2023", ["n1", "n3", "n5"]),
    ("冬季 tag:民生 author:次仁", ["n2"]),
    ("source:新华社", ["n1", "n4"]),  # filters alone: every article they let through
])
def test_query_language_filters(news: Path, query: str, expected: list[str]) -> None:
    assert sorted(ids(search(news, query, "--limit", "20", "--level", "article"))) == expected


def test_query_filters_and_options_all_hold_and_apply_to_every_batch_line(news: Path) -> None:
    assert ids(search(news, "冬季 source:新华社", "--author", "卓玛")) == ["n1"]
    result = CliRunner().invoke(cli, ["--index", str(news), "search", "-", "--source", "新华社"], input="冬季\n旧闻\n")
    assert [[h["article_id"] for h in json.loads(line)["hits"]] for line in result.stdout.splitlines()] == [
        ["n1", "n4"], ["n4"]]


@pytest.mark.parametrize(("args", "message"), [
    (["冬季", "--from", "2023-13"],
     "cannot read the date '2023-13' (from): use 2023-12-10, 2023/12/10, 2023年12月10日, 2023-12 or 2023"),
    (["冬季", "--from", "2024", "--to", "2023"], "the date range 2024..2023 is empty: its start is after its end"),
    (["冬季 date:yesterday"],
     "cannot read the date 'yesterday' (from): use 2023-12-10, 2023/12/10, 2023年12月10日, 2023-12 or 2023"),
    (["冬季 source:"], "source: needs a value, as in source:新华社"),
    (["冬季", "--facets", "colour"], "unknown facet 'colour': use source, author, tag, year, month"),
])
def test_bad_filters_are_one_line_and_exit_2(news: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["--index", str(news), "search", *args])
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


def test_facets_count_every_match_not_only_the_page(news: Path) -> None:
    data = search(news, "冬季", "--limit", "1", "--level", "paragraph", "--facets", "source,author,tag,year,month")
    assert data["total"] == 6 and len(data["hits"]) == 1  # paragraphs: n3 has two
    assert data["facets"] == {
        "source": {"人民日报": 2, "新华社": 2, "AFP": 1, "聯合報": 1},
        "author": {"卓玛": 2, "John Smith": 1, "次仁": 1},
        "tag": {"旅游": 2, "民生": 1},
        "year": {"2023": 3, "2022": 1, "2024": 1},
        "month": {"2023-12": 3, "2024-01": 1},
    }
    articles = search(news, "冬季", "--level", "article", "--facets", "source,year", "--source", "新华社")
    assert articles["facets"] == {"source": {"新华社": 2}, "year": {"2023": 1}}
    text = CliRunner().invoke(cli, ["--index", str(news), "search", "冬季", "--level", "paragraph", "--facets", "source"]).stdout
    assert text.splitlines()[-1] == "source: 人民日报 2, 新华社 2, AFP 1, 聯合報 1"


def test_sorting_by_date_puts_undated_articles_last_either_way(news: Path) -> None:
    by_date = ids(search(news, "冬季", "--level", "article", "--sort", "date"))
    assert by_date == ["n5", "n3", "n1", "n2", "n4"]
    assert ids(search(news, "冬季", "--level", "article", "--sort", "-date")) == ["n2", "n1", "n3", "n5", "n4"]


@pytest.mark.parametrize("sort", ["relevance", "date", "-date"])
@pytest.mark.parametrize("level", ["paragraph", "article"])
def test_pages_are_stable(news: Path, sort: str, level: str) -> None:
    whole = search(news, "冬季", "--limit", "6", "--sort", sort, "--level", level)
    for offset in range(0, 6, 2):
        page = search(news, "冬季", "--limit", "2", "--offset", str(offset), "--sort", sort, "--level", level)
        assert page["total"] == whole["total"]
        assert page["hits"] == whole["hits"][offset:offset + 2]
    assert search(news, "冬季", "--offset", "50")["hits"] == []


def test_the_api_takes_the_same_filters(news: Path) -> None:
    with SearchIndex(news) as index:
        result = index.search("冬季", source=["联合报", "AFP"], date_from="2023", facets=["year"], level="article")
        assert [h.article_id for h in result.hits] == ["n2"]
        assert result.facets == {"year": {"2024": 1}}
        with pytest.raises(QueryError, match="^unknown sort 'newest': use relevance, date or -date$"):
            index.search("冬季", sort="newest")


def test_an_index_built_before_metadata_says_reindex_in_one_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "qa", tmp_path / "qa")
    runner = CliRunner()
    plain = runner.invoke(cli, ["--index", str(tmp_path / "qa"), "search", "北京", "--json"])
    assert plain.exit_code == 0 and json.loads(plain.stdout)["total"] > 0
    for args in (["--source", "新华社"], ["--facets", "year"], ["--sort", "date"]):
        result = runner.invoke(cli, ["--index", str(tmp_path / "qa"), "search", "北京", *args])
        assert (result.exit_code, result.stderr) == (3, (
            f"Error: index at {tmp_path / 'qa'} has 2 segments written before metadata filters, facets and "
            f"sorting: run `searchkit --index {tmp_path / 'qa'} reindex` to add them\n")), args
    assert runner.invoke(cli, ["--index", str(tmp_path / "qa"), "reindex"]).exit_code == 0
    after = runner.invoke(cli, ["--index", str(tmp_path / "qa"), "search", "北京", "--facets", "year", "--json"])
    assert after.exit_code == 0
    data = json.loads(after.stdout)
    assert data["facets"] == {"year": {}} and data["total"] == json.loads(plain.stdout)["total"]


def test_metadata_survives_merges_reindex_and_moves(news: Path, tmp_path: Path) -> None:
    asked = ["冬季", "--level", "article", "--facets", "source,author,tag,year,month", "--sort", "-date", "--limit", "20"]
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "n6", "title": "夏季", "text": "夏季无雪。", "source": "新华社", "date": "2023-06"},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["--index", str(news), "index", str(more)]).exit_code == 0
    before = search(news, *asked)
    assert before["facets"]["source"] == {"新华社": 2, "AFP": 1, "人民日报": 1, "聯合報": 1}
    assert CliRunner().invoke(cli, ["--index", str(news), "optimize"]).exit_code == 0  # two segments merged into one
    assert search(news, *asked) == before
    assert CliRunner().invoke(cli, ["--index", str(news), "reindex"]).exit_code == 0
    assert search(news, *asked) == before
    assert SearchIndex.check_path(news).ok


def test_check_finds_metadata_columns_that_disagree_with_the_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from searchkit.engine.schema import KeywordsField

    real = KeywordsField.to_column_value
    monkeypatch.setattr(KeywordsField, "to_column_value", lambda self, value: real(self, [v + "x" for v in value]))
    ix = SearchIndex.create(tmp_path / "ix")
    ix.add_articles([{"id": "a", "title": "t", "text": "正文", "source": "新华社"}], workers=1)
    monkeypatch.undo()
    [segment] = [leaf.segment().segment_id() for leaf in ix.store.segment_readers()]
    assert ix.check().problems == [
        f"segment {segment}: the column of sources is damaged (it disagrees with the terms the filters read)"]


def test_an_article_matches_with_its_keywords_in_different_paragraphs_or_its_title(news: Path) -> None:
    from .conftest import SEED

    runner = CliRunner()
    seeded = Path(news).parent / "seed"
    assert runner.invoke(cli, ["--index", str(seeded), "index", "--workers", "1", str(SEED.parent)]).exit_code == 0
    articles = search(seeded, "民族团结 珠峰")
    assert (articles["total"], articles.get("partial")) == (3, None)  # no paragraph holds both: articles do
    assert search(seeded, "民族团结 珠峰", "--level", "paragraph").get("partial") is True
    # Only the title holds 升温: the article is found, with its opening paragraph and its title highlighted.
    (hit,) = search(news, "升温")["hits"]
    assert (hit["article_id"], hit["paragraph"], hit["title_highlights"]) == ("n1", 0, [[4, 6]])
    assert search(news, "升温", "--level", "paragraph").get("partial") is True
    # 游客 is in n1's second paragraph, 冬季 in its first.
    assert ids(search(news, "冬季 游客")) == ["n1"]
    assert ids(search(news, "冬季 -取暖")) and "n2" not in ids(search(news, "冬季 -取暖", "--limit", "20"))
    assert ids(search(news, "冬季 游客", "--source", "新华社")) == ["n1"]
    other = search(news, "冬季 游客", "--source", "人民日报")  # no such article there: partial matches, filtered too
    assert other["partial"] is True and {hit["source"] for hit in other["hits"]} == {"人民日报"}


def test_filtered_queries_match_a_scan_across_segments_and_deletions(tmp_path: Path) -> None:
    """Keywords, AND, OR and exclusions under each filter, at paragraph level, against a scan of the texts:
    the filters' documents are tested inside the matchers (two segments, one with deletions)."""
    import random

    rng = random.Random(23)
    authors, sources = ["甲", "乙", "丙"], ["报一", "报二"]

    def article(number: int, salt: str = "") -> dict:
        paragraphs = ["".join(rng.choice("春风明月山水花") for _ in range(rng.randint(4, 10))) + salt
                      for _ in range(rng.randint(1, 4))]
        return {"id": f"a{number}", "title": f"题{number}", "paragraphs": paragraphs, "author": authors[number % 3],
                "source": sources[number % 2], "date": f"20{10 + number % 12:02d}-0{1 + number % 9}-01"}

    records = {number: article(number) for number in range(60)}
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"

    def write(path: Path, numbers: range) -> None:
        path.write_text("".join(json.dumps(records[n], ensure_ascii=False) + "\n" for n in numbers), encoding="utf-8")

    write(first, range(30))
    write(second, range(30, 60))
    index = tmp_path / "ix"
    for path in (first, second):
        result = CliRunner().invoke(cli, ["--index", str(index), "index", "--workers", "1", str(path)])
        assert result.exit_code == 0, result.output
    for number in range(0, 30, 3):  # updated: the first segment loses their paragraphs
        records[number] = article(number, "新")
    write(first, range(30))
    result = CliRunner().invoke(cli, ["--index", str(index), "index", "--workers", "1", str(first)])
    assert result.exit_code == 0, result.output

    filters = [{"author": ["乙"]}, {"source": ["报二"]}, {"date_from": "2015", "date_to": "2019-06"},
               {"author": ["甲", "丙"], "date_from": "2012-03"}]
    queries = ["春风", "明月 山", "水花 -月", "山 -春", "风 OR 花月", "月山 -水 -花", "新", "春 -新"]

    def passes(record: dict, given: dict) -> bool:
        date = record["date"]
        return ((not given.get("author") or record["author"] in given["author"])
                and (not given.get("source") or record["source"] in given["source"])
                and (not given.get("date_from") or date >= given["date_from"])
                and (not given.get("date_to") or date[:len(given["date_to"])] <= given["date_to"]))

    def holds(text: str, query: str) -> bool:
        if " OR " in query:
            return any(holds(text, part) for part in query.split(" OR "))
        return all((word[1:] not in text) if word.startswith("-") else (word in text) for word in query.split())

    with SearchIndex(index) as ix:
        for given in filters:
            for query in queries:
                expected = {(record["id"], ordinal) for record in records.values() if passes(record, given)
                            for ordinal, text in enumerate(record["paragraphs"]) if holds(text, query)}
                result = ix.search(query, level="paragraph", limit=1000, **given)
                found = {(hit.article_id, hit.paragraph) for hit in result.hits}
                if expected:
                    assert (found, result.total, result.partial) == (expected, len(expected), False), (query, given)
                else:  # partial matches: still only what the filter lets through
                    assert all(passes(records[int(hit.article_id[1:])], given) for hit in result.hits), (query, given)


def test_an_exclusion_under_a_filter_whose_documents_come_after_every_match(tmp_path: Path) -> None:
    # Whoosh's exclusion matcher read past its end when the filter skipped it beyond its last match.
    data = tmp_path / "poems.jsonl"
    rows = [{"id": "x1", "title": "一", "text": "梅花开", "author": "乙"},
            {"id": "x2", "title": "二", "text": "山水长", "author": "甲"},
            {"id": "x3", "title": "三", "text": "雪山白", "author": "乙"}]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--index", str(tmp_path / "ix"), "index", "--workers", "1", str(data)])
    assert result.exit_code == 0, result.output
    for level in ("paragraph", "article"):
        assert search(tmp_path / "ix", "梅 -雪", "--author", "甲", "--level", level)["total"] == 0
        assert ids(search(tmp_path / "ix", "梅 -雪", "--author", "乙", "--level", level)) == ["x1"]


def test_a_title_only_article_shows_its_opening_paragraph_across_segments_updates_and_merges(tmp_path: Path) -> None:
    index = tmp_path / "ix"

    def write(name: str, records: list[dict]) -> None:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        result = CliRunner().invoke(cli, ["--index", str(index), "index", "--workers", "1", str(path)])
        assert result.exit_code == 0, result.output

    def poems(first: int, salt: str) -> list[dict]:
        return [{"id": f"p{n}", "title": f"秋思{n}", "paragraphs": [f"第{k}段{salt}水" for k in range(4)]}
                for n in range(first, first + 6)]

    write("a.jsonl", poems(0, "甲"))
    write("b.jsonl", poems(6, "乙"))
    write("a.jsonl", poems(0, "丙"))  # updated: new documents, the old ones deleted
    for optimize in (False, True):
        if optimize:
            assert CliRunner().invoke(cli, ["--index", str(index), "optimize"]).exit_code == 0
        data = search(index, "秋思", "--level", "article", "--limit", "20")
        assert data["total"] == 12
        assert {(hit["article_id"], hit["paragraph"], hit["snippet"]["text"][:2]) for hit in data["hits"]} == {
            (f"p{n}", 0, "第0") for n in range(12)}
