from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit.cli import cli

from .conftest import SEED


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, index_dir: Path, *args: str, stdin: str | bytes | None = None):
    return runner.invoke(cli, ["--index", str(index_dir), *args], input=stdin, catch_exceptions=False)


@pytest.fixture()
def seeded(runner: CliRunner, tmp_path: Path) -> Path:
    index_dir = tmp_path / "ix"
    result = run(runner, index_dir, "index", str(SEED.parent))
    assert result.exit_code == 0, result.output
    return index_dir


def test_index_seeds_and_search_highlighted(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, seeded, "search", "民族团结", "--limit", "1")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "3 results for '民族团结' (showing 1)"  # articles, by default
    paragraphs = run(runner, seeded, "search", "民族团结", "--limit", "1", "--level", "paragraph").stdout
    assert paragraphs.splitlines()[0] == "13 results for '民族团结' (showing 1)"
    assert lines[2].startswith("1. 让民族团结之花绚丽绽放  [")
    assert lines[3] == "   扎西顿珠"  # date, source and authors, as far as known
    assert "[民族团结]" in lines[4]


@pytest.mark.parametrize(
    ("query", "highlight"),
    [("民族团结", "民族团结"), ("珠峰", "珠峰"), ("日喀則", "日喀则"), ('"冬游西藏"', "冬游西藏"), ("快速通关", "快速通关")],
)
def test_done_when_queries(runner: CliRunner, seeded: Path, query: str, highlight: str) -> None:
    result = run(runner, seeded, "search", query, "--json")
    data = json.loads(result.stdout)
    assert data["query"] == query
    assert data["total"] >= 1
    for hit in data["hits"]:
        spans = hit["snippet"]["highlights"]
        assert highlight in [hit["snippet"]["text"][s:e] for s, e in spans]


def test_json_contract(runner: CliRunner, seeded: Path) -> None:
    data = json.loads(run(runner, seeded, "search", "快速通关", "--json").stdout)
    assert set(data) == {"query", "total", "hits"}
    (hit,) = data["hits"]
    assert set(hit) == {"article_id", "paragraph", "title", "title_highlights", "score", "snippet", "date", "source",
                        "authors", "tags", "path"}
    assert (hit["path"], hit["source"], hit["date"], hit["tags"]) == (SEED.as_posix(), None, None, [])
    assert hit["authors"] == ["汪纯", "贺烈烈"]
    assert hit["article_id"] == f"{SEED.as_posix()}#7"
    assert hit["paragraph"] == 2
    assert hit["title"] == "踔厉奋发担使命 倾情服务暖民心"
    text = hit["snippet"]["text"]
    assert [text[s:e] for s, e in hit["snippet"]["highlights"]] == ["快速通关"]
    article = json.loads(run(runner, seeded, "search", "快速通关", "--json", "--level", "article").stdout)
    assert article["hits"][0]["paragraph"] == 2


def test_batch_queries_from_stdin(runner: CliRunner, seeded: Path) -> None:
    result = run(runner, seeded, "search", "-", "--limit", "2", stdin="珠峰\n民族团结\n\n")
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert [json.loads(line)["query"] for line in lines] == ["珠峰", "民族团结", ""]
    assert json.loads(lines[2])["error"] == "empty query"
    assert result.stderr == "error: empty query\n"
    assert result.exit_code == 1


