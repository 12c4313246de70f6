"""The index on disk: segments, merges, searchers that follow commits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from searchkit import Article, OptimizeReport, SearchIndex
from searchkit.engine import RANKING_WORDS_FIELD
from tests.conftest import CORPUS, postings_codec


def batch(number: int) -> list[Article]:
    return [
        Article(id=f"b{number}-{i}", title=f"标题{number}{i}", paragraphs=[f"第{number}批第{i}段文字。"])
        for i in range(3)
    ]


def hit_ids(ix: SearchIndex, query: str) -> list[str]:
    return sorted(h.article_id for h in ix.search(query, limit=100, level="paragraph").hits)


def test_small_commits_merge_without_loss_or_duplicates(tmp_path: Path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    for number in range(4):
        # batch_size 2: two commits per call, so Whoosh merges small segments.
        ix.add_articles(batch(number), batch_size=2, workers=1)
        # A search between commits: the searcher must follow the merges.
        assert hit_ids(ix, f"第{number}批") == [f"b{number}-0", f"b{number}-1", f"b{number}-2"]
    stats = ix.stats()
    assert (stats.articles, stats.paragraphs) == (12, 12)
    assert hit_ids(ix, "title:标题1") == ["b1-0", "b1-1", "b1-2"]  # Frequency postings survive merging
    ix.optimize()
    assert ix.stats().segments == 1
    assert hit_ids(ix, "第2批") == ["b2-0", "b2-1", "b2-2"]
    assert hit_ids(ix, "title:标题3") == ["b3-0", "b3-1", "b3-2"]
    reopened = SearchIndex(tmp_path / "ix")
    assert [a.article_id for a in reopened.list_articles()] == sorted(f"b{n}-{i}" for n in range(4) for i in range(3))


def _answers(ix: SearchIndex, queries: list[str]) -> list[list[tuple[str, int, str]]]:
    return [[(h.article_id, h.paragraph, h.snippet.text) for h in ix.search(q, limit=100, level="paragraph").hits] for q in queries]


def test_optimize_merges_into_one_segment_without_the_deleted_and_reports_progress(tmp_path: Path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    for number in range(3):
        ix.add_articles(batch(number), batch_size=3, workers=1)
    ix.delete("b1-1")  # its article and paragraph documents
    queries = ["第1批", "第2批第0段", "title:标题0", "段文字"]
    before = _answers(ix, queries)
    assert ix.stats().segments == 3
    events: list[tuple[str, int]] = []
    report = ix.optimize(progress=lambda event, amount: events.append((event, amount)))
    assert report == OptimizeReport(segments_before=3, segments_after=1, dropped=2)
    assert report.summary() == "3 segments merged into 1 (2 deleted index documents left out)"
    assert events == [("start", 4)] + [("advance", 1)] * 4
    assert ix.stats().segments == 1
    assert _answers(ix, queries) == before and before[0] == [("b1-0", 0, "第1批第0段文字。"), ("b1-2", 0, "第1批第2段文字。")]
    assert _answers(SearchIndex(tmp_path / "ix"), queries) == before
    assert SearchIndex(tmp_path / "ix").check().ok
    # Nothing left to merge: the index is not rewritten.
    files = sorted(path.name for path in (tmp_path / "ix").iterdir())
    again = ix.optimize(progress=lambda event, amount: events.append((event, amount)))
    assert again == OptimizeReport(1, 1) and again.summary() == "1 segment, nothing deleted: nothing to merge"
    assert len(events) == 5 and sorted(path.name for path in (tmp_path / "ix").iterdir()) == files


def test_optimize_in_memory() -> None:
    assert SearchIndex.in_memory().optimize() == OptimizeReport(0, 0)
    ix = SearchIndex.in_memory()
    ix.add_articles(batch(0), workers=1)
    ix.add_articles(batch(1), workers=1)
    ix.delete("b0-1")
    assert ix.optimize() == OptimizeReport(2, 1, dropped=2)
    assert hit_ids(ix, "段文字") == ["b0-0", "b0-2", "b1-0", "b1-1", "b1-2"]
    assert ix.optimize() == OptimizeReport(1, 1)


def test_replacing_an_article_across_segments(tmp_path: Path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    for number in range(3):
        ix.add_articles(batch(number), batch_size=1, workers=1)
    ix.add_article(Article(id="b0-1", title="新标题", paragraphs=["改写后的段落。"]))
    assert hit_ids(ix, "第0批") == ["b0-0", "b0-2"]
    assert hit_ids(ix, "改写") == ["b0-1"]
    assert ix.stats().articles == 9


def test_an_index_built_with_jieba_keeps_segmenting_with_jieba(tmp_path) -> None:
    from searchkit import AnalyzerSettings

    built = SearchIndex.create(tmp_path / "ix", settings=AnalyzerSettings(segmenter="jieba"))
    built.add_articles([Article(id="a", title="t", paragraphs=["zh-hans 文本"])], workers=1)
    reopened = SearchIndex(tmp_path / "ix")
    assert reopened.settings.segmenter == "jieba"
    reopened.add_articles([Article(id="b", title="t", paragraphs=["zh-tw 文本"])], workers=1)
    words = {btext.decode() for btext in reopened.searcher().reader().lexicon("words")}
    assert words == {"zh", "hans", "tw", "文本"}  # jieba-rs would index zh-hans and zh-tw whole
    assert SearchIndex.create(tmp_path / "new").settings.segmenter == "jieba-rs"


def test_an_index_of_bigrams_keeps_them_and_matches_as_one_of_characters(tmp_path) -> None:
    # grams=2 is chosen when the index is made and recorded; its keywords are
    # phrases of bigrams, with the same hits as phrases of characters.
    from searchkit import AnalyzerSettings

    SearchIndex.create(tmp_path / "ix", settings=AnalyzerSettings(grams=2)).add_articles(CORPUS, workers=1)
    bigrams = SearchIndex(tmp_path / "ix")
    assert bigrams.settings.grams == 2
    characters = SearchIndex.in_memory()
    characters.add_articles(CORPUS)

    def grams(ix: SearchIndex, fieldname: str) -> set[str]:
        return {btext.decode() for btext in ix.searcher().reader().lexicon(fieldname)}

    assert "民族" not in grams(characters, "grams") and "民族" in grams(bigrams, "grams")
    assert "民" in grams(bigrams, "grams")  # one-character keywords
    assert not any(len(gram) > 1 for gram in grams(bigrams, "title_grams"))  # titles keep characters
    for query in ["民族团结", "族团", "藏", "title:冬游", "冬遊西藏", '"冬游 西藏"', "民族 -团结之", "8.77亿元", "g318国道"]:
        old, new = characters.search(query, limit=100, level="paragraph"), bigrams.search(query, limit=100, level="paragraph")
        assert {(h.article_id, h.paragraph) for h in old.hits} == {(h.article_id, h.paragraph) for h in new.hits}, query
        assert old.total == new.total > 0, query


def test_an_index_with_word_positions_answers_and_merges_as_a_new_one(tmp_path, monkeypatch) -> None:
    # Indexes made before 2026-11-29 hold positions of text words and counts
    # of title words as posting values. searchkit opens every index with its
    # own schema, which has none: those values are never read, and the
    # index answers (before and after merging) as one made now.
    from whoosh import formats

    from searchkit import analysis, writing
    from searchkit.engine import Prepared, store

    new_schema = store.make_schema

    def old_schema():
        schema = new_schema()
        schema["words"].format = formats.Positions()
        schema["title_words"].format = formats.Frequency()
        return schema

    def old_postings(text, segmenter, grams, suffixes=False):  # the old code wrote no suffix arrays
        normalized = analysis.fold(text)
        positions: dict[str, list[int]] = {}
        for ordinal, (word, _start, _end) in enumerate(segmenter.words(normalized)):
            positions.setdefault(word, []).append(ordinal)
        words = analysis.position_items(positions)
        prepared_grams = Prepared(analysis.gram_items(analysis.gram_stream(normalized)[0], grams))
        return Prepared(words), prepared_grams, list(positions)

    with monkeypatch.context() as old_code:
        old_code.setattr(store, "make_schema", old_schema)
        old_code.setattr(writing, "_text_postings", old_postings)
        old_code.setattr(store, "make_codec", postings_codec)
        old_code.setattr(writing, "encode_ranking_words", lambda words: None)  # no column of words then
        SearchIndex.create(tmp_path / "old").add_articles(CORPUS[:2], workers=1)
    old = SearchIndex(tmp_path / "old")
    old.add_articles(CORPUS[2:], workers=1)
    new = SearchIndex.create(tmp_path / "new")
    new.add_articles(CORPUS[:2], workers=1)
    new.add_articles(CORPUS[2:], workers=1)

    def values(ix: SearchIndex, fieldname: str) -> set[bytes]:
        reader = ix.searcher().reader()
        leaf = next(iter(reader.leaf_readers()))[0]  # the first segment
        return {value for term in leaf.lexicon(fieldname) for value in leaf._terms.term_info(fieldname, term).inlined_postings()[2]}

    assert values(old, "words") - {b""} and values(old, "title_words") - {b""}
    assert values(new, "words") <= {b""} and values(new, "title_words") <= {b""}
    # The old code's first segment ranks from postings; the new code's from the column of words.
    assert [leaf.has_column(RANKING_WORDS_FIELD) for leaf, _offset in old.searcher().reader().leaf_readers()] == [False, True]
    assert [leaf.has_column(RANKING_WORDS_FIELD) for leaf, _offset in new.searcher().reader().leaf_readers()] == [True, True]

    def answers(ix: SearchIndex, query: str) -> tuple[int, list[tuple[str, int | None, float]]]:
        result = ix.search(query, limit=100, level="paragraph")
        return result.total, [(h.article_id, h.paragraph, h.score) for h in result.hits]

    queries = ["民族团结", "藏", "title:冬游", "冬遊西藏", "民族 -团结之", "西藏有哪些景区免费开放"]
    expected = {query: answers(new, query) for query in queries}
    assert all(total > 0 for total, _hits in expected.values())
    assert {query: answers(old, query) for query in queries} == expected
    old.optimize()
    new.optimize()
    assert old.check().problems == []
    assert {query: answers(old, query) for query in queries} == {query: answers(new, query) for query in queries}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_index_of_an_older_schema_version_is_read_and_marked_current_when_written(tmp_path, monkeypatch, version) -> None:
    # Before version 3 the paragraphs' characters had postings (version 2's
    # segments also suffix arrays, which answer alike). A searchkit reading
    # up to 2 would find nothing in version 3's segments, so the first write
    # marks the index before it commits; old and new segments answer together
    # as one index made now, before and after merging.
    import json

    from searchkit import writing
    from searchkit.engine import store
    from searchkit.index import SCHEMA_VERSION

    assert SCHEMA_VERSION == 4
    with monkeypatch.context() as old_code:
        old_code.setattr(store, "make_codec", postings_codec)
        old_code.setattr(writing, "encode_ranking_words", lambda words: None)
        SearchIndex.create(tmp_path / "ix").add_articles(CORPUS[:2], workers=1)
    meta_path = tmp_path / "ix" / "searchkit.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta_path.write_text(json.dumps({**meta, "schema_version": version}), encoding="utf-8")
    ix = SearchIndex(tmp_path / "ix")
    new = SearchIndex.in_memory()
    new.add_articles(CORPUS[:2], workers=1)

    def answers(index: SearchIndex) -> dict[str, tuple[int, list[tuple[str, int | None, float]]]]:
        queries = ["民族团结", "藏", "title:冬游", "冬遊西藏", "民族 -团结之", "\"，累计\"", "\"。\" 各族", "西藏有哪些景区免费开放"]
        return {q: (r.total, [(h.article_id, h.paragraph, h.score) for h in r.hits]) for q in queries for r in [index.search(q, limit=100, level="paragraph")]}

    assert ix.stats().schema_version == version
    assert answers(ix) == answers(new)
    assert json.loads(meta_path.read_text(encoding="utf-8"))["schema_version"] == version  # reading leaves it
    ix.add_articles(CORPUS[2:], workers=1)
    new.add_articles(CORPUS[2:], workers=1)
    assert json.loads(meta_path.read_text(encoding="utf-8")) == {**meta, "schema_version": 4}
    assert ix.stats().schema_version == SearchIndex(tmp_path / "ix").stats().schema_version == 4
    assert ix.stats().segments == 2
    assert answers(ix) == answers(new)
    ix.optimize()
    assert ix.check().problems == []
    assert answers(ix) == answers(new)


def test_a_file_of_whole_batches_commits_its_marker_with_its_last_batch(tmp_path) -> None:
    # 4 articles in batches of 2: two commits, two segments; the file's
    # marker (its content hash) is not left a segment of its own.
    import json

    source = tmp_path / "four.jsonl"
    source.write_text("".join(json.dumps({"id": f"a{i}", "title": "t", "text": f"第{i}段"}) + "\n" for i in range(4)), encoding="utf-8")
    ix = SearchIndex.create(tmp_path / "ix")
    report = ix.add_files([source], batch_size=2, workers=1)
    assert (report.added, report.articles) == (1, 4)
    assert ix.stats().segments == 2
    again = ix.add_files([source], batch_size=2, workers=1)
    assert (again.added, again.unchanged) == (0, 1)


def test_in_memory_indexes_keep_their_temporary_files_apart() -> None:
    # Whoosh put every in-memory index's temporary files in the system's MAIN.tmp:
    # two processes writing at once deleted each other's.
    first, second = SearchIndex.in_memory(), SearchIndex.in_memory()
    writers = [first.store.writer(1.0), second.store.writer(1.0)]
    try:
        folders = [writer._tempstorage.folder for writer in writers]
        assert folders[0] != folders[1]
        assert not any(folder.endswith("MAIN.tmp") for folder in folders)
    finally:
        for writer in writers:
            writer.cancel()
    assert not any(os.path.exists(folder) for folder in folders)


@pytest.mark.parametrize("cutoff", [0, 2**15])
def test_a_column_ending_with_empty_documents_reads_back(cutoff: int) -> None:
    # 250 bytes of values, then one of 10 (offsets pass 255: Whoosh widens their
    # type), then two documents without a value, as files' records end a segment.
    from whoosh import columns as wcolumns
    from whoosh.filedb.filestore import RamStorage

    from searchkit.engine.words import VarBytesColumn

    values = [b"a" * 250, b"b" * 10, b"", b""]

    def written(column: Any) -> list[bytes]:
        storage = RamStorage()
        out = storage.create_file("c")
        writer = column.writer(out)
        for docnum, value in enumerate(values[:2]):
            writer.add(docnum, value)
        writer.finish(len(values))
        length = out.tell()
        out.close()
        reader = column.reader(storage.open_file("c"), 0, length, len(values))
        return [reader[docnum] for docnum in range(len(values))]

    assert written(VarBytesColumn(write_offsets_cutoff=cutoff)) == values
    if cutoff == 0:  # Whoosh's own writer, for the record: the offsets it wrote lost their tail
        assert written(wcolumns.VarBytesColumn(write_offsets_cutoff=cutoff)) != values
