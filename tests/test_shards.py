"""A sharded index: built by Dask workers, and every command working on it as on one index.

The cluster here is a Dask LocalCluster of two worker threads in this process,
reached over TCP on loopback (``--scheduler``), as a remote one would be;
``tests/test_shards_cluster.py`` runs ``dask scheduler`` and ``dask worker``
processes. The answers of a sharded search equal one index's in
``tests/test_fanout.py``; here the CLI and the API around it.
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from searchkit import Article, IndexVersionError, SearchIndex
from searchkit.analysis import AnalyzerSettings
from searchkit.cli import cli
from searchkit.errors import ShardUnavailableError
from searchkit.shards import SHARD_MAP_FILE, ShardedIndex, ShardedWriter, shard_of

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "qa_sample.jsonl"
RECORDS = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="module")
def scheduler() -> Any:
    """A Dask cluster of two single-thread workers in this process, its scheduler on loopback TCP."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    yield cluster.scheduler_address
    cluster.close()


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], input=stdin)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def listed(index: Path) -> list[dict]:
    result = run("--index", index, "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def search(index: Path, *args: str) -> dict:
    result = run("--index", index, "search", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def shard_ids(index: Path) -> dict[int, list[str]]:
    """Each shard's article ids, read from the shard itself."""
    found = {}
    for number in range(json.loads((index / SHARD_MAP_FILE).read_text())["shards"]):
        with SearchIndex(index / f"shard-{number:03d}") as shard:
            found[number] = [info.article_id for info in shard.list_articles()]
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, scheduler: str) -> dict[str, Path]:
    """The QA sample as one index and as an index of 3 shards on shared storage."""
    root = tmp_path_factory.mktemp("built")
    data = write_jsonl(root / "qa.jsonl", [{k: r[k] for k in ("id", "title", "paragraphs", "source", "author", "date") if k in r}
                                           for r in RECORDS])
    assert run("--index", root / "single", "index", "--workers", "1", data).exit_code == 0
    result = run("--index", root / "sharded", "index", "--shards", "3", "--scheduler", scheduler, "--batch-size", "10", data)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"indexed: 1 added, 0 updated, 0 unchanged, 0 skipped, 0 failed ({len(RECORDS)} articles, " \
        f"{sum(len(r['paragraphs']) for r in RECORDS)} paragraphs written)\n"
    return {"single": root / "single", "sharded": root / "sharded", "data": data}


# --------------------------------------------------------------------------
# The shard of an article


def test_shard_of_is_stable_and_spreads_the_ids() -> None:
    assert [shard_of(f"a{i}", 4) for i in range(8)] == [0, 3, 2, 2, 3, 2, 1, 3]  # the same on every machine and run
    counts = Counter(shard_of(f"/news/{i}.txt#1", 4) for i in range(8000))
    assert sorted(counts) == [0, 1, 2, 3] and all(1800 < count < 2200 for count in counts.values())


def test_each_article_is_in_the_shard_its_id_hashes_to(built: dict[str, Path]) -> None:
    found = shard_ids(built["sharded"])
    assert sorted(i for ids in found.values() for i in ids) == sorted(r["id"] for r in RECORDS)  # each once
    for number, ids in found.items():
        assert ids and all(shard_of(i, 3) == number for i in ids)
    shard_map = json.loads((built["sharded"] / SHARD_MAP_FILE).read_text())
    assert (shard_map["format"], shard_map["shards"], shard_map["placement"]) == (1, 3, "shared")
    assert shard_map["layout"] == [{"shard": n, "path": f"shard-{n:03d}"} for n in range(3)]
    assert shard_map["analyzer"] == SearchIndex(built["single"]).settings.to_dict()


# --------------------------------------------------------------------------
# Every command, as on one index


def test_list_show_and_stats_are_one_index_s(built: dict[str, Path]) -> None:
    single, sharded = built["single"], built["sharded"]
    assert listed(sharded) == listed(single)
    some = RECORDS[7]["id"]
    assert run("--index", sharded, "show", some, "--json").stdout == run("--index", single, "show", some, "--json").stdout
    assert run("--index", sharded, "show", some).stdout == run("--index", single, "show", some).stdout
    one = json.loads(run("--index", single, "stats", "--json").stdout)
    many = json.loads(run("--index", sharded, "stats", "--json").stdout)
    assert (many["articles"], many["paragraphs"], many["shards"], many["placement"]) == (
        one["articles"], one["paragraphs"], 3, "shared")
    assert "shards" not in one
    assert "shards:         3 (in the index directory)\n" in run("--index", sharded, "stats").stdout


@pytest.mark.parametrize("query", [RECORDS[3]["title"], "中国 发展", "泡泡堂", "是谁 创办 的", "source:新華社 中国",
                                   "历史 -中国"])
def test_search_answers_as_one_index(built: dict[str, Path], query: str) -> None:
    for options in ([], ["--level", "paragraph", "--limit", "5"], ["--facets", "source,year", "--sort", "-date"]):
        one, many = search(built["single"], query, *options), search(built["sharded"], query, *options)
        assert (many["total"], many.get("facets"), many.get("partial")) == (one["total"], one.get("facets"), one.get("partial"))
        key = lambda hit: (round(hit["score"], 6), hit["article_id"], hit["paragraph"])
        assert sorted(map(key, many["hits"])) == sorted(map(key, one["hits"]))
        assert "partial_shards" not in many


def test_search_reads_queries_from_stdin(built: dict[str, Path]) -> None:
    queries = f"{RECORDS[1]['title']}\n\n中国\n"
    one = run("--index", built["single"], "search", "-", stdin=queries)
    many = run("--index", built["sharded"], "search", "-", stdin=queries)
    assert many.exit_code == one.exit_code == 1  # the empty query
    assert [json.loads(line)["total"] for line in many.stdout.splitlines()] == [
        json.loads(line)["total"] for line in one.stdout.splitlines()]
    assert many.stderr == one.stderr


def test_analyze_and_check(built: dict[str, Path]) -> None:
    single, sharded = built["single"], built["sharded"]
    assert run("--index", sharded, "analyze", "民族团结").stdout == run("--index", single, "analyze", "民族团结").stdout
    assert run("--index", sharded, "analyze", "--query", "中国 历史").stdout == run(
        "--index", single, "analyze", "--query", "中国 历史").stdout
    result = run("--index", sharded, "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"index at {sharded} is sound ({len(RECORDS)} articles")


def test_serve_answers_from_a_sharded_index_in_one_process(built: dict[str, Path]) -> None:
    from starlette.testclient import TestClient

    from searchkit.server import create_app

    with SearchIndex.open(built["sharded"]) as index, TestClient(create_app(index)) as client:
        found = client.get("/search", params={"q": "中国", "limit": "50"}).json()
        assert found["total"] == search(built["single"], "中国")["total"]
        assert client.get(f"/articles/{RECORDS[2]['id']}").json()["title"] == RECORDS[2]["title"]
        assert client.get("/stats").json()["shards"] == 3
    refused = run("--index", built["sharded"], "serve", "--workers", "2")
    assert (refused.exit_code, refused.stderr) == (2, "Error: a sharded index is served by one process (its searches "
                                                      "fan out to the shards from there): leave out --workers\n")


def test_open_gives_the_right_kind(built: dict[str, Path]) -> None:
    with SearchIndex.open(built["sharded"]) as index:
        assert isinstance(index, ShardedIndex) and index.count == 3
        assert index.get_article(RECORDS[0]["id"]).title == RECORDS[0]["title"]
        assert [info.article_id for info in index.list_articles()] == sorted(r["id"] for r in RECORDS)
    with SearchIndex.open(built["single"]) as index:
        assert type(index) is SearchIndex
    with pytest.raises(IndexVersionError, match="is sharded: open it with SearchIndex.open"):
        SearchIndex(built["sharded"])
    assert SearchIndex.exists(built["sharded"]) and SearchIndex.is_sharded(built["sharded"])


@pytest.mark.parametrize(("other", "said"), [
    ({"grams": 2}, "was built with grams=1: "),
    ({"pinyin": True}, "was built without pinyin: "),
    ({"dictionary": "0123abcd"}, "was segmented with another user dictionary: "),
    ({"mode": "exact"}, "was built with other analyzer settings ("),
], ids=["grams", "pinyin", "dictionary", "other"])
def test_other_settings_are_refused_as_for_one_index(built: dict[str, Path], other: dict[str, Any], said: str) -> None:
    settings = replace(AnalyzerSettings(), **other)
    messages = []
    for kind in ("single", "sharded"):
        with pytest.raises(IndexVersionError) as refused:
            SearchIndex.open(built[kind], settings=settings)
        messages.append(str(refused.value).replace(str(built[kind]), "IX"))
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"index at IX {said}")


# --------------------------------------------------------------------------
# Writing


def test_bad_records_are_reported_by_line_and_the_rest_is_indexed(tmp_path: Path, scheduler: str) -> None:
    data = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": f"r{i}", "title": f"标题{i}", "text": f"第{i}段正文，民族团结。"}, ensure_ascii=False)
             for i in range(6)]
    lines[2] = '{"id": "bad", "title": '
    lines[4] = json.dumps({"id": "notext", "title": "无正文"}, ensure_ascii=False)
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("--index", tmp_path / "ix", "index", "--shards", "2", "--scheduler", scheduler, data)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(": ")[1] for line in errors] == [f"{data.resolve()}:3", f"{data.resolve()}:5"]
    assert result.stdout.startswith("indexed: 1 added, 0 updated, 0 unchanged, 0 skipped, 0 failed, 2 failed records in 1 file")
    assert [a["article_id"] for a in listed(tmp_path / "ix")] == ["r0", "r1", "r3", "r5"]
    # The file is not recorded as indexed (it had bad records): the next run reads it again.
    again = run("--index", tmp_path / "ix", "index", data)
    assert again.exit_code == 1 and again.stdout.startswith("indexed: 1 added, 0 updated")  # as one index


