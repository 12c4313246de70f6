"""A user dictionary: the index's own words for its private segmenter (searchkit/dictionary.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Article, IndexVersionError, SearchIndex
from searchkit.analysis import AnalyzerSettings, Segmenter, fold
from searchkit.cli import cli
from searchkit.dictionary import changed_words, parse_entry, read_entries
from searchkit.engine import recorded_words

from .conftest import CORPUS, SEED

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "indexes"
ARTICLES = [*CORPUS, Article(id="a4", title="西藏新闻", paragraphs=["冬游西藏的人多了。", "今天天气很好。"])]
WORDS = ["邊境管理支隊 nt", "冬游西藏", "平民族 1000"]


def words_by_paragraph(index: SearchIndex) -> dict[tuple[str, int], list[list[str]]]:
    searcher = index.searcher()
    found = {}
    for docnum in searcher.document_numbers(kind="paragraph"):
        fields = searcher.stored_fields(docnum)
        found[fields["article_id"], fields["ordinal"]] = recorded_words(searcher, docnum)
    return found


def texts() -> dict[tuple[str, int], str]:
    return {(a.id, n): text for a in ARTICLES for n, text in enumerate(a.paragraphs)}


def cut(text: str, dictionary: list[str] | None = None) -> list[str]:
    entries = read_entries(dictionary or [], "")[1]
    from searchkit.analysis import dictionary_hash

    segmenter = Segmenter(AnalyzerSettings(dictionary=dictionary_hash(entries)), entries)
    return [word for word, _start, _end in segmenter.words(fold(text))]


# -- the format


def test_entries_and_malformed_lines() -> None:
    assert parse_entry("邊境管理支隊 20 NT") == ("边境管理支队", 20, "nt")
    assert parse_entry("冬游西藏") == ("冬游西藏", None, None)
    assert parse_entry("冬游西藏 ns") == ("冬游西藏", None, "ns")
    assert parse_entry("# comment") is None and parse_entry("  ") is None
    kept, entries, report = read_entries(["a 1 n", "b 1 n x", "c 2.5", "？？", "d n1", "a 3"], "d.txt")
    assert kept == ["a 1 n", "a 3"]
    assert entries == [("a", 3, None)]  # the last line of a word wins
    assert report.errors == [
        "d.txt:2: expected a word, then optionally a frequency and a tag (a word holds no white space)",
        "d.txt:3: '2.5' is not a frequency (a whole number) nor a tag (letters)",
        "d.txt:4: nothing to segment in the word '？？'",
        "d.txt:5: 'n1' is not a frequency (a whole number) nor a tag (letters)",
    ]
    assert changed_words([("a", 1, None), ("b", None, None)], [("a", 2, None), ("c", None, None), ("b", None, None)]) == {"a", "c"}


# -- segmentation


def test_words_go_to_the_index_s_own_segmenter_only() -> None:
    import jieba

    index = SearchIndex.in_memory()
    index.add_articles(ARTICLES)
    before = cut("第六轮冬游西藏")
    index.set_dictionary(WORDS)
    assert [t.text for t in index.analyze("第六轮冬游西藏").tokens] == ["第六", "六轮", "第六轮", "西藏", "冬游西藏"]
    assert cut("第六轮冬游西藏") == before  # a segmenter without the dictionary is as it was
    assert "冬游西藏" not in jieba.dt.FREQ  # jieba's global tokenizer is untouched (and never loaded here)
    assert SearchIndex.in_memory().analyze("第六轮冬游西藏").tokens[3].text == "冬游"


def test_exact_keywords_find_the_same_paragraphs_with_or_without_a_dictionary() -> None:
    index = SearchIndex.in_memory()
    index.add_articles(ARTICLES)
    keywords = sorted({text[i:i + size] for text in texts().values() for size in (1, 2, 3) for i in range(len(text) - size + 1)
                       if any(c.isalnum() for c in text[i:i + size])})
    def answers() -> list[set[tuple[str, int | None]]]:
        return [{(h.article_id, h.paragraph) for h in index.search(k, level="paragraph", limit=100).hits} for k in keywords]

    before = answers()
    index.set_dictionary(WORDS)
    assert answers() == before
    assert len(keywords) > 200


def test_only_paragraphs_holding_a_changed_word_are_analysed_again(tmp_path: Path) -> None:
    path = tmp_path / "ix"
    with SearchIndex.create(path) as index:
        index.add_articles(ARTICLES)
        before = words_by_paragraph(index)
        report = index.set_dictionary(WORDS)
        assert (report.words, report.changed, report.paragraphs, report.titles, report.articles) == (3, 3, 3, 2, 3)
        assert report.summary() == "3 words set; 3 words changed: 3 paragraphs and 2 titles re-analysed (3 articles)"
        after = words_by_paragraph(index)
    holding = {key for key, text in texts().items() if any(w in fold(text) for w in ("边境管理支队", "冬游西藏", "平民族"))}
    assert holding == {("a3", 0), ("a3", 1), ("a4", 0)}
    for key, (text_words, title_words) in after.items():
        if key not in holding:
            assert text_words == before[key][0], key  # recorded words kept, not cut again
    assert after["a3", 1][0] == cut("和平民族团体在此聚会。", WORDS) != before["a3", 1][0]
    assert after["a2", 0][1] == cut("日喀則邊境管理支隊", WORDS) != before["a2", 0][1]  # its title held a word
    assert "边境管理支队" in after["a2", 0][1] and after["a2", 0][0] == before["a2", 0][0]
    assert after["a3", 0][1] == ["西藏", "冬游西藏"]
    # the same as analysing everything again
    SearchIndex.reindex(path, workers=1)
    with SearchIndex(path) as index:
        assert words_by_paragraph(index) == after
        assert index.dictionary() == WORDS
        assert index.search("冬游西藏").hits[0].article_id in {"a3", "a4"}


def test_the_index_records_its_dictionary(tmp_path: Path) -> None:
    path = tmp_path / "ix"
    with SearchIndex.create(path) as index:
        index.add_articles(ARTICLES)
        stale = SearchIndex(path)
        index.set_dictionary(WORDS)
    meta = json.loads((path / "searchkit.json").read_text(encoding="utf-8"))
    assert meta["dictionary"] == WORDS and len(meta["analyzer"]["dictionary"]) == 16
    with pytest.raises(IndexVersionError) as refused:
        SearchIndex(path, settings=AnalyzerSettings())
    assert str(refused.value) == (
        f"index at {path} was segmented with another user dictionary: open it with the settings it records, "
        f"or change its dictionary with `searchkit --index {path} dictionary FILE`")
    with pytest.raises(IndexVersionError) as refused:  # opened before the change: it would write another cut
        stale.add_article(Article(id="a5", title="冬游西藏", paragraphs=["冬游西藏"]))
    assert str(refused.value) == (
        f"index at {path} changed its analyzer settings (its user dictionary) since it was opened here: open it again")
    stale.close()
    with SearchIndex(path) as index:
        index.add_article(Article(id="a5", title="t", paragraphs=["冬游西藏"]))
        assert words_by_paragraph(index)["a5", 0][0] == ["西藏", "冬游西藏"]
        report = index.clear_dictionary()
        assert (report.words, report.changed, report.paragraphs) == (0, 3, 4)
    meta = json.loads((path / "searchkit.json").read_text(encoding="utf-8"))
    assert "dictionary" not in meta and "dictionary" not in meta["analyzer"]


def test_an_interrupted_change_is_reported_and_completed_next_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ix"
    with SearchIndex.create(path) as index:
        index.add_articles(ARTICLES)
        before = words_by_paragraph(index)

    def interrupted(self, words):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(SearchIndex, "_reanalyse", interrupted)
    with SearchIndex(path) as index, pytest.raises(KeyboardInterrupt):
        index.set_dictionary(WORDS)
    monkeypatch.undo()
    report = SearchIndex.check_path(path)
    assert report.problems == [(
        f"index at {path} is part way through a change of its user dictionary: set it again with "
        f"`searchkit --index {path} dictionary FILE` (or rebuild it with `searchkit --index {path} reindex`)")]
    with SearchIndex(path) as index:
        assert words_by_paragraph(index) == before
        report = index.set_dictionary(WORDS)  # the same words: nothing changed but what was left to do
        assert (report.changed, report.paragraphs) == (3, 3)
        assert words_by_paragraph(index)["a3", 1][0] == cut("和平民族团体在此聚会。", WORDS)
    assert SearchIndex.check_path(path).ok


def test_an_old_index_takes_a_dictionary(tmp_path: Path) -> None:
    copy = tmp_path / "seed"
    shutil.copytree(FIXTURES / "seed", copy)
    with SearchIndex(copy) as index:
        assert index.dictionary() == []
        total = index.search("冬游西藏", level="paragraph").total
        report = index.set_dictionary(["冬游西藏"])
        assert report.paragraphs == total
        assert index.search("冬游西藏", level="paragraph").total == total
    assert SearchIndex.check_path(copy).ok


# -- the CLI


def run(index_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["--index", str(index_dir), *args], catch_exceptions=False)


def test_cli_sets_shows_clears_and_analyze_keeps_words_whole(tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    assert run(index_dir, "index", str(SEED.parent)).exit_code == 0
    listing = tmp_path / "words.txt"
    listing.write_text("冬游西藏 5\n冬游 西藏 5 n\n", encoding="utf-8")
    result = run(index_dir, "dictionary", str(listing))
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, ("dictionary: 1 word set, 1 malformed line skipped; 1 word changed: 1 paragraph and 0 titles re-analysed "
            "(1 article)\n"),
        f"error: {listing}:2: expected a word, then optionally a frequency and a tag (a word holds no white space)\n")
    assert run(index_dir, "dictionary", "--show").stdout == "冬游西藏 5\n"
    tokens = json.loads(run(index_dir, "analyze", "第六轮冬游西藏", "--json").stdout)["tokens"]
    assert "冬游西藏" in [t["text"] for t in tokens] and "冬游" not in [t["text"] for t in tokens]
    result = run(index_dir, "dictionary", "--clear")
    assert result.stdout == "dictionary: 0 words set; 1 word changed: 1 paragraph and 0 titles re-analysed (1 article)\n"
    assert run(index_dir, "dictionary", "--show").stdout == ""
    result = run(index_dir, "dictionary")
    assert (result.exit_code, result.stderr) == (2, "Error: dictionary takes FILE, --show or --clear (one of them)\n")
    assert run(index_dir, "check").exit_code == 0
