"""searchkit's segment writer: the same postings as Whoosh's, parallel commits, merges."""

from __future__ import annotations

import json
import os
import signal
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from searchkit.engine.store import PrivateRamStorage as RamStorage  # temporary files of its own
from whoosh.writing import SegmentWriter

from searchkit import Article, SearchIndex, SearchkitError
from searchkit import writing as writing_module
from searchkit.analysis import Segmenter
from searchkit.engine.schema import make_schema
from searchkit.writing import _write_articles, pending_article
from searchkit.engine import chars as chars_module
from searchkit.engine import codec as codec_module
from searchkit.engine import merge as merge_module
from searchkit.engine import terms as terms_module
from searchkit.engine import writer as writer_module
from searchkit.engine.codec import STORE_BELOW, deflate, make_codec
from searchkit.engine.merge import MERGE_FACTOR
from searchkit.engine.writer import SearchkitWriter

# Tang poems (chinese-poetry, MIT): a few records of the shared corpus.
POEMS = [
    Article(id="p1", title="靜夜思", paragraphs=["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"]),
    Article(id="p2", title="春曉", paragraphs=["春眠不覺曉，處處聞啼鳥。", "夜來風雨聲，花落知多少。"]),
    Article(id="p3", title="登鸛雀樓", paragraphs=["白日依山盡，黃河入海流。", "欲窮千里目，更上一層樓。"]),
    Article(id="p4", title="相思", paragraphs=["紅豆生南國，春來發幾枝。", "願君多采擷，此物最相思。"]),
]


def many_articles(count: int, tag: str = "", volumes: bool = False) -> list[Article]:
    # volumes: a paragraph whose grams occur in a few articles each, of
    # several lengths (short postings lists, kept in the term table).
    return [
        Article(
            id=f"{tag}{i}",
            title=f"{POEMS[i % 4].title}{i}",
            paragraphs=[*POEMS[i % 4].paragraphs, f"第{i}首。", *([f"卷{i // 5}{'兮' * (i % 3)}"] if volumes else [])],
        )
        for i in range(count)
    ]


