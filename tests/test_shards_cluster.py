"""A sharded index on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes
on loopback, started here and stopped at the end of each test.

- shards on the workers' own disks, each worker serving its shards' searches;
  a worker gone makes a search fail in one line, or answer from the other
  shards with ``--allow-partial``; started again, it serves its shards again;
- a worker killed during indexing (after a commit it did not report): the
  run completes (its batch runs again), with every article once, and a
  second run finds nothing to do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from searchkit import SearchIndex
from searchkit.cli import cli
from searchkit.shards import SHARD_MAP_FILE, shard_of

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

SAMPLE = Path(__file__).resolve().parent / "data" / "qa_sample.jsonl"
RECORDS = [{k: v for k, v in json.loads(line).items() if k in ("id", "title", "paragraphs", "source", "author", "date")}
           for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
STOP_TIMEOUT = 60


class Cluster:
    """A ``dask scheduler`` and named ``dask worker`` processes (one thread each) on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        scheduler_file = folder / "scheduler.json"
        self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)])
        while not scheduler_file.exists():
            assert self.processes["scheduler"].poll() is None, "dask scheduler did not start"
            time.sleep(0.1)
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.scheduler_file = scheduler_file
        self.client = distributed.Client(self.address, timeout=60)

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=log,
                                                cwd=self.folder)

    def start_worker(self, name: str, nanny: bool = True) -> None:
        self._start(name, ["worker", "--scheduler-file", str(self.scheduler_file), "--name", name,
                           "--local-directory", str(self.folder / name), "--nthreads", "1", "--host", "127.0.0.1",
                           "--dashboard-address", "127.0.0.1:0", "--nanny" if nanny else "--no-nanny"])
        self.wait_for(lambda names: name in names)

    def names(self) -> dict[str, str]:
        """Worker name -> address, as the scheduler has them now."""
        return {info["name"]: address for address, info in self.client.scheduler_info()["workers"].items()}

    def wait_for(self, condition: Any) -> None:
        while not condition(self.names()):
            time.sleep(0.2)

    def pid(self, name: str) -> int:
        address = self.names()[name]
        return self.client.run(os.getpid, workers=[address])[address]  # type: ignore[no-any-return]

    def kill(self, name: str) -> None:
        """SIGKILL the worker's process (a worker without a nanny: gone for good)."""
        os.kill(self.pid(name), signal.SIGKILL)
        self.wait_for(lambda names: name not in names)

    def stop(self) -> None:
        self.client.close()
        for name in [n for n in self.processes if n != "scheduler"] + ["scheduler"]:
            process = self.processes[name]
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def run(*args: Any, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], input=stdin)


