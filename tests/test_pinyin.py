"""Pinyin search: readings recorded per character on an index made with pinyin (searchkit/pinyin.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Article, IndexVersionError, SearchIndex
from searchkit.analysis import AnalyzerSettings
from searchkit.cli import cli
from searchkit.pinyin import describe_units, pinyin_units

from .conftest import CORPUS, SEED

ARTICLES = [
    Article(id="p1", title="山城", paragraphs=["重庆的银行很重要。", "他在长安街行走，孩子长大了。"]),
    Article(id="p2", title="登山", paragraphs=["珠穆朗玛峰，简称珠峰。", "绿色的女孩略过小路。"]),
    Article(id="p3", title="Comics", paragraphs=["Bang! The door opened.", "请帮我开门，谢谢。"]),
    *CORPUS,
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(pinyin=True))
    ix.add_articles(ARTICLES)
    return ix


def found(index: SearchIndex, query: str) -> list[tuple[str, int | None, list[str]]]:
    return [(h.article_id, h.paragraph, h.snippet.highlighted()) for h in index.search(query, level="paragraph", limit=50).hits]


def shown(text: str) -> list[str]:
    return [describe_units(units) for units in pinyin_units(text)]


def test_what_reads_as_pinyin() -> None:
    assert shown("zhufeng") == ["zhu feng"]
    assert shown("zf") == ["z* f*"]
    assert shown("zhuf") == ["zhu f*"]
    assert shown("珠feng") == ["珠 feng"]
    assert shown("zhufe") == ["zhu fe*"]
    assert shown("zhū fēng") == shown("zhu1feng1") == shown("zhu'feng") == ["zhu feng"]
    assert shown("lv") == shown("lü") == ["lv*"] and shown("nü") == ["nv*"] and shown("lue") == ["lve"]
    assert shown("changan") == ["chang an*", "chan gan*"]  # both ways to read it
    assert shown("xian") == ["xian*"] and shown("xi'an") == ["xi an*"]
    assert shown("g318") == shown("民族") == shown("8.77") == []


ZHUFENG = [("p2", 0, ["珠峰"]), ("a2", 0, ["珠峰"]), ("a2", 1, ["珠峰"])]  # a2: traditional script, 珠峰 too


@pytest.mark.parametrize("query", ["zhufeng", "zhuf", "珠feng", "zhufe", "zhu1feng1", "ZHUFENG", '"zhu feng"'])
def test_pinyin_finds_the_chinese_text_and_highlights_it(index: SearchIndex, query: str) -> None:
    assert found(index, query) == ZHUFENG


def test_initials(index: SearchIndex) -> None:
    assert found(index, "zf") == [ZHUFENG[0], ("a1", 0, ["绽放"]), *ZHUFENG[1:]]  # zhan fang too


@pytest.mark.parametrize(("query", "expected"), [
    ("chongqing", [("p1", 0, ["重庆"])]), ("zhongqing", []),
    ("zhongyao", [("p1", 0, ["重要"])]), ("chongyao", []),
    ("yinhang", [("p1", 0, ["银行"])]), ("yinxing", []),
    ("xingzou", [("p1", 1, ["行走"])]), ("hangzou", []),
    ("changan", [("p1", 1, ["长安"])]), ("zhangan", []),
    ("zhangda", [("p1", 1, ["长大"])]), ("changda", []),
])
def test_polyphones_read_as_in_their_word(index: SearchIndex, query: str, expected: list) -> None:
    assert found(index, query) == expected


def test_u_umlaut_and_tones(index: SearchIndex) -> None:
    # typed last, lv may begin lve: 略 too; 綠 is 绿
    assert found(index, "lv") == found(index, "lü") == [("p2", 1, ["绿", "略"]), ("a2", 0, ["綠"])]
    assert found(index, "nü") == [("p2", 1, ["女"])]
    assert found(index, "lue") == found(index, "lüè") == [("p2", 1, ["略"])]


def test_english_and_pinyin_both_literal_first(index: SearchIndex) -> None:
    hits = index.search("bang", level="paragraph").hits
    assert [(h.article_id, h.paragraph, h.snippet.highlighted()) for h in hits] == [
        ("p3", 0, ["Bang"]), ("p3", 1, ["帮"])]
    assert hits[1].score > 0
    men = found(index, "men")
    assert men == [("p3", 1, ["门"])]  # 门 (men); "opened" holds no "men"
    assert found(index, "door") == [("p3", 0, ["door"])]  # not pinyin: literal only


def test_exact_keywords_are_unchanged_by_pinyin(index: SearchIndex) -> None:
    plain = SearchIndex.in_memory()
    plain.add_articles(ARTICLES)
    for query in ("民族", "珠峰", "G318", "重", "行"):
        assert found(index, query) == found(plain, query)
    assert found(plain, "zhufeng") == []  # an index without pinyin reads no pinyin


def test_pinyin_is_recorded_and_added_by_reindex(tmp_path: Path) -> None:
    path = tmp_path / "ix"
    with SearchIndex.create(path) as ix:
        ix.add_articles(ARTICLES)
        assert ix.search("zhufeng").total == 0
    with pytest.raises(IndexVersionError) as refused:
        SearchIndex(path, settings=AnalyzerSettings(pinyin=True))
    assert str(refused.value) == f"index at {path} was built without pinyin: add it with `searchkit --index {path} reindex --pinyin`"
    result = CliRunner().invoke(cli, ["--index", str(path), "reindex", "--pinyin"])
    assert result.exit_code == 0, result.output
    assert json.loads((path / "searchkit.json").read_text(encoding="utf-8"))["analyzer"]["pinyin"] is True
    with SearchIndex(path) as ix:
        assert [(h.article_id, h.paragraph) for h in ix.search("zhufeng", level="paragraph").hits] == [("p2", 0), ("a2", 0), ("a2", 1)]
    SearchIndex.reindex(path, workers=1)  # keeps it
    assert SearchIndex.recorded_settings(path).pinyin is True


def test_cli_index_pinyin_and_analyze_query(tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    runner = CliRunner()
    assert runner.invoke(cli, ["--index", str(index_dir), "index", "--pinyin", str(SEED.parent)]).exit_code == 0
    result = runner.invoke(cli, ["--index", str(index_dir), "search", "rikaze", "--level", "paragraph", "--json"])
    hits = json.loads(result.stdout)["hits"]
    assert hits and all("日喀则" in h["snippet"]["text"] for h in hits)
    plan = runner.invoke(cli, ["--index", str(index_dir), "analyze", "--query", "zhuf"]).stdout
    assert "keyword 'zhuf' (text): exact on grams z h u f; or read as pinyin zhu f*\n" in plan
    assert runner.invoke(cli, ["--index", str(index_dir), "check"]).exit_code == 0


def test_a_character_without_a_reading_is_indexed_and_found_as_itself() -> None:
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(pinyin=True))
    ix.add_articles([Article(id="r", title="t", paragraphs=["春风䔫又绿江南岸。"])])  # pypinyin lists no reading of 䔫
    assert [h.snippet.highlighted() for h in ix.search("䔫", level="paragraph").hits] == [["䔫"]]
    assert [h.snippet.highlighted() for h in ix.search("chunfeng䔫", level="paragraph").hits] == [["春风䔫"]]
