"""Synonyms: the index's list, applied at query time (searchkit/synonyms.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Article, SearchIndex
from searchkit.analysis import AnalyzerSettings
from searchkit.cli import cli
from searchkit.synonyms import MAX_ALTERNATIVES, Synonyms, parse_rule, read_rules

from .conftest import CORPUS, SEED

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "indexes"

ARTICLES = [
    *CORPUS,
    Article(id="b1", title="登山季", paragraphs=[
        "珠穆朗玛峰珠穆朗玛峰，珠穆朗玛峰。",
        "今年攀登圣母峰的人越来越多。",
    ]),
    Article(id="b2", title="上海新闻", paragraphs=["上海浦东的一家公司。", "沪上今日晴。"]),
    Article(id="b3", title="珠峰日记", paragraphs=["大本营的早晨很冷。"]),
]

RULES = [
    "# mountains",
    "珠峰, 珠穆朗瑪峰, 圣母峰",
    "",
    "沪 => 上海",
]


def make_index(grams: int = 1, rules: list[str] | None = None) -> SearchIndex:
    index = SearchIndex.in_memory(settings=AnalyzerSettings(grams=grams))
    index.add_articles(ARTICLES)
    index.set_synonyms(RULES if rules is None else rules)
    return index


def scan(texts: dict[tuple[str, int], str], *needles: str) -> set[tuple[str, int]]:
    from searchkit.analysis import fold

    return {key for key, text in texts.items() if any(n in fold(text) for n in needles)}


def paragraphs() -> dict[tuple[str, int], str]:
    return {(a.id, n): text for a in ARTICLES for n, text in enumerate(a.paragraphs)}


# -- the format


def test_rules_of_each_kind() -> None:
    assert parse_rule("珠峰, 珠穆朗瑪峰 ，圣母峰") == (["珠峰", "珠穆朗玛峰", "圣母峰"], ["珠峰", "珠穆朗玛峰", "圣母峰"])
    assert parse_rule("沪 => 上海") == (["沪"], ["上海"])
    assert parse_rule("a, Ｂ => c,d") == (["a", "b"], ["c", "d"])
    assert parse_rule("冬游   西藏, 冬季旅游") == (["冬游 西藏", "冬季旅游"], ["冬游 西藏", "冬季旅游"])
    assert parse_rule("  # a comment") is None
    assert parse_rule("   ") is None


def test_malformed_lines_are_reported_with_their_numbers_and_the_rest_loads() -> None:
    kept, report = read_rules(["珠峰, 圣母峰", "珠峰", "a,,b", "=> b", "a =>", "a => b => c", "x, ？！", "上海 => 沪"], "syn.txt")
    assert kept == ["珠峰, 圣母峰", "上海 => 沪"]
    assert report.errors == [
        "syn.txt:2: a rule needs two or more terms separated by commas (a, b) or an arrow (a => b)",
        "syn.txt:3: an empty term (two commas in a row, or one at an end)",
        'syn.txt:4: nothing on the left of "=>"',
        'syn.txt:5: nothing on the right of "=>"',
        'syn.txt:6: more than one "=>"',
        "syn.txt:7: nothing to search for in the term '？！'",
    ]
    assert (report.rules, report.ok, report.summary()) == (2, False, "2 rules set, 6 malformed lines skipped")


def test_alternatives_are_not_chained_and_one_way_rules_stay_one_way() -> None:
    table = Synonyms(["a, b", "b, c", "x => y", "x => z, y"])
    assert table.alternatives("a") == (["b"], 1)
    assert table.alternatives("b") == (["a", "c"], 2)
    assert table.alternatives("c") == (["b"], 1)
    assert table.alternatives("x") == (["y", "z"], 2)
    assert table.alternatives("y") == ([], 0)


# -- searching


@pytest.mark.parametrize("grams", [1, 2])
def test_a_keyword_finds_exactly_the_paragraphs_holding_any_alternative(grams: int) -> None:
    index = make_index(grams)
    found = {(h.article_id, h.paragraph) for h in index.search("珠峰", level="paragraph", limit=100).hits}
    assert found == scan(paragraphs(), "珠峰", "珠穆朗玛峰", "圣母峰")
    assert found == {("a2", 0), ("a2", 1), ("b1", 0), ("b1", 1)}
    # the traditional spelling in the list, in the query, in the text: one term
    assert {(h.article_id, h.paragraph) for h in index.search("珠穆朗瑪峰", level="paragraph", limit=100).hits} == found
    # without the list: as typed only
    plain = index.search("珠峰", level="paragraph", limit=100, synonyms=False)
    assert {(h.article_id, h.paragraph) for h in plain.hits} == scan(paragraphs(), "珠峰")


def test_one_way_rule() -> None:
    index = make_index()
    assert {(h.article_id, h.paragraph) for h in index.search("沪", level="paragraph").hits} == {("b2", 0), ("b2", 1)}
    assert {(h.article_id, h.paragraph) for h in index.search("上海", level="paragraph").hits} == {("b2", 0)}


def test_highlights_land_on_the_alternative_that_matched() -> None:
    index = make_index()
    hits = {(h.article_id, h.paragraph): h for h in index.search("珠峰", level="paragraph", limit=100).hits}
    assert hits["b1", 1].snippet.highlighted() == ["圣母峰"]
    assert hits["b1", 0].snippet.highlighted() == ["珠穆朗玛峰", "珠穆朗玛峰", "珠穆朗玛峰"]
    assert hits["a2", 0].snippet.highlighted() == ["珠峰"]
    article = {h.article_id: h for h in index.search("圣母峰").hits}
    assert article["b3"].title_highlights == [(0, 2)]  # 珠峰日记: its title holds a synonym


def test_hits_with_the_keyword_as_typed_rank_first() -> None:
    index = make_index()
    hits = index.search("珠峰", level="paragraph", limit=100).hits
    order = [(h.article_id, h.paragraph) for h in hits]
    assert order[:2] == [("a2", 1), ("a2", 0)]  # they hold 珠峰 itself
    assert set(order[2:]) == {("b1", 0), ("b1", 1)}
    assert min(h.score for h in hits[2:]) > max(h.score for h in hits[:2])  # an order, not a score
    articles = [h.article_id for h in index.search("珠峰", limit=100).hits]
    assert articles[:2] in (["a2", "b3"], ["b3", "a2"]) and articles[2:] == ["b1"]  # b3's title holds 珠峰
    # by date, the order is the date's: the tiers are for relevance only
    assert index.search("珠峰", sort="date", limit=100).total == 3


def test_excluded_title_and_quoted_keywords_are_expanded_too() -> None:
    index = make_index()
    assert {h.article_id for h in index.search("峰 -珠峰", limit=100).hits} == set()
    assert {h.article_id for h in index.search("峰 -珠峰", limit=100, synonyms=False).hits} == {"b1"}
    assert {h.article_id for h in index.search("title:上海 公司").hits} == {"b2"}
    assert {h.article_id for h in index.search('"沪"', level="paragraph").hits} == {"b2"}


def test_expansion_is_capped_with_a_note() -> None:
    terms = [f"词{n}" for n in range(12)]
    index = make_index(rules=[", ".join(["珠峰", *terms])])
    result = index.search("珠峰", level="paragraph")
    assert result.notes == [f"synonyms of '珠峰': used the first {MAX_ALTERNATIVES} of 12"]
    plan = index.explain("珠峰")
    assert plan.keywords[0].synonyms == terms[:MAX_ALTERNATIVES]


def test_explain_shows_the_expansion() -> None:
    index = make_index()
    plan = index.explain("珠峰 沪").to_json()
    assert [(k["keyword"], k.get("synonyms")) for k in plan["keywords"]] == [
        ("珠峰", ["珠穆朗玛峰", "圣母峰"]), ("沪", ["上海"])]
    assert "synonyms" not in index.explain("民族").to_json()["keywords"][0]
    assert "synonyms" not in index.explain("珠峰", synonyms=False).to_json()["keywords"][0]


def test_changing_the_list_needs_no_reindex(tmp_path: Path) -> None:
    path = tmp_path / "ix"
    with SearchIndex.create(path) as index:
        index.add_articles(ARTICLES)
        segments = sorted(p.name for p in path.iterdir() if p.name != "searchkit.json")
        other = SearchIndex(path)
        assert other.search("沪", level="paragraph").total == 1
        assert index.set_synonyms(["沪 => 上海"]).rules == 1
        assert other.search("沪", level="paragraph").total == 2  # another open index sees it
        assert sorted(p.name for p in path.iterdir() if p.name != "searchkit.json") == segments
        assert SearchIndex(path).synonyms() == ["沪 => 上海"]
        assert index.clear_synonyms() == 1
        assert other.search("沪", level="paragraph").total == 1
        assert index.synonyms() == [] and index.clear_synonyms() == 0
        assert "synonyms" not in json.loads((path / "searchkit.json").read_text(encoding="utf-8"))
        other.close()


def test_reindex_keeps_the_list(tmp_path: Path) -> None:
    path = tmp_path / "ix"
    with SearchIndex.create(path) as index:
        index.add_articles(ARTICLES)
        index.set_synonyms(RULES)
    SearchIndex.reindex(path, workers=1)
    with SearchIndex(path) as index:
        assert index.synonyms() == ["珠峰, 珠穆朗瑪峰, 圣母峰", "沪 => 上海"]
        assert index.search("沪", level="paragraph").total == 2


def test_an_old_index_has_none_and_takes_a_list_without_changing_its_version(tmp_path: Path) -> None:
    copy = tmp_path / "seed"
    shutil.copytree(FIXTURES / "seed", copy)
    before = json.loads((copy / "searchkit.json").read_text(encoding="utf-8"))
    with SearchIndex(copy) as index:
        assert index.synonyms() == []
        total = index.search("旅游", level="paragraph").total
        index.set_synonyms(["旅游, 游客"])
        assert index.search("旅游", level="paragraph").total == total + 4
        assert index.schema_version == before["schema_version"]
    after = json.loads((copy / "searchkit.json").read_text(encoding="utf-8"))
    assert after == {**before, "synonyms": ["旅游, 游客"]}
    assert SearchIndex.check_path(copy).ok


# -- the CLI


def run(index_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["--index", str(index_dir), *args], catch_exceptions=False)


def test_cli_sets_shows_clears_and_reports_bad_lines(tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    assert run(index_dir, "index", str(SEED.parent)).exit_code == 0
    listing = tmp_path / "syn.txt"
    listing.write_text("珠峰, 珠穆朗瑪峰\n旅游\n旅游, 游客\n", encoding="utf-8")
    result = run(index_dir, "synonyms", str(listing))
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "synonyms: 2 rules set, 1 malformed line skipped\n",
        f"error: {listing}:2: a rule needs two or more terms separated by commas (a, b) or an arrow (a => b)\n")
    result = run(index_dir, "synonyms", "--show")
    assert (result.exit_code, result.stdout) == (0, "珠峰, 珠穆朗瑪峰\n旅游, 游客\n")
    query = run(index_dir, "analyze", "--query", "旅游")
    assert "keyword '旅游' (text): exact on grams 旅 游; words 旅游; or its synonyms 游客\n" in query.stdout
    with_list = run(index_dir, "search", "旅游", "--level", "paragraph", "--json")
    without = run(index_dir, "search", "旅游", "--level", "paragraph", "--json", "--no-synonyms")
    assert json.loads(with_list.stdout)["total"] == json.loads(without.stdout)["total"] + 4
    result = run(index_dir, "synonyms", "--clear")
    assert (result.exit_code, result.stdout) == (0, "synonyms: 2 rules removed\n")
    assert run(index_dir, "synonyms", "--show").stdout == ""


def test_cli_refuses_bad_usage_and_missing_files_in_one_line(tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    assert run(index_dir, "index", str(SEED.parent)).exit_code == 0
    for args in ((), ("--show", "--clear"), ("x.txt", "--show")):
        result = run(index_dir, "synonyms", *args)
        assert (result.exit_code, result.stderr) == (2, "Error: synonyms takes FILE, --show or --clear (one of them)\n")
    result = run(index_dir, "synonyms", str(tmp_path / "none.txt"))
    assert (result.exit_code, result.stderr) == (1, f"Error: {tmp_path / 'none.txt'}: cannot read (No such file or directory)\n")
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("旅游, 游客\n".encode("gb18030"))
    assert run(index_dir, "synonyms", str(gbk)).stdout == "synonyms: 1 rule set\n"