def write_records(path: Path, copies: int = 1) -> Path:
    """The QA sample; ``copies`` times over with new ids (ID-0, ID-1, ...) if more than one."""
    lines = [json.dumps({**r, "id": f"{r['id']}-{n}" if copies > 1 else r["id"]}, ensure_ascii=False)
             for n in range(copies) for r in RECORDS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def listed_ids(index: Path) -> list[str]:
    result = run("--index", index, "list", "--json")
    assert result.exit_code == 0, result.output
    return [article["article_id"] for article in json.loads(result.stdout)]


def hits(index: Path, query: str, *args: str) -> dict[str, Any]:
    result = run("--index", index, "search", query, "--limit", "500", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def keys(found: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted((hit["article_id"], hit["paragraph"]) for hit in found["hits"])


def test_shards_on_the_workers_disks_served_by_the_workers(tmp_path: Path, cluster: Cluster) -> None:
    cluster.start_worker("w1")
    cluster.start_worker("w2", nanny=False)  # killed below, it stays gone
    data = write_records(tmp_path / "qa.jsonl")
    single, index = tmp_path / "single", tmp_path / "ix"
    assert run("--index", single, "index", "--workers", "1", data).exit_code == 0
    result = run("--index", index, "index", "--shards", "4", "--placement", "workers", "--scheduler", cluster.address, data)
    assert result.exit_code == 0, result.output

    # The coordinator holds the shard map only; each shard is under its worker's --local-directory.
    assert sorted(p.name for p in index.iterdir()) == [SHARD_MAP_FILE]
    shard_map = json.loads((index / SHARD_MAP_FILE).read_text())
    assert (shard_map["placement"], shard_map["scheduler"]) == ("workers", cluster.address)
    assert [place["worker"] for place in shard_map["layout"]] == ["w1", "w2", "w1", "w2"]
    for place in shard_map["layout"]:
        home = Path(place["path"])
        assert home.is_relative_to((tmp_path / place["worker"]).resolve())
        with SearchIndex(home) as shard:
            assert {a.article_id for a in shard.list_articles()} == {
                r["id"] for r in RECORDS if shard_of(r["id"], 4) == place["shard"]}

    assert listed_ids(index) == listed_ids(single)
    for query in ("中国", RECORDS[5]["title"], "泡泡堂 -卡丁车"):
        one, many = hits(single, query), hits(index, query)
        assert (many["total"], keys(many)) == (one["total"], keys(one))
        assert [round(h["score"], 6) for h in many["hits"]] == [round(h["score"], 6) for h in one["hits"]]
    assert run("--index", index, "show", RECORDS[9]["id"]).stdout == run("--index", single, "show", RECORDS[9]["id"]).stdout
    stats = json.loads(run("--index", index, "stats", "--json").stdout)
    assert (stats["articles"], stats["shards"], stats["placement"]) == (len(RECORDS), 4, "workers")
    assert run("--index", index, "check").exit_code == 0

    everything = hits(index, "中国")
    cluster.kill("w2")
    failed = run("--index", index, "search", "中国")
    assert failed.exit_code == 3
    assert failed.stderr.startswith("Error: shard 1 (worker w2: ") and failed.stderr.count("\n") == 1
    partial = hits(index, "中国", "--allow-partial")
    assert [name.split(":")[0] for name in partial["partial_shards"]] == ["shard 1 (worker w2", "shard 3 (worker w2"]
    assert keys(partial) == sorted(k for k in keys(everything) if shard_of(k[0], 4) in (0, 2))

    cluster.start_worker("w2", nanny=False)  # the same name and disk: it serves its shards again
    assert keys(hits(index, "中国")) == keys(everything)


def _killer(dask_worker: Any = None) -> int:
    """On a worker: its second batch commits, then the process dies before reporting it."""
    import os
    import signal

    import searchkit.distributed

    original = searchkit.distributed.apply_batch
    calls = []

    def apply_then_die(*args: Any) -> Any:
        calls.append(1)
        answer = original(*args)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return answer

    searchkit.distributed.apply_batch = apply_then_die
    return os.getpid()


@pytest.mark.parametrize("placement", ["shared", "workers"])
def test_a_worker_killed_while_indexing(tmp_path: Path, cluster: Cluster, placement: str) -> None:
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    data = write_records(tmp_path / "qa.jsonl", copies=4)
    expected = sorted(f"{r['id']}-{n}" for n in range(4) for r in RECORDS)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        address = cluster.names()["w1"]
        killed = cluster.client.run(_killer, workers=[address])[address]
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    index = tmp_path / "ix"
    result = run("--index", index, "index", "--shards", "4", "--placement", placement, "--scheduler", cluster.address,
                 "--batch-size", "20", data)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("indexed: 1 added, 0 updated, 0 unchanged, 0 skipped, 0 failed ")
    cluster.wait_for(lambda names: "w1" in names)
    assert cluster.pid("w1") != killed  # its nanny started it again: the kill happened
    assert listed_ids(index) == expected  # every article, once
    assert run("--index", index, "check").exit_code == 0
    again = run("--index", index, "index", "--scheduler", cluster.address, data)
    assert again.stdout.startswith("indexed: 0 added, 0 updated, 1 unchanged"), again.output
    assert listed_ids(index) == expected