def test_optimize(runner: CliRunner, seeded: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.txt"
    extra.write_text("民族团结一家亲。\n", encoding="utf-8")
    assert run(runner, seeded, "index", str(extra)).exit_code == 0
    searched = run(runner, seeded, "search", "民族团结", "--json").stdout
    result = run(runner, seeded, "optimize")
    assert (result.exit_code, result.stdout) == (0, "optimized: 2 segments merged into 1\n")
    assert json.loads(run(runner, seeded, "stats", "--json").stdout)["segments"] == 1
    assert run(runner, seeded, "search", "民族团结", "--json").stdout == searched
    result = run(runner, seeded, "optimize")
    assert (result.exit_code, result.stdout) == (0, "optimized: 1 segment, nothing deleted: nothing to merge\n")
    missing = run(runner, tmp_path / "none", "optimize")
    assert missing.exit_code == 3
    assert missing.stderr == f"Error: no index at {tmp_path / 'none'}: build one with `searchkit --index {tmp_path / 'none'} index PATH`\n"


def test_list_show_stats(runner: CliRunner, seeded: Path) -> None:
    listing = json.loads(run(runner, seeded, "list", "--json").stdout)
    assert [a["title"] for a in listing] == [
        "让民族团结之花绚丽绽放",
        "日喀则市开展“九项行动” 深化主题教育",
        "演绎乡音乡情 宣讲入脑入心",
        "培训乡镇医保专干和医保工作人员",
        "对辖区重点场所开展消防安全大检查",
        "日喀则市应急管理局在日喀则市第三高级中学开展安全宣传进校园活动",
        "踔厉奋发担使命 倾情服务暖民心",
    ]
    assert listing[0] == {
        "article_id": f"{SEED.as_posix()}#1",
        "title": "让民族团结之花绚丽绽放",
        "date": None,
        "source": None,
        "authors": ["扎西顿珠"],
        "tags": [],
        "path": SEED.as_posix(),
        "paragraphs": 17,
    }
    shown = run(runner, seeded, "show", f"{SEED.as_posix()}#7")
    assert shown.exit_code == 0
    assert shown.stdout.splitlines()[0] == "踔厉奋发担使命 倾情服务暖民心"
    assert "author: 汪纯 贺烈烈" in shown.stdout
    assert "(line " in shown.stdout
    stats = json.loads(run(runner, seeded, "stats", "--json").stdout)
    assert (stats["articles"], stats["paragraphs"], stats["sources"]) == (7, 43, 1)


def test_reindex_is_idempotent_and_detects_changes(runner: CliRunner, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("第一篇\n\n珠峰景区今日开放。\n", encoding="utf-8")
    (docs / "b.txt").write_text("第二篇\n\n民族团结之花。\n", encoding="utf-8")
    ix = tmp_path / "ix"
    first = run(runner, ix, "index", str(docs))
    assert first.stdout == "indexed: 2 added, 0 updated, 0 unchanged, 0 skipped, 0 failed (2 articles, 2 paragraphs written)\n"
    again = run(runner, ix, "index", str(docs))
    assert again.stdout == "indexed: 0 added, 0 updated, 2 unchanged, 0 skipped, 0 failed (0 articles, 0 paragraphs written)\n"
    (docs / "a.txt").write_text("第一篇\n\n珠峰大本营。\n\n冬游西藏。\n", encoding="utf-8")
    changed = run(runner, ix, "index", str(docs))
    assert changed.stdout == "indexed: 0 added, 1 updated, 1 unchanged, 0 skipped, 0 failed (1 articles, 2 paragraphs written)\n"
    assert json.loads(run(runner, ix, "search", "景区", "--json").stdout)["total"] == 0
    assert json.loads(run(runner, ix, "search", "冬游西藏", "--json").stdout)["total"] == 1
    removed = run(runner, ix, "remove", str(docs / "a.txt"))
    assert removed.stdout == "removed 1 article (%s)\n" % (docs / "a.txt")
    assert json.loads(run(runner, ix, "search", "冬游西藏", "--json").stdout)["total"] == 0
    assert json.loads(run(runner, ix, "stats", "--json").stdout)["articles"] == 1
    readded = run(runner, ix, "index", str(docs))
    assert readded.stdout.startswith("indexed: 1 added, 0 updated, 1 unchanged")


def test_bad_files_fail_alone(runner: CliRunner, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("好文章\n\n珠峰景区今日开放。\n", encoding="utf-8")
    (docs / "bad.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (docs / "empty.txt").write_bytes(b"")
    result = run(runner, tmp_path / "ix", "index", str(docs))
    assert result.exit_code == 1
    assert result.stdout == "indexed: 1 added, 0 updated, 0 unchanged, 1 skipped, 1 failed (1 articles, 1 paragraphs written)\n"
    assert result.stderr.splitlines() == [
        f"note: {(docs / 'empty.txt').as_posix()}: empty file, skipped",
        f"error: {(docs / 'bad.txt').as_posix()}: binary file, not text",
    ]
    assert json.loads(run(runner, tmp_path / "ix", "search", "珠峰", "--json").stdout)["total"] == 1


def test_jsonl_from_stdin(runner: CliRunner, tmp_path: Path) -> None:
    records = [
        {"id": "r1", "title": "甲", "paragraphs": ["  保留原样  ", "第二段"]},
        {"id": "r2", "title": "乙", "text": "一段。\n\n二段。", "author": "某人"},
    ]
    stdin = "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"
    result = run(runner, tmp_path / "ix", "index", "-", stdin=stdin)
    assert result.exit_code == 0, result.output
    shown = json.loads(run(runner, tmp_path / "ix", "show", "r1", "--json").stdout)
    assert shown["paragraphs"] == ["  保留原样  ", "第二段"]
    assert json.loads(run(runner, tmp_path / "ix", "show", "r2", "--json").stdout)["paragraphs"] == ["一段。", "二段。"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("search", "珠峰"), 3, "Error: no index at {ix}: build one with `searchkit --index {ix} index PATH`\n"),
        (("list",), 3, "Error: no index at {ix}: build one with `searchkit --index {ix} index PATH`\n"),
    ],
)
def test_missing_index(runner: CliRunner, tmp_path: Path, args, code: int, message: str) -> None:
    ix = tmp_path / "nothing"
    result = run(runner, ix, *args)
    assert result.exit_code == code
    assert result.stderr == message.format(ix=ix)
    assert not ix.exists()


def test_error_messages(runner: CliRunner, seeded: Path, tmp_path: Path) -> None:
    cases = [
        (("search", ""), 2, "Error: empty query\n"),
        (("search", "。。"), 2, "Error: nothing to search for in query '。。'\n"),
        (("search", "-珠峰"), 2, "Error: a query needs at least one keyword that is not excluded with -\n"),
        (("show", "nope"), 1, "Error: no article with id 'nope'\n"),
        (("remove", "nope"), 1, "Error: no article or indexed file 'nope'\n"),
        (("index", str(tmp_path / "missing")), 1, f"error: no such file or directory: {tmp_path / 'missing'}\n"),
    ]
    for args, code, message in cases:
        result = run(runner, seeded, *args)
        assert (result.exit_code, result.stderr) == (code, message), args


def test_foreign_directory_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    result = run(runner, tmp_path, "index", str(SEED))
    assert result.exit_code == 3
    assert result.stderr == f"Error: {tmp_path} is not a searchkit index (it holds other files): choose an empty or new directory\n"
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_version_mismatch(runner: CliRunner, seeded: Path) -> None:
    meta = seeded / "searchkit.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["schema_version"] = 99
    meta.write_text(json.dumps(data), encoding="utf-8")
    result = run(runner, seeded, "search", "珠峰")
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: index at {seeded} has schema version 99, this searchkit reads 1, 2, 3 or 4: "
        f"rebuild it with `searchkit --index {seeded} reindex`\n"
    )


def test_analyze(runner: CliRunner, tmp_path: Path) -> None:
    # No index at DIR: the default analyzer.
    result = runner.invoke(cli, ["--index", str(tmp_path / "none"), "analyze", "民族團結ＧＰＳ", "--json"])
    data = json.loads(result.stdout)
    assert data["normalized"] == "民族团结gps"
    assert [(t["text"], t["position"], t["start"], t["end"]) for t in data["tokens"]] == [
        ("民族", 0, 0, 2),
        ("团结", 1, 2, 4),
        ("民族团结", 2, 0, 4),
        ("gps", 3, 4, 7),
    ]
    assert data["grams"] == ["民", "族", "团", "结", "g", "p", "s"]
    assert not (tmp_path / "none").exists()


def test_analyze_uses_the_index_analyzer(runner: CliRunner, tmp_path: Path) -> None:
    assert run(runner, tmp_path / "bigrams", "index", "--grams", "2", str(SEED.parent)).exit_code == 0
    data = json.loads(run(runner, tmp_path / "bigrams", "analyze", "民族团结", "--json").stdout)
    assert data["grams"] == ["民", "民族", "族", "族团", "团", "团结", "结"]


def test_analyze_query_shows_what_a_search_does_on_the_index(runner: CliRunner, seeded: Path) -> None:
    from searchkit import SearchIndex

    result = run(runner, seeded, "analyze", "--query", "--json", "title:珠峰 快速通关 民族团结")
    data = json.loads(result.stdout)
    assert data["keywords"] == [
        {"keyword": "珠峰", "field": "title", "grams": ["珠", "峰"], "words": []},
        {"keyword": "快速通关", "field": "text", "grams": ["快", "速", "通", "关"], "words": ["快速", "通关"]},
        {"keyword": "民族团结", "field": "text", "grams": ["民", "族", "团", "结"], "words": ["民族团结"]},
    ]
    with SearchIndex(seeded) as index:
        searcher = index.searcher()

        def frequency(word: str) -> int:
            return sum(searcher.doc_frequency(field, word) for field in ("words", "title_words"))

        expected = [{"word": w, "doc_frequency": frequency(w)} for w in ["快速", "通关", "民族团结", "民族", "团结"]]
    assert data["ranking_words"] == expected
    assert expected[2]["doc_frequency"] > expected[0]["doc_frequency"] > 0
    text = run(runner, seeded, "analyze", "--query", "快速通关").stdout.splitlines()
    assert text[1] == "keyword '快速通关' (text): exact on grams 快 速 通 关; words 快速 通关"
    assert text[2] == f"ranking words (document frequency in text + titles): 快速 ({expected[0]['doc_frequency']})  通关 ({expected[1]['doc_frequency']})"
    filtered = run(runner, seeded, "analyze", "--query", "快速通关 source:新华社 date:2023-12..2024").stdout.splitlines()
    assert filtered[3:] == ["filter: source is 新华社", "filter: date from 2023-12 to 2024"]


def test_analyze_query_needs_an_index(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["--index", str(tmp_path / "none"), "analyze", "--query", "珠峰"])
    assert (result.exit_code, result.stderr) == (
        3, f"Error: no index at {tmp_path / 'none'}: build one with `searchkit --index {tmp_path / 'none'} index PATH`\n")


def test_grams_are_chosen_for_a_new_index_and_kept(runner: CliRunner, tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    assert run(runner, index_dir, "index", "--grams", "2", str(SEED)).exit_code == 0

    def grams() -> int:
        return json.loads(run(runner, index_dir, "stats", "--json").stdout)["analyzer"]["grams"]

    assert grams() == 2
    assert run(runner, index_dir, "index", "--grams", "2", str(SEED)).exit_code == 0  # the same: carries on
    refused = run(runner, index_dir, "index", "--grams", "1", str(SEED))
    assert refused.exit_code == 3
    assert refused.output == (
        f"Error: index at {index_dir} was built with grams=2: "
        f"rebuild it with `searchkit --index {index_dir} reindex --grams 1` to change that\n"
    )
    assert run(runner, index_dir, "reindex", "--workers", "1").exit_code == 0
    assert grams() == 2  # reindex keeps the index's own choice ...
    assert run(runner, index_dir, "reindex", "--workers", "1", "--grams", "1").exit_code == 0
    assert grams() == 1  # ... unless told
    result = run(runner, index_dir, "search", "民族团结", "--limit", "1", "--level", "paragraph")
    assert result.stdout.splitlines()[0] == "13 results for '民族团结' (showing 1)"


def test_every_error_carries_a_documented_exit_code() -> None:
    import searchkit.errors as errors

    kinds = [getattr(errors, name) for name in errors.__all__ if isinstance(getattr(errors, name), type)]
    assert len(kinds) == 14
    assert {kind.__name__: kind.exit_code for kind in kinds} == {
        "SearchkitError": 1, "IndexNotFoundError": 3, "IndexVersionError": 3, "CorruptIndexError": 3,
        "IndexLockedError": 4, "ArticleNotFoundError": 1, "QueryError": 2, "ReaderError": 1,
        "UnreadableFileError": 1, "RecordError": 1, "EmptySourceError": 1, "IndexWriteError": 5,
        "ShardUnavailableError": 3, "DistributedExtraError": 1,
    }
    assert all(kind.exit_code in errors.EXIT_CODES for kind in kinds)