def test_a_later_record_with_the_same_id_wins_in_every_shard(tmp_path: Path, scheduler: str) -> None:
    records = [{"id": f"a{i % 7}", "title": f"第{i}版", "text": f"版本{i}的正文。"} for i in range(40)]
    data = write_jsonl(tmp_path / "in.jsonl", records)
    result = run("--index", tmp_path / "ix", "index", "--shards", "3", "--scheduler", scheduler, "--batch-size", "2", data)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: ") == 33  # every repeat, as one index warns
    assert {a["article_id"]: a["title"] for a in listed(tmp_path / "ix")} == {
        f"a{n}": f"第{max(i for i in range(40) if i % 7 == n)}版" for n in range(7)}
    found = search(tmp_path / "ix", "版本39")
    assert (found["total"], found["hits"][0]["article_id"]) == (1, "a4")


def test_a_changed_file_replaces_its_articles_in_every_shard(tmp_path: Path, scheduler: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    # Enough lines that each shard holds some (an article's id is the file's path and its line).
    count = 12
    while len({shard_of(f"{(folder / 'news.jsonl').resolve()}:{line}", 3) for line in range(1, count + 1)}) < 3:
        count += 1
    data = write_jsonl(folder / "news.jsonl", [{"title": f"旧闻{i}", "text": f"旧的正文{i}。"} for i in range(count)])
    index = tmp_path / "ix"
    assert run("--index", index, "index", "--shards", "3", "--scheduler", scheduler, folder).exit_code == 0
    assert len(listed(index)) == count and all(ids for ids in shard_ids(index).values())
    unchanged = run("--index", index, "index", "--scheduler", scheduler, folder)
    assert unchanged.stdout.startswith("indexed: 0 added, 0 updated, 1 unchanged")
    write_jsonl(data, [{"title": f"新闻{i}", "text": f"新的正文{i}。"} for i in range(3)])
    updated = run("--index", index, "index", "--scheduler", scheduler, folder)
    assert updated.stdout.startswith("indexed: 0 added, 1 updated"), updated.output
    assert [a["title"] for a in listed(index)] == ["新闻0", "新闻1", "新闻2"]
    moved = folder / "moved.jsonl"
    data.rename(moved)
    result = run("--index", index, "index", "--scheduler", scheduler, folder)
    assert result.exit_code == 0 and ", 1 moved" in result.stdout
    assert [a["article_id"] for a in listed(index)] == [f"{moved.resolve()}:{n}" for n in (1, 2, 3)]
    moved.unlink()
    gone = run("--index", index, "index", "--scheduler", scheduler, "--prune", folder)
    assert gone.exit_code == 0 and "1 gone and pruned" in gone.stdout
    assert listed(index) == []
    assert run("--index", index, "check").exit_code == 0


def test_without_scheduler_a_local_cluster_writes(tmp_path: Path) -> None:
    result = run("--index", tmp_path / "ix", "index", "--shards", "2", "--workers", "1", SEEDS)
    assert result.exit_code == 0, result.output
    assert result.stdout == "indexed: 1 added, 0 updated, 0 unchanged, 0 skipped, 0 failed (7 articles, 43 paragraphs written)\n"
    assert len(listed(tmp_path / "ix")) == 7 and search(tmp_path / "ix", "民族团结")["total"] == 3


def test_the_api_writes_through_a_dask_client(tmp_path: Path, scheduler: str) -> None:
    with distributed.Client(scheduler) as client:
        index = SearchIndex.open(tmp_path / "ix", shards=2, scheduler=client)
        assert isinstance(index, ShardedIndex)
        report = index.add_articles([Article(id=f"n{i}", title=f"新闻{i}", paragraphs=[f"珠峰{i}号营地"]) for i in range(5)])
        assert (report.added, report.articles, report.paragraphs) == (5, 5, 5)
        assert index.search("珠峰").total == 5
        assert index.add_article(Article(id="n9", title="又一则", paragraphs=["珠峰"])) == "n9"
        index.delete("n0")
        assert index.search("珠峰").total == 5 and index.stats().articles == 5
        index.close()


def test_remove_synonyms_dictionary_reindex_and_optimize(tmp_path: Path, scheduler: str) -> None:
    index = tmp_path / "ix"
    data = write_jsonl(tmp_path / "in.jsonl", [{k: r[k] for k in ("id", "title", "paragraphs")} for r in RECORDS[:30]])
    assert run("--index", index, "index", "--shards", "2", "--scheduler", scheduler, data, SEEDS).exit_code == 0
    assert run("--index", index, "remove", RECORDS[1]["id"]).stdout == f"removed 1 article ({RECORDS[1]['id']})\n"
    assert run("--index", index, "remove", SEEDS).stdout == f"removed 7 articles ({SEEDS})\n"
    missing = run("--index", index, "remove", "nothing-such")
    assert (missing.exit_code, missing.stderr) == (1, "Error: no article or indexed file 'nothing-such'\n")
    assert len(listed(index)) == 29

    (tmp_path / "syn.txt").write_text("泡泡堂, 水枪大战\n", encoding="utf-8")
    assert run("--index", index, "synonyms", tmp_path / "syn.txt").stdout == "synonyms: 1 rule set\n"
    for number in range(2):
        assert SearchIndex(index / f"shard-{number:03d}").synonyms() == ["泡泡堂, 水枪大战"]
    assert run("--index", index, "synonyms", "--show").stdout == "泡泡堂, 水枪大战\n"
    assert search(index, "水枪大战")["total"] == search(index, "泡泡堂")["total"] > 0

    (tmp_path / "words.txt").write_text("卡丁车\n", encoding="utf-8")
    result = run("--index", index, "dictionary", tmp_path / "words.txt")
    assert result.exit_code == 0 and result.stdout.startswith("dictionary: 1 word set; 1 word changed"), result.output
    recorded = json.loads((index / SHARD_MAP_FILE).read_text())["analyzer"]
    assert recorded["dictionary"] == SearchIndex(index / "shard-000").settings.dictionary == SearchIndex(
        index / "shard-001").settings.dictionary != ""

    result = run("--index", index, "reindex")
    assert result.stdout == "reindexed: 29 articles, " + result.stdout.split(", ", 1)[1] and result.exit_code == 0
    assert run("--index", index, "optimize").exit_code == 0
    assert run("--index", index, "check").exit_code == 0
    assert len(listed(index)) == 29 and search(index, "水枪大战")["total"] > 0


# --------------------------------------------------------------------------
# What is refused, in one line


def test_options_that_do_not_fit_are_refused_in_one_line(tmp_path: Path, built: dict[str, Path]) -> None:
    def refused(*args: Any) -> tuple[int, str]:
        result = run(*args)
        return result.exit_code, result.stderr

    sharded, single = built["sharded"], built["single"]
    assert refused("--index", sharded, "index", "--shards", "2", SEEDS) == (
        3, f"Error: index at {sharded} has 3 shards, not 2: give --shards 3, or leave it out\n")
    assert refused("--index", single, "index", "--shards", "2", SEEDS) == (
        3, (f"Error: index at {single} is a single index, not sharded: make the sharded one in another directory "
            "(or leave out --shards to add to this one)\n"))
    assert refused("--index", tmp_path / "new", "index", "--shards", "2", "--placement", "workers", SEEDS) == (
        2, ("Error: --placement workers needs --scheduler ADDRESS: a Dask cluster that outlives this command holds "
            "the shards\n"))
    assert refused("--index", single, "index", "--scheduler", "tcp://127.0.0.1:1", SEEDS) == (
        2, "Error: --scheduler and --placement are for a sharded index: add --shards N\n")
    assert not (tmp_path / "new").exists()


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import searchkit.distributed

    monkeypatch.setattr(searchkit.distributed, "CONNECT_TIMEOUT", 0.5)
    result = run("--index", tmp_path / "ix", "index", "--shards", "2", "--scheduler", "tcp://127.0.0.1:9", SEEDS)
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 (")
    assert result.stderr.endswith("): start it, or give another with --scheduler\n") and result.stderr.count("\n") == 1


def test_without_dask_a_sharded_write_says_what_to_install(tmp_path: Path, built: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails, as without the extra
    result = run("--index", tmp_path / "ix", "index", "--shards", "2", SEEDS)
    assert (result.exit_code, result.stderr) == (1, "Error: a sharded index needs Dask: pip install 'searchkit[distributed]'\n")
    result = run("--index", built["sharded"], "index", SEEDS)
    assert (result.exit_code, result.stderr) == (1, "Error: a sharded index needs Dask: pip install 'searchkit[distributed]'\n")
    # Shards on shared storage are read here: searching needs no Dask.
    assert search(built["sharded"], "中国")["total"] == search(built["single"], "中国")["total"]


def test_a_shard_that_cannot_be_read_fails_the_search_unless_partial_answers_are_allowed(
        tmp_path: Path, built: dict[str, Path]) -> None:
    index = tmp_path / "ix"
    shutil.copytree(built["sharded"], index)
    everything = search(index, "中国", "--limit", "200")
    shutil.rmtree(index / "shard-001")
    result = run("--index", index, "search", "中国")
    assert (result.exit_code, result.stderr) == (3, f"Error: shard 1 ({(index / 'shard-001').resolve()}): its directory is missing\n")
    partial = search(index, "中国", "--limit", "200", "--allow-partial")
    assert partial["partial_shards"] == [f"shard 1 ({(index / 'shard-001').resolve()})"]
    # The others' hits (scored with their own statistics: shard 1's are missing).
    assert sorted((h["article_id"], h["paragraph"]) for h in everything["hits"] if shard_of(h["article_id"], 3) != 1) == \
        sorted((h["article_id"], h["paragraph"]) for h in partial["hits"])
    text = run("--index", index, "search", "中国", "--allow-partial")
    assert text.exit_code == 0 and f"note: no answer from shard 1 ({(index / 'shard-001').resolve()})" in text.stderr
    with SearchIndex.open(index) as opened, pytest.raises(ShardUnavailableError):
        opened.search("中国")


def test_check_finds_an_article_in_the_wrong_shard(tmp_path: Path, built: dict[str, Path]) -> None:
    index = tmp_path / "ix"
    shutil.copytree(built["sharded"], index)
    stray = next(f"stray{i}" for i in range(100) if shard_of(f"stray{i}", 3) != 0)
    with SearchIndex(index / "shard-000") as shard:
        shard.add_articles([Article(id=stray, title="走错了", paragraphs=["不该在这里"])])
    result = run("--index", index, "check")
    assert result.exit_code == 3
    assert (f"problem: shard 0 ({(index / 'shard-000').resolve()}) holds article {stray!r}, which belongs in shard "
            f"{shard_of(stray, 3)}\n") in result.stdout


# --------------------------------------------------------------------------
# The writer's order, bounds and records of files (a runner in this process)


class Runner:
    """Runs batches in order of submission, one per wait; records what it saw."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.shards: dict[int, dict[str, str]] = {}
        self.markers: dict[int, list[str]] = {}
        self.queue: list[tuple[int, list, int]] = []
        self.most_running = 0
        self.most_per_shard = 0
        self.done = 0
        self.fail_on = fail_on
        self.order: list[tuple[int, int]] = []  # (shard, batch number) as committed

    def submit(self, shard: int, operations: list) -> int:
        ticket = len(self.order) + len(self.queue)
        self.queue.append((shard, operations, ticket))
        self.most_running = max(self.most_running, len(self.queue))
        self.most_per_shard = max(self.most_per_shard, Counter(s for s, _o, _t in self.queue)[shard])
        return ticket

    def wait(self, futures: list) -> list:
        assert futures
        return [self.queue[0][2]]

    def result(self, ticket: int) -> tuple[int, int]:
        shard, operations, _ = self.queue.pop(0)
        self.done += 1
        if self.done == self.fail_on:
            raise ShardUnavailableError(f"shard {shard}: lost")
        held = self.shards.setdefault(shard, {})
        for operation in operations:
            if operation[0] == "add":
                held[operation[1].id] = operation[1].title
            elif operation[0] == "finish_source":
                # Every article of the file is committed, in every shard, before its record.
                assert all(title.startswith(operation[1]) for s in self.shards.values() for title in s.values()
                           if title.startswith(operation[1]))
                self.markers.setdefault(shard, []).append(operation[1])
        self.order.append((shard, ticket))
        return len([o for o in operations if o[0] == "add"]), 0

    def cancel(self, futures: list) -> None:
        self.queue.clear()


def test_the_writer_keeps_each_shard_s_order_and_bounds_the_batches_in_flight() -> None:
    runner = Runner()
    with ShardedWriter(3, runner, batch_size=2, max_batches=4) as writer:  # type: ignore[arg-type]
        for i in range(200):
            writer.add_article(Article(id=f"a{i % 11}", title=f"v{i}", paragraphs=["x"]))
    assert runner.most_per_shard == 1 and runner.most_running <= 3  # one batch per shard at a time
    assert {i: t for held in runner.shards.values() for i, t in held.items()} == {
        f"a{n}": f"v{max(i for i in range(200) if i % 11 == n)}" for n in range(11)}
    assert writer.articles_written == 200


def test_a_file_is_recorded_after_all_its_batches_and_not_when_one_fails() -> None:
    runner = Runner()
    with ShardedWriter(3, runner, batch_size=3) as writer:  # type: ignore[arg-type]
        for name in ("f1", "f2"):
            writer.replace_source(name)
            for i in range(10):
                writer.add_article(Article(id=f"{name}#{i}", title=f"{name} {i}", paragraphs=["x"]), origin=name)
            writer.finish_source(name, "hash")
    assert sorted(m for markers in runner.markers.values() for m in markers) == ["f1", "f2"]
    assert runner.markers[shard_of("f1", 3)].count("f1") == 1

    failing = Runner(fail_on=3)
    with pytest.raises(ShardUnavailableError), ShardedWriter(3, failing, batch_size=3) as writer:  # type: ignore[arg-type]
        writer.replace_source("f1")
        for i in range(30):
            writer.add_article(Article(id=f"f1#{i}", title=f"f1 {i}", paragraphs=["x"]), origin="f1")
        writer.finish_source("f1", "hash")
    assert failing.markers == {}


# --------------------------------------------------------------------------
# Layers


def _imports(module: str) -> list[tuple[str, bool]]:
    """(module imported, at the module's top level) for each import in searchkit/MODULE.py."""
    tree = ast.parse((ROOT / "searchkit" / f"{module}.py").read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((("." * node.level) + node.module, id(node) in top))
        elif isinstance(node, ast.ImportFrom):
            found += [(("." * node.level) + alias.name, id(node) in top) for alias in node.names]
    return found


def test_dask_is_imported_in_searchkit_distributed_only_and_when_called() -> None:
    for module in ("shards", "ingest", "index", "cli", "fanout", "maintenance"):
        assert not [name for name, _top in _imports(module) if name.split(".")[0] in ("dask", "distributed")], module
    dask = [(name, top) for name, top in _imports("distributed") if name.split(".")[0] in ("dask", "distributed")]
    assert dask and not any(top for _name, top in dask)
    for module in ("shards", "distributed", "ingest"):
        assert not [name for name, _top in _imports(module) if name in (".index", "searchkit.index")], module
