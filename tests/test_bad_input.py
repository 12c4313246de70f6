"""Nothing lost in silence: bad records, missing paths, repeated ids, folders kept in sync, records from the API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Article, SearchIndex
from searchkit.cli import cli
from searchkit.errors import RecordError

from .conftest import SEED


def index_cli(index: Path, *args: str):
    return CliRunner().invoke(cli, ["--index", str(index), "index", "--workers", "1", *args])


def search_ids(index: Path, query: str) -> list[str]:
    with SearchIndex(index) as ix:
        return sorted({hit.article_id for hit in ix.search(query, limit=100).hits})


def test_every_bad_record_is_reported_and_skipped_alone(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    news = docs / "news.jsonl"
    news.write_text("\n".join([
        '{"id": "a", "title": "甲", "text": "关键词 一"}',
        '{"id": "b", "title": "乙", ',
        '{"id": "c", "title": "丙", "text": "关键词 三"}',
        '{"id": "d", "text": "关键词 四"}',
        '{"id": "e", "title": "戊", "text": "关键词 五", "date": "昨天"}',
        '{"id": "f", "title": "己", "paragraphs": ["关键词 \\ud800"]}',
        '{"id": "g", "title": "庚", "text": "关键词 七"}',
    ]) + "\n", encoding="utf-8")
    (docs / "plain.txt").write_text("标题\n\n关键词 在文本里。\n", encoding="utf-8")
    name = news.as_posix()
    result = index_cli(tmp_path / "ix", str(docs))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {name}:2: invalid JSON: Expecting property name enclosed in double quotes at column 27",
        f'error: {name}:4: missing "title"',
        f"error: {name}:5: \"date\" cannot be read as a date: '昨天' (use 2023-12-10, 2023/12/10, 2023年12月10日, 2023-12 or 2023)",
        f'error: {name}:6: "paragraphs" holds a lone surrogate U+D800, which is not valid Unicode',
    ]
    assert result.stdout == (
        "indexed: 2 added, 0 updated, 0 unchanged, 0 skipped, 0 failed, 4 failed records in 1 file "
        "(4 articles, 4 paragraphs written)\n"
    )
    assert search_ids(tmp_path / "ix", "关键词") == sorted(["a", "c", "g", (docs / "plain.txt").as_posix() + "#1"])
    # The file is not recorded as indexed: the next run reads it again and says so again.
    again = index_cli(tmp_path / "ix", str(docs))
    assert again.exit_code == 1 and len(again.stderr.splitlines()) == 4
    assert again.stdout.startswith("indexed: 1 added, 0 updated, 1 unchanged")  # it was never recorded as indexed
    assert search_ids(tmp_path / "ix", "关键词") == sorted(["a", "c", "g", (docs / "plain.txt").as_posix() + "#1"])


def test_a_repeated_id_is_a_warning_naming_both_lines_and_the_last_wins(tmp_path: Path) -> None:
    data = tmp_path / "a.jsonl"
    data.write_text('{"id": "x", "title": "旧", "text": "第一"}\n{"id": "y", "title": "他", "text": "别的"}\n'
                    '{"id": "x", "title": "新", "text": "第二"}\n', encoding="utf-8")
    result = index_cli(tmp_path / "ix", str(data))
    assert result.exit_code == 0
    assert result.stderr == f"warning: {data.as_posix()}:3: id 'x' repeats {data.as_posix()}:1; the last one is kept\n"
    with SearchIndex(tmp_path / "ix") as ix:
        assert ix.get_article("x").title == "新"
        assert ix.stats().articles == 2


def test_a_missing_path_fails_alone(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("标题\n\n珠峰景区今日开放。\n", encoding="utf-8")
    missing = tmp_path / "missing.txt"
    result = index_cli(tmp_path / "ix", str(good), str(missing))
    assert result.exit_code == 1
    assert result.stderr == f"error: no such file or directory: {missing}\n"
    assert result.stdout.startswith("indexed: 1 added, 0 updated, 0 unchanged, 0 skipped, 1 failed (1 articles")
    assert search_ids(tmp_path / "ix", "珠峰") == [good.as_posix() + "#1"]


def test_index_option_after_the_command(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["index", str(SEED.parent), "--index", str(tmp_path / "ix"), "--workers", "1"]).exit_code == 0
    after = runner.invoke(cli, ["search", "珠峰百姓名嘴", "--index", str(tmp_path / "ix"), "--json"])
    before = runner.invoke(cli, ["--index", str(tmp_path / "ix"), "search", "珠峰百姓名嘴", "--json"])
    assert after.exit_code == 0 and after.stdout == before.stdout and json.loads(after.stdout)["total"] == 1
    assert runner.invoke(cli, ["stats", "--index", str(tmp_path / "none")]).exit_code == 3


def test_the_api_takes_records_as_dicts(tmp_path: Path) -> None:
    ix = SearchIndex.in_memory()
    report = ix.add_articles([
        {"id": "r1", "title": "冬游西藏", "text": "第一段。\n\n第二段，珠峰。", "date": "2023年12月10日", "source": "西藏日报"},
        Article(id="r2", title="珠峰", paragraphs=["珠峰大本营"]),
    ], workers=1)
    assert report.articles == 2
    stored = ix.get_article("r1")
    assert (stored.paragraphs, stored.date, stored.source) == (["第一段。", "第二段，珠峰。"], "2023-12-10", "西藏日报")
    assert Article.from_dict({"title": "t", "text": "a"}) == Article(title="t", paragraphs=["a"])
    with pytest.raises(RecordError) as caught:
        ix.add_articles([{"id": "r3", "title": "好", "text": "珠峰 三"}, {"id": "r4", "text": "无题"}], workers=1)
    assert str(caught.value) == 'record 2: missing "title"'
    assert ix.get_article("r3").title == "好"  # the records before it are committed
    with pytest.raises(RecordError, match=r'^record 1: "paragraphs" must be a list of strings$'):
        ix.add_articles([{"title": "t", "paragraphs": "not a list"}])


def test_a_gone_file_is_reported_and_pruned_only_under_the_folders_given(tmp_path: Path) -> None:
    docs, other = tmp_path / "docs", tmp_path / "other"
    docs.mkdir()
    other.mkdir()
    for folder, name, word in ((docs, "a.txt", "甲文"), (docs, "b.txt", "乙文"), (other, "c.txt", "丙文")):
        (folder / name).write_text(f"标题\n\n{word}共同词。\n", encoding="utf-8")
    assert index_cli(tmp_path / "ix", str(docs), str(other)).exit_code == 0
    (docs / "b.txt").unlink()
    (other / "c.txt").unlink()
    result = index_cli(tmp_path / "ix", str(docs))
    assert result.exit_code == 0
    assert result.stderr == f"note: {(docs / 'b.txt').as_posix()} is gone (--prune removes its articles)\n"
    assert result.stdout.endswith("; 1 gone: use --prune to remove their articles\n")
    assert len(search_ids(tmp_path / "ix", "共同词")) == 3  # nothing removed without --prune
    pruned = index_cli(tmp_path / "ix", str(docs), "--prune")
    assert pruned.stdout.endswith("; 1 gone and pruned\n")
    assert search_ids(tmp_path / "ix", "共同词") == [(docs / "a.txt").as_posix() + "#1", (other / "c.txt").as_posix() + "#1"]
    assert SearchIndex.check_path(tmp_path / "ix").ok


def test_a_moved_file_keeps_its_articles_without_being_analysed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED, docs / "page.txt")
    (docs / "records.jsonl").write_text('{"title": "无编号", "text": "珠峰记录一条。"}\n', encoding="utf-8")
    assert index_cli(tmp_path / "ix", str(docs)).exit_code == 0
    with SearchIndex(tmp_path / "ix") as ix:
        before = ix.search("民族团结", limit=50)
    (docs / "moved").mkdir()
    (docs / "page.txt").rename(docs / "moved" / "page.txt")
    (docs / "records.jsonl").rename(docs / "moved" / "records.jsonl")

    from searchkit import analysis

    def no_jieba(*_args, **_kwargs):
        raise AssertionError("a moved file was analysed again")

    monkeypatch.setattr(analysis.Segmenter, "words", no_jieba)
    result = index_cli(tmp_path / "ix", str(docs))
    monkeypatch.undo()
    old, new = (docs / "page.txt").as_posix(), (docs / "moved" / "page.txt").as_posix()
    assert result.exit_code == 0, result.output
    assert f"note: {old} moved to {new}: its articles follow it" in result.stderr.splitlines()
    assert result.stdout.startswith("indexed: 0 added, 0 updated, 0 unchanged, 0 skipped, 0 failed, 2 moved")
    assert "gone" not in result.stdout
    with SearchIndex(tmp_path / "ix") as ix:
        after = ix.search("民族团结", limit=50)
        assert [(h.article_id.replace(new, old), h.paragraph, h.score, h.snippet) for h in after.hits] == [
            (h.article_id, h.paragraph, h.score, h.snippet) for h in before.hits]
        assert all(h.article_id.startswith(new + "#") for h in after.hits)
        assert [h.article_id for h in ix.search("珠峰记录").hits] == [(docs / "moved" / "records.jsonl").as_posix() + ":1"]
        assert ix.stats().articles == 8  # the page's seven and the record
        assert ix.check().ok
    assert index_cli(tmp_path / "ix", str(docs)).stdout.startswith("indexed: 0 added, 0 updated, 2 unchanged")