def all_postings(storage: Any) -> dict[tuple[str, bytes], tuple[Any, ...]]:
    """Every term of every segment: its statistics and all its postings, by global docnum."""
    ix = storage.open_index(schema=make_schema())
    out: dict[tuple[str, bytes], tuple[Any, ...]] = {}
    with ix.reader() as reader:
        for (fieldname, btext), info in reader:
            matcher = reader.postings(fieldname, btext)
            postings = []
            while matcher.is_active():
                postings.append((matcher.id(), matcher.weight(), matcher.value()))
                matcher.next()
            # skip_to passes whole blocks by their headers' last ids.
            skips = []
            for target in [docnum + 1 for docnum, _, _ in postings[:: max(1, len(postings) // 5)]]:
                matcher = reader.postings(fieldname, btext)
                matcher.skip_to(target)
                skips.append(matcher.id() if matcher.is_active() else None)
            out[fieldname, btext] = (info.weight(), info.doc_frequency(), info.min_length(), info.max_length(),
                                     info.max_weight(), info.min_id(), info.max_id(), postings, skips)
        # The per-document data the merge copies, and the field totals.
        for docnum in reader.all_doc_ids():
            out["doc", docnum] = (
                reader.stored_fields(docnum),
                [reader.doc_field_length(docnum, name) for name in reader.schema.names()],
                reader.column_reader("article_id")[docnum],
            )
        out["totals", b""] = tuple(reader.field_length(name) for name in reader.schema.names())
    return out


def write_with(writer_class: type, articles: list[Article], commits: int, deleted: tuple[str, ...] = ("3", "17", "18"),
               char_streams: bool = False) -> RamStorage:
    """An index written by ``writer_class``; ``char_streams``: searchkit's writer
    gives characters suffix arrays, not postings (Whoosh's writes postings)."""
    storage = RamStorage()
    ix = storage.create_index(make_schema())
    segmenter = Segmenter()
    pending = [pending_article(article) for article in articles]
    step = -(-len(pending) // commits)
    for start in range(0, len(pending), step):
        writer = writer_class(ix, codec=make_codec(char_streams=char_streams))
        _write_articles(writer, pending[start:start + step], [], segmenter)
        writer.commit(merge=False)
    writer = writer_class(ix, codec=make_codec(char_streams=char_streams))
    for article_id in deleted:  # renumbered documents in the merge
        writer.delete_by_term("article_id", article_id)
    writer.commit(optimize=True)  # one segment: the merge path writes every posting
    return storage


@pytest.mark.parametrize("count, chunk, deleted", [(40, None, ("3", "17", "18")), (400, 10, ("3", "17", "18")), (40, None, ())])
def test_postings_match_whooshs_own_writer(count: int, chunk: int | None, deleted: tuple[str, ...],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # 400 articles: postings lists of several blocks in each merged segment;
    # chunk: the merge reads term tables and stored fields 10 bytes at a time;
    # nothing deleted: every merged segment's postings copied, renumbered.
    if chunk is not None:
        monkeypatch.setattr(terms_module, "SCAN_CHUNK", chunk)  # term tables
        monkeypatch.setattr(codec_module, "SCAN_CHUNK", chunk)  # stored fields and columns
        monkeypatch.setattr(chars_module, "CHAR_ROWS_CHUNK", 7)  # characters counted 7 documents at a time
    articles = many_articles(count, volumes=True)
    ours, whooshs = write_with(SearchkitWriter, articles, 3, deleted), write_with(SegmentWriter, articles, 3, deleted)
    expected = all_postings(whooshs)
    got = all_postings(ours)
    assert len(got) > 250 + count * 3  # terms, and documents
    if count > 128:
        assert max(len(value[-2]) for key, value in expected.items() if key[0] == "grams") > 3 * 128
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == value, key
    # Characters with suffix arrays instead of postings: each term's statistics as
    # its postings gave them, no postings; everything else the same.
    counted = all_postings(write_with(SearchkitWriter, articles, 3, deleted, char_streams=True))
    assert counted.keys() == expected.keys()
    for key, value in expected.items():
        if key[0] == "grams":
            assert counted[key][:7] == value[:7] and counted[key][7] == [], key
        else:
            assert counted[key] == value, key


def test_parallel_batch_gives_the_same_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)  # fork even for a small batch
    articles = many_articles(30)
    serial = SearchIndex.create(tmp_path / "serial")
    serial.add_articles(articles, workers=1)
    parallel = SearchIndex.create(tmp_path / "parallel")
    parallel.add_articles(articles, workers=2)
    assert serial.stats().segments == 1
    assert parallel.stats().segments == 2  # a segment per child; the parent wrote no documents
    for query in ["明月", "春眠", "第17首", "title:相思", "黃河 入海"]:
        ours = serial.search(query, limit=100, level="paragraph")
        theirs = parallel.search(query, limit=100, level="paragraph")
        assert ours.total == theirs.total > 0
        assert sorted((h.article_id, h.paragraph) for h in ours.hits) == sorted((h.article_id, h.paragraph) for h in theirs.hits)
    assert parallel.check().ok


def _fail_in_child(writer: Any, articles: Any, markers: Any, segmenter: Any) -> None:
    raise ValueError("disk on fire")


def _die_in_child(writer: Any, articles: Any, markers: Any, segmenter: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize(
    ("child", "message"),
    [
        (_fail_in_child, "a writer process failed (ValueError: disk on fire); nothing of this batch was committed"),
        (_die_in_child, "a writer process died before finishing its segment; nothing of this batch was committed"),
    ],
)
def test_a_failing_writer_process_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: Any, message: str
) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    ix.add_articles(POEMS, workers=1)
    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)
    monkeypatch.setattr(writing_module, "_write_articles", child)
    with pytest.raises(SearchkitError) as caught:
        ix.add_articles(many_articles(10, tag="new"), workers=2)
    assert str(caught.value) == message
    monkeypatch.undo()
    reopened = SearchIndex(tmp_path / "ix")
    assert [a.article_id for a in reopened.list_articles()] == ["p1", "p2", "p3", "p4"]
    assert reopened.check().ok
    # The next commit goes through and removes the failed children's files.
    reopened.add_articles(many_articles(2, tag="next"), workers=1)
    assert reopened.stats().articles == 6
    listed = {segment.segment_id() for segment in reopened.store.listed_segments()}
    on_disk = {path.name.split(".")[0] for path in (tmp_path / "ix").glob("MAIN_*.*")}
    assert on_disk == listed
    assert not list((tmp_path / "ix").glob(".MAIN_*"))  # nor their temporary files


def test_tiered_merges_keep_few_segments_and_every_article_once(tmp_path: Path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    commits = 3 * MERGE_FACTOR
    for number in range(commits):
        ix.add_articles(many_articles(5, tag=f"c{number}-"), workers=1)
    stats = ix.stats()
    assert stats.articles == 5 * commits
    # Every MERGE_FACTOR equal segments become one: never MERGE_FACTOR of a tier.
    assert stats.segments < MERGE_FACTOR + 2
    hits = ix.search("明月", limit=1000, level="paragraph").hits
    # 明月 is in both paragraphs of the articles 0 and 4 of each commit.
    assert len(hits) == len({(h.article_id, h.paragraph) for h in hits}) == 4 * commits
    # Replacing articles spread over merged segments leaves one copy each.
    ix.add_articles(many_articles(5, tag="c0-"), workers=1)
    assert ix.stats().articles == 5 * commits
    assert ix.check().ok


def test_merges_in_a_child_process_drop_what_the_same_commit_deletes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)
    ix = SearchIndex.create(tmp_path / "ix")
    for number in range(MERGE_FACTOR // 2):  # two segments of 12 documents per commit: one tier
        ix.add_articles(many_articles(8, tag=f"c{number}-"), workers=2)
    assert ix.stats().segments == MERGE_FACTOR
    merged: list[int] = []
    real_merge_into = merge_module.merge_into
    def recording_merge_into(writer: Any, segments: list[Any]) -> None:
        merged.append(os.getpid())
        real_merge_into(writer, segments)
    monkeypatch.setattr(merge_module, "merge_into", recording_merge_into)  # a merge in this process
    monkeypatch.setattr(writer_module, "merge_into", recording_merge_into)  # a background merge
    # New articles, and one that replaces c0-0, which sits in a segment being merged.
    ix.add_articles([*many_articles(8, tag="new-"), many_articles(1, tag="c0-")[0]], workers=2)
    assert merged == []  # recorded in the child process only
    stats = ix.stats()
    assert stats.segments == 3  # the merged one and this commit's two
    assert stats.articles == 8 * (MERGE_FACTOR // 2 + 1)
    hits = ix.search("明月", limit=1000, level="paragraph").hits
    # 明月 is in both paragraphs of the articles 0 and 4 of each commit.
    assert len(hits) == len({(h.article_id, h.paragraph) for h in hits}) == 4 * (MERGE_FACTOR // 2 + 1)
    assert ix.check().ok


def test_batches_end_at_the_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writing_module, "BATCH_CHARS", 50)
    ix = SearchIndex.create(tmp_path / "ix")
    ix.add_articles(many_articles(8), workers=1)
    sizes = [pending_article(a).chars for a in many_articles(8)]
    assert min(sizes) > 25  # so every second article ends a batch
    commits: list[int] = []
    real_commit = writing_module.IndexWriter.commit
    def counting_commit(self: Any) -> None:
        commits.append(len(self._articles))
        real_commit(self)
    monkeypatch.setattr(writing_module.IndexWriter, "commit", counting_commit)
    ix.add_articles(many_articles(8), workers=1)
    assert commits == [2, 2, 2, 2]  # the last: the writer's exit
    assert ix.stats().articles == 8


def test_cli_reports_a_failing_writer_process_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from searchkit.cli import cli

    data = tmp_path / "poems.jsonl"
    data.write_text("".join(
        json.dumps({"id": a.id, "title": a.title, "paragraphs": a.paragraphs}, ensure_ascii=False) + "\n"
        for a in many_articles(6)
    ), encoding="utf-8")
    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)
    monkeypatch.setattr(writing_module, "_write_articles", _fail_in_child)
    result = CliRunner().invoke(cli, ["--index", str(tmp_path / "ix"), "index", str(data), "--workers", "2"])
    assert (result.exit_code, result.stderr) == (
        1, "Error: a writer process failed (ValueError: disk on fire); nothing of this batch was committed\n"
    )
    monkeypatch.undo()
    assert SearchIndex(tmp_path / "ix").stats().articles == 0



@pytest.mark.parametrize("deleted", [(), ("3", "17", "18")])
def test_merging_segments_that_whoosh_wrote(deleted: tuple[str, ...]) -> None:
    # Segments of Whoosh's own writer and codec (an index from before
    # searchkit's writer): MD5 term tables, protocol-2 pickles, no inlined
    # lists. searchkit's merge reads them, copying blocks (nothing deleted)
    # or decoding them, and gives the postings Whoosh's merge gives.
    articles = many_articles(400, volumes=True)
    storage = RamStorage()
    ix = storage.create_index(make_schema())
    segmenter = Segmenter()
    pending = [pending_article(article) for article in articles]
    for start in range(0, len(pending), 134):
        writer = SegmentWriter(ix)
        _write_articles(writer, pending[start:start + 134], [], segmenter)
        writer.commit(merge=False)
    with ix.reader() as reader:
        assert {leaf._terms._tindex.hashtype for leaf, _offset in reader.leaf_readers()} == {0}  # MD5
    writer = SearchkitWriter(ix, codec=make_codec(char_streams=False))
    for article_id in deleted:
        writer.delete_by_term("article_id", article_id)
    writer.commit(optimize=True)
    with ix.reader() as reader:
        assert [leaf._terms._tindex.hashtype for leaf, _offset in reader.leaf_readers()] == [1]  # CRC-32, merged
    def valued(postings: dict[tuple[str, Any], tuple[Any, ...]]) -> dict[tuple[str, Any], tuple[Any, ...]]:
        # A copied block of a short list stays a block (Whoosh's writer
        # inlined nothing), where a list written now is inlined: a posting
        # without a value reads None from the one, b"" from the other.
        return {key: (*value[:7], [(d, w, b"" if v is None else v) for d, w, v in value[7]], *value[8:])
                if key[0] not in ("doc", "totals") else value for key, value in postings.items()}

    expected = valued(all_postings(write_with(SegmentWriter, articles, 3, deleted)))
    got = valued(all_postings(storage))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == value, key


_MERGE_MAY_FINISH: list[Path] = []  # set before the fork: the merge child waits for this file


def _slow_merge_into(writer: Any, segments: list[Any]) -> None:
    import time

    deadline = time.monotonic() + 60
    while not _MERGE_MAY_FINISH[0].exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # still running at the next commit, however slow the machine
    _REAL_MERGE_INTO(writer, segments)


def _failing_merge_into(writer: Any, segments: list[Any]) -> None:
    raise OSError("disk full")


_REAL_MERGE_INTO = merge_module.merge_into


@pytest.mark.parametrize("merge_into", [_slow_merge_into, _failing_merge_into])
def test_a_background_merge_runs_across_commits_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, merge_into: Any
) -> None:
    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)
    monkeypatch.setattr(writer_module, "merge_into", merge_into)  # what a background merge runs
    monkeypatch.setattr(sys.modules[__name__], "_MERGE_MAY_FINISH", [tmp_path / "merge may finish"])
    ix = SearchIndex.create(tmp_path / "ix")
    with ix.writer(batch_size=8, workers=2) as writer:
        for number in range(MERGE_FACTOR // 2 + 1):  # the fifth commit starts the merge of eight segments
            for article in many_articles(8, tag=f"c{number}-"):
                writer.add_article(article)
        writer.commit()  # a full batch commits when the next article comes: this one now
        assert writer._background is not None
        # The sixth commit, while it runs: replaces c0-0, which is one of its inputs.
        for article in [*many_articles(7, tag="late-"), many_articles(1, tag="c0-")[0]]:
            writer.add_article(article)
        writer.commit()
        assert writer._background is not None
        (tmp_path / "merge may finish").touch()
    stats = ix.stats()
    # The merged segment and the last two commits' four; or, the merge failed, its eight inputs too.
    assert stats.segments == (5 if merge_into is _slow_merge_into else 12)
    assert stats.articles == 8 * (MERGE_FACTOR // 2 + 1) + 7
    listed = [a.article_id for a in ix.list_articles()]
    assert len(listed) == len(set(listed))
    hits = ix.search("明月", limit=1000, level="paragraph").hits
    # 明月 is in both paragraphs of the articles 0 and 4 of each commit, and of late-0 and late-4.
    assert len(hits) == len({(h.article_id, h.paragraph) for h in hits}) == 4 * (MERGE_FACTOR // 2 + 1) + 4
    assert ix.check().ok
    on_disk = {path.name.split(".")[0] for path in (tmp_path / "ix").glob("MAIN_*.*")}
    assert on_disk == {segment.segment_id() for segment in ix.store.listed_segments()}
    assert not list((tmp_path / "ix").glob(".MAIN_*"))


def test_another_writers_commit_spares_a_finished_background_merge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)
    ix = SearchIndex.create(tmp_path / "ix")
    with ix.writer(batch_size=8, workers=2) as writer:
        for number in range(MERGE_FACTOR // 2 + 1):  # the fifth commit starts the merge
            for article in many_articles(8, tag=f"c{number}-"):
                writer.add_article(article)
        writer.commit()  # the fifth batch (full batches commit when the next article comes)
        running = writer._background
        assert running is not None
        deadline = time.monotonic() + 60
        while not running.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Done but not taken in: another writer commits (and cleans up files) meanwhile.
        other = SearchIndex(tmp_path / "ix").store.writer(30.0)
        other.delete_by_term("article_id", "c4-0")  # in the fifth commit's segments
        other.commit(merge=False)
    stats = ix.stats()
    assert stats.segments == 1 + 2  # the merged one, the fifth commit's two
    assert stats.articles == 8 * (MERGE_FACTOR // 2 + 1) - 1
    assert ix.check().ok
    on_disk = {path.name.split(".")[0] for path in (tmp_path / "ix").glob("MAIN_*.*")}
    assert on_disk == {segment.segment_id() for segment in ix.store.listed_segments()}


def test_a_failed_commit_drops_the_merge_it_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)
    ix = SearchIndex.create(tmp_path / "ix")
    for number in range(MERGE_FACTOR // 2):
        ix.add_articles(many_articles(8, tag=f"c{number}-"), workers=2)
    monkeypatch.setattr(writing_module, "_write_articles", _fail_in_child)
    writer = ix.writer(batch_size=100, workers=2)
    for article in many_articles(8, tag="c0-"):  # would replace the first commit's articles
        writer.add_article(article)
    # This commit deletes c0-*, starts merging the eight segments without
    # them, then fails: the merge must go with it.
    with pytest.raises(SearchkitError, match="a writer process failed"):
        writer.commit()
    assert writer._background is None
    writer.cancel()
    monkeypatch.setattr(writing_module, "_write_articles", _REAL_WRITE_ARTICLES)
    writer.add_article(many_articles(1, tag="late-")[0])
    writer.close()
    reopened = SearchIndex(tmp_path / "ix")
    assert reopened.stats().articles == 8 * MERGE_FACTOR // 2 + 1
    assert reopened.check().ok


_REAL_WRITE_ARTICLES = writing_module._write_articles


@pytest.mark.parametrize("size", [0, 1, 255, 256, 4096, 4097, 70_000])
def test_deflate_is_read_by_zlib(size: int) -> None:
    data = (os.urandom(size // 2) + "民族团结".encode() * size)[:size]
    packed = deflate(data, 3)
    assert zlib.decompress(packed) == data
    stored = size < STORE_BELOW  # short data goes in a stored block: 11 bytes of framing
    assert (len(packed) == size + 11) is stored


def test_stored_fields_and_postings_read_back_as_written(tmp_path: Path) -> None:
    texts = ["短", "民族团结" * 200, "床前明月光，疑是地上霜。"]
    ix = SearchIndex.create(tmp_path / "ix")
    ix.add_articles([Article(id=f"a{n}", title="t", paragraphs=[text]) for n, text in enumerate(texts)])
    searcher = ix.searcher()
    stored = sorted(fields["text"] for fields in searcher.all_stored_fields() if fields["kind"] == "paragraph")
    assert stored == sorted(texts)
    assert [h.article_id for h in ix.search("民族团结", limit=5, level="paragraph").hits] == ["a1"]


def test_file_markers_share_the_last_writer_processs_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)
    data = tmp_path / "poems.jsonl"
    data.write_text("".join(
        json.dumps({"id": a.id, "title": a.title, "paragraphs": a.paragraphs}, ensure_ascii=False) + "\n"
        for a in many_articles(6)
    ), encoding="utf-8")
    ix = SearchIndex.create(tmp_path / "ix")
    assert ix.add_files([data], workers=2).added == 1
    assert ix.stats().segments == 2  # the two writers' segments, no third for the marker
    again = ix.add_files([data], workers=2)
    assert (again.added, again.unchanged) == (0, 1)


def test_a_killed_writers_leftovers_go_at_the_next_commit(tmp_path: Path) -> None:
    import subprocess

    ix = SearchIndex.create(tmp_path / "ix")
    ix.add_articles(POEMS)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id nobody has now: a killed searchkit's
    leftovers = {  # a child's temporary folder and the segment file it had written, per owner
        owner: (tmp_path / "ix" / f".MAIN_{tag * 16}.{owner}.tmp", tmp_path / "ix" / f"MAIN_{tag * 16}.seg")
        for owner, tag in ((gone.pid, "a"), (os.getpid(), "b"))
    }
    for folder, segment_file in leftovers.values():
        folder.mkdir()
        segment_file.write_bytes(b"half a segment")
    ix.add_articles([Article(id="late", title="t", paragraphs=["春眠不觉晓"])])
    assert [path.exists() for pair in leftovers.values() for path in pair] == [False, False, True, True]
    assert ix.check().ok
    assert ix.stats().articles == len(POEMS) + 1


def test_random_queries_after_forked_writes_merges_deletions_and_replacements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Segments written by forked processes, merged (copied blocks and decoded
    # ones), with deletions and replaced articles in older segments: every
    # answer is what a scan of the live texts finds.
    import random

    from tests.scan import TextScan

    monkeypatch.setattr(writing_module, "PARALLEL_MIN_CHARS", 1)
    ix = SearchIndex.create(tmp_path / "ix")
    chooser = random.Random(4)
    alphabet = "山水明月人不知风花雪孤鹤，。"
    texts: dict[tuple[str, int], str] = {}
    for commit in range(9):
        articles = [Article(id=f"c{commit}-{n}", title="", paragraphs=[
            "".join(chooser.choice(alphabet) for _ in range(chooser.randint(3, 14))) for _ in range(2)]) for n in range(48)]
        ix.add_articles(articles, workers=2, batch_size=24)
        texts.update({(a.id, i): p for a in articles for i, p in enumerate(a.paragraphs)})
        for n in range(commit % 5, 48, 5):
            ix.delete(f"c{commit}-{n}")
            del texts[f"c{commit}-{n}", 0], texts[f"c{commit}-{n}", 1]
        if commit % 3 == 2:  # replaced articles: deletions in older segments
            for n in range(1, 48, 7):
                article_id = f"c{commit - 2}-{n}"
                if (article_id, 0) in texts:
                    new = Article(id=article_id, title="", paragraphs=["孤鹤" + chooser.choice(alphabet), "明月"])
                    ix.add_articles([new], workers=1)
                    texts[article_id, 0], texts[article_id, 1] = new.paragraphs
    ix = SearchIndex(tmp_path / "ix")
    assert 1 < ix.stats().segments < 9 * 2 * 2  # written in parts, and merged
    scan = TextScan(texts)
    pieces = scan.pieces((1, 2, 3))
    answered = 0
    for _ in range(200):
        query, expected, _keywords, _articles = scan.boolean_query(chooser, pieces)
        result = ix.search(query, limit=2000, level="paragraph")
        if expected:
            assert not result.partial and result.total == len(expected), query
            assert {(h.article_id, h.paragraph) for h in result.hits} == expected, query
            answered += 1
        else:
            assert result.partial or result.total == 0, query
    assert answered > 150
    assert ix.check().ok


def test_a_merge_without_deletions_keeps_the_exact_field_totals() -> None:
    # Stored lengths are rounded to a byte (125 characters read back as 123);
    # Whoosh's merge adds up the rounded ones, which moved every score after
    # a merge. Without deletions the inputs' totals are kept.
    from whoosh.util.numeric import byte_to_length, length_to_byte

    texts = ["春眠不觉晓处处闻啼鸟夜来风雨声花落知多少" * 6 + "床前明月光", "白日依山尽黄河入海流欲穷千里目更上一层楼" * 9 + "举头"]
    assert any(byte_to_length(length_to_byte(len(text))) != len(text) for text in texts)
    ix = SearchIndex.in_memory()
    for number, text in enumerate(texts):
        ix.add_articles([Article(id=f"a{number}", title="", paragraphs=[text])], workers=1)
    reader = ix.searcher().reader()
    totals = {name: reader.field_length(name) for name in ("grams", "words")}
    assert totals["grams"] == sum(len(text) for text in texts) != sum(byte_to_length(length_to_byte(len(t))) for t in texts)
    scores = [(hit.article_id, hit.score) for hit in ix.search("明月", level="paragraph").hits + ix.search("黄河", level="paragraph").hits]
    assert ix.optimize().summary() == "2 segments merged into 1"
    reader = ix.searcher().reader()
    assert {name: reader.field_length(name) for name in ("grams", "words")} == totals
    assert [(hit.article_id, hit.score) for hit in ix.search("明月", level="paragraph").hits + ix.search("黄河", level="paragraph").hits] == scores
    # With deletions the live documents' true lengths are unknown: the rounded ones are added up.
    ix.add_articles([Article(id="a2", title="", paragraphs=[texts[0]])], workers=1)
    ix.delete("a1")  # from the merged segment: a0 is left there, with its rounded length
    ix.optimize()
    assert ix.searcher().reader().field_length("grams") == byte_to_length(length_to_byte(len(texts[0]))) + len(texts[0])
