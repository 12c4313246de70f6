"""Reliability: crashes, concurrent writers and readers, damaged indexes, limits.

The CLI runs in subprocesses where a real process matters (SIGKILL, two
writers, a reader beside a writer); in-process otherwise, for speed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from whoosh import query as wquery

from searchkit import AnalyzerSettings, Article, SearchIndex
from searchkit import cli as cli_module
from searchkit.cli import cli
from searchkit.errors import IndexLockedError, IndexVersionError, QueryError

from .conftest import CORPUS, SEED

CLI = [sys.executable, "-m", "searchkit.cli"]

# Runs the CLI with IndexWriter.commit (or Whoosh's rename of a new table of
# contents, i.e. inside a commit) patched to stall at the N-th time, after
# touching a flag file, so the test can SIGKILL it at a known point.
STALLING_CLI = r"""
import os, sys, time
import searchkit.index as ix
from whoosh.filedb.filestore import FileStorage
stall_at = int(os.environ["STALL_AT"])
count = [0]
def stall():
    count[0] += 1
    if count[0] == stall_at:
        open(os.environ["STALL_FLAG"], "w").close()
        time.sleep(120)
if os.environ["STALL_WHERE"] == "after-commit":
    commit = ix.IndexWriter.commit
    def patched(self):
        pending = bool(self._articles)
        commit(self)
        if pending:
            stall()
    ix.IndexWriter.commit = patched
else:
    rename = FileStorage.rename_file
    def patched(self, frm, to, safe=False):
        if to.endswith(".toc") and not to.endswith("_0.toc"):
            stall()
        return rename(self, frm, to, safe)
    FileStorage.rename_file = patched
from searchkit.cli import main
sys.argv[0] = "searchkit"
main()
"""


def write_jsonl(path: Path, count: int, prefix: str, word: str = "共同关键词") -> list[str]:
    ids = [f"{prefix}{i}" for i in range(count)]
    with path.open("w", encoding="utf-8") as handle:
        for i, article_id in enumerate(ids):
            record = {"id": article_id, "title": f"标题{prefix}{i}", "paragraphs": [f"第{i}篇{word}的正文。"]}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return ids


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the process never reached the stall point")
        time.sleep(0.02)


def stop_while_stalled(tmp_path: Path, where: str, stall_at: int, workers: str, stop: signal.Signals,
                       prefix: str) -> tuple[Path, Path, list[str], subprocess.CompletedProcess[str]]:
    """Index 300 articles in batches of 50 with STALLING_CLI, send ``stop``
    at the stall; (data file, index, article ids, the ended process)."""
    data = tmp_path / "articles.jsonl"
    ids = write_jsonl(data, 300, prefix)
    ix = tmp_path / "ix"
    flag = tmp_path / "stalled"
    env = {**os.environ, "STALL_AT": str(stall_at), "STALL_FLAG": str(flag), "STALL_WHERE": where}
    args = ["--index", str(ix), "index", str(data), "--batch-size", "50", "--workers", workers]
    proc = subprocess.Popen([sys.executable, "-c", STALLING_CLI, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(flag, proc)
    finally:
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=60)
    return data, ix, ids, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def unlisted_segment_files(ix: Path) -> list[str]:
    """Files of segments no table of contents lists (a writer's unfinished work)."""
    listed = {segment.segment_id() for segment in SearchIndex(ix).store.listed_segments()}
    return sorted(name for name in os.listdir(ix)
                  if name.startswith("MAIN_") and name != "MAIN_WRITELOCK" and name.split(".")[0] not in listed)


def article_ids(path: Path) -> list[str]:
    return [a.article_id for a in SearchIndex(path).list_articles()]


# --------------------------------------------------------------------------
# Crash safety


@pytest.mark.parametrize(("where", "stall_at", "committed"), [("after-commit", 2, 100), ("inside-commit", 3, 100)])
def test_sigkill_keeps_committed_batches_and_rerun_completes(
    tmp_path: Path, where: str, stall_at: int, committed: int
) -> None:
    data, ix, ids, _killed = stop_while_stalled(tmp_path, where, stall_at, "1", signal.SIGKILL, "k")
    # inside-commit: killed before the 3rd table of contents (1st is the empty
    # index), so the 2nd batch is the last committed one.
    index = SearchIndex(ix)
    stats = index.stats()
    assert (stats.articles, stats.paragraphs, stats.sources) == (committed, committed, 0)
    assert index.search("共同关键词", limit=1, level="paragraph").total == committed
    assert sorted(article_ids(ix)) == sorted(ids[:committed])
    assert (ix / "MAIN_WRITELOCK").exists()  # left behind, but an flock dies with its process
    index.close()

    again = run_cli("--index", str(ix), "--lock-timeout", "0", "index", str(data), "--batch-size", "50")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "indexed: 1 added, 0 updated, 0 unchanged, 0 skipped, 0 failed (300 articles, 300 paragraphs written)\n"
    listed = article_ids(ix)
    assert len(listed) == len(set(listed)) == 300
    assert set(listed) == set(ids)
    assert SearchIndex(ix).search("共同关键词", limit=1, level="paragraph").total == 300
    report = SearchIndex(ix).check()
    assert report.ok, report.problems
    assert (report.articles, report.paragraphs, report.sources) == (300, 300, 1)


@pytest.mark.parametrize(("where", "stall_at", "workers"),
                         [("after-commit", 2, "1"), ("after-commit", 2, "2"), ("inside-commit", 3, "1")])
def test_sigterm_says_interrupted_keeps_committed_batches_and_rerun_completes(
    tmp_path: Path, where: str, stall_at: int, workers: str
) -> None:
    data, ix, ids, stopped = stop_while_stalled(tmp_path, where, stall_at, workers, signal.SIGTERM, "t")
    assert (stopped.returncode, stopped.stdout, stopped.stderr) == (143, "", "interrupted\n")
    assert unlisted_segment_files(ix) == []
    index = SearchIndex(ix)
    stats = index.stats()
    assert (stats.articles, stats.paragraphs, stats.sources) == (100, 100, 0)
    assert sorted(article_ids(ix)) == sorted(ids[:100])
    index.close()
    # The lock was let go on the way out: a writer that will not wait gets it.
    again = run_cli("--index", str(ix), "--lock-timeout", "0", "index", str(data), "--batch-size", "50")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "indexed: 1 added, 0 updated, 0 unchanged, 0 skipped, 0 failed (300 articles, 300 paragraphs written)\n"
    assert sorted(article_ids(ix)) == sorted(ids)
    report = SearchIndex(ix).check()
    assert report.ok, report.problems


def test_sigterm_handler_is_the_commands_only(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                              seeded: Path) -> None:
    seen = []
    monkeypatch.setattr(SearchIndex, "list_articles", lambda *a, **k: seen.append(signal.getsignal(signal.SIGTERM)) or [])
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "list")[0] == 0
    assert seen == [cli_module._terminate]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored after the command

    def terminated(*args, **kwargs):
        raise cli_module._Terminated

    monkeypatch.setattr(SearchIndex, "list_articles", terminated)
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "list") == (143, "", "interrupted\n")


def test_check_notes_a_file_whose_indexing_did_not_finish(tmp_path: Path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    with ix.writer() as writer:
        writer.add_article(Article(id="x1", title="题", paragraphs=["一段话。"]), origin="/data/f.jsonl")
    report = ix.check()
    assert report.ok
    assert report.notes == [
        "1 articles from 1 files whose indexing did not finish (an interrupted run or a failed file): index those files again"
    ]


# --------------------------------------------------------------------------
# Concurrency


def test_two_writers_both_land(tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    SearchIndex.create(ix).close()
    files = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    ids = write_jsonl(files[0], 150, "a") + write_jsonl(files[1], 150, "b")
    procs = [
        subprocess.Popen([*CLI, "--index", str(ix), "index", str(f), "--batch-size", "10", "--workers", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for f in files
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    listed = article_ids(ix)
    assert sorted(listed) == sorted(ids)
    assert SearchIndex(ix).check().ok


def test_lock_timeout_message_and_exit_code(tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    data = tmp_path / "a.jsonl"
    write_jsonl(data, 3, "a")
    holder = SearchIndex.create(ix)
    writer = holder.store.writer(30.0)  # holds Whoosh's write lock
    try:
        result = run_cli("--index", str(ix), "--lock-timeout", "0.5", "index", str(data))
        assert result.returncode == 4
        assert result.stderr == (
            f"Error: index at {ix} is locked by another writer; gave up after 0.5 s (raise --lock-timeout or try again)\n"
        )
        runner = CliRunner()
        reindexed = runner.invoke(cli, ["--index", str(ix), "--lock-timeout", "0.2", "reindex"])
        assert reindexed.exit_code == 4
        assert reindexed.stderr == (
            f"Error: index at {ix} is locked by another writer; gave up after 0.2 s (raise --lock-timeout or try again)\n"
        )
        with pytest.raises(IndexLockedError):
            SearchIndex(ix, lock_timeout=0).add_article(Article(id="z", title="t", paragraphs=["p"]))
        # Readers are never blocked by a writer.
        assert SearchIndex(ix).stats().articles == 0
    finally:
        writer.cancel()
    assert run_cli("--index", str(ix), "--lock-timeout", "0", "index", str(data)).returncode == 0


def test_optimize_waits_for_the_lock_and_gives_up_with_a_message(tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    holder = SearchIndex.create(ix)
    holder.add_articles([Article(id="a", title="t", paragraphs=["甲"])], workers=1)
    holder.add_articles([Article(id="b", title="t", paragraphs=["乙"])], workers=1)
    writer = holder.store.writer(30.0)
    try:
        optimized = CliRunner().invoke(cli, ["--index", str(ix), "--lock-timeout", "0.2", "optimize"])
        assert optimized.exit_code == 4
        assert optimized.stderr == (
            f"Error: index at {ix} is locked by another writer; gave up after 0.2 s (raise --lock-timeout or try again)\n"
        )
    finally:
        writer.cancel()
    assert SearchIndex(ix).stats().segments == 2
    assert SearchIndex(ix).optimize().summary() == "2 segments merged into 1"


def test_searches_during_indexing_see_committed_states(tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    SearchIndex.create(ix).close()
    data = tmp_path / "a.jsonl"
    write_jsonl(data, 200, "a")
    reader = SearchIndex(ix)
    proc = subprocess.Popen([*CLI, "--index", str(ix), "index", str(data), "--batch-size", "20", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    totals = []
    while proc.poll() is None:
        totals.append(reader.search("共同关键词", limit=3, level="paragraph").total)
        totals.append(SearchIndex(ix).stats().articles)  # a fresh opening each time, too
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    totals.append(reader.search("共同关键词", limit=3, level="paragraph").total)
    assert totals[-1] == 200
    assert all(total % 20 == 0 for total in totals), sorted(set(totals))


def test_threads_searching_one_index_agree_with_serial(tmp_path: Path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    ix.add_articles(CORPUS, workers=1)
    queries = ["民族团结", "珠峰", "日喀則", '"冬游 西藏"', "珠峰 OR 昂仁县", "title:冬游", "民族团结 -珠峰",
               "哪里可以冬游西藏", "GPS", "8.77亿元"]
    serial = {q: ix.search(q, limit=5, level="paragraph").to_json() for q in queries}
    fresh = SearchIndex(tmp_path / "ix")  # searchers opened by the threads only

    def run(q: str) -> tuple[str, dict]:
        return q, fresh.search(q, limit=5, level="paragraph").to_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, queries * 8))
    for q, data in results:
        assert data == serial[q], q


# --------------------------------------------------------------------------
# Damaged, foreign and incompatible indexes


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ix = tmp_path_factory.mktemp("template") / "ix"
    SearchIndex.create(ix).add_files([SEED], workers=1)
    return ix


@pytest.fixture()
def seeded(seeded_template: Path, tmp_path: Path) -> Path:
    ix = tmp_path / "ix"
    shutil.copytree(seeded_template, ix)
    return ix


def cli_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """Runs the real entry point (main(), with its last-line error handling) in-process."""
    monkeypatch.setattr(sys, "argv", ["searchkit", *args])
    monkeypatch.setattr(cli_module, "_OPENED", [])
    monkeypatch.delenv("SEARCHKIT_DEBUG", raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli_module.main()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 0), out, err


def assert_answered_or_damaged(code: int, err: str, ix: Path, context: object) -> None:
    """A command on a damaged index: answered (exit 0), or the one-line damage message (exit 3)."""
    assert code in (0, 3), (context, err)
    assert "Traceback" not in err and err.count("\n") <= 1, (context, err)
    if code == 3:
        assert err.startswith(f"Error: index at {ix} is damaged ("), err


def segment_file(ix: Path) -> Path:
    (seg,) = ix.glob("*.seg")
    return seg


def damaged(ix: Path, kind: str) -> str:
    return (
        f"Error: index at {ix} is damaged ({kind}): rebuild it with `searchkit --index {ix} reindex` "
        "(if that fails, delete it and index your files again)\n"
    )


@pytest.mark.parametrize("command", [("search", "珠峰"), ("list",), ("stats",), ("index", str(SEED))])
def test_truncated_segment(capsys, monkeypatch, seeded: Path, command: tuple[str, ...]) -> None:
    seg = segment_file(seeded)
    with seg.open("r+b") as handle:
        handle.truncate(1000)
    code, out, err = cli_main(capsys, monkeypatch, "--index", str(seeded), *command)
    assert (code, out, err) == (3, "", damaged(seeded, "EOFError"))


def test_check_reports_a_damaged_segment(capsys, monkeypatch, seeded: Path) -> None:
    seg = segment_file(seeded)
    with seg.open("r+b") as handle:
        handle.truncate(1000)
    code, out, err = cli_main(capsys, monkeypatch, "--index", str(seeded), "check")
    assert code == 3
    assert out == (
        f"problem: segment {seg.stem} cannot be opened (EOFError)\n"
        f"index at {seeded} has 1 problem: rebuild it with `searchkit --index {seeded} reindex`\n"
    )
    code, out, err = cli_main(capsys, monkeypatch, "--index", str(seeded), "reindex")
    assert (code, err) == (3, f"Error: index at {seeded} cannot be read (EOFError): delete it and index your files again\n")


def test_garbage_segment(capsys, monkeypatch, seeded: Path) -> None:
    segment_file(seeded).write_bytes(b"\x00garbage" * 5000)
    code, out, err = cli_main(capsys, monkeypatch, "--index", str(seeded), "search", "珠峰")
    assert code == 3
    assert err.startswith(f"Error: index at {seeded} is damaged (") and err.count("\n") == 1


def test_damage_inside_a_segment_never_gives_a_traceback(capsys, monkeypatch, seeded_template: Path, tmp_path: Path) -> None:
    size = segment_file(seeded_template).stat().st_size
    found = 0
    for n, offset in enumerate(range(size // 20, size, size // 10)):
        ix = tmp_path / f"ix{n}"
        shutil.copytree(seeded_template, ix)
        with segment_file(ix).open("r+b") as handle:
            handle.seek(offset)
            handle.write(bytes((i * 37 + 11) % 256 for i in range(2000)))
        for command in (("search", "民族团结"), ("search", "民族团结", "--level", "article"), ("list",),
                        ("show", f"{SEED.as_posix()}#7")):
            code, _out, err = cli_main(capsys, monkeypatch, "--index", str(ix), *command)
            if command[0] == "show" and code == 1:
                # Damage in the id postings can hide the article: a wrong
                # answer, still one line; `check` below is what finds it.
                assert err == f"Error: no article with id {command[1]!r}\n"
                continue
            assert_answered_or_damaged(code, err, ix, (offset, command))
        code, out, _err = cli_main(capsys, monkeypatch, "--index", str(ix), "check")
        if code == 3:
            found += 1
            assert out.splitlines()[-1].endswith(f": rebuild it with `searchkit --index {ix} reindex`")
            assert all(line.startswith(("problem: ", "note: ")) for line in out.splitlines()[:-1])
    assert found >= 5  # most damage is found by check


def test_missing_table_of_contents(capsys, monkeypatch, seeded: Path) -> None:
    for toc in seeded.glob("*.toc"):
        toc.unlink()
    expected = (
        f"Error: index at {seeded} is damaged (no readable table of contents: EmptyIndexError): "
        "delete it and index your files again\n"
    )
    for command in (("search", "珠峰"), ("index", str(SEED))):
        assert cli_main(capsys, monkeypatch, "--index", str(seeded), *command) == (3, "", expected)
    code, _out, err = cli_main(capsys, monkeypatch, "--index", str(seeded), "reindex")
    assert (code, err) == (3, f"Error: index at {seeded} cannot be read (EmptyIndexError): delete it and index your files again\n")


def test_garbage_metadata_file_and_reindex(capsys, monkeypatch, seeded: Path) -> None:
    (seeded / "searchkit.json").write_bytes(b"\xff{not json")
    expected = f"Error: index at {seeded} has an unreadable searchkit.json: rebuild it with `searchkit --index {seeded} reindex`\n"
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "search", "珠峰") == (3, "", expected)
    code, out, err = cli_main(capsys, monkeypatch, "--index", str(seeded), "reindex")
    assert (code, out, err) == (0, "reindexed: 7 articles, 43 paragraphs, 1 source files\n", "")
    assert json.loads((seeded / "searchkit.json").read_text(encoding="utf-8"))["schema_version"] == 4
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "search", "珠峰", "--json")[0] == 0


@pytest.mark.parametrize("setup", ["files", "whoosh", "other-json"])
def test_foreign_directories(capsys, monkeypatch, tmp_path: Path, setup: str) -> None:
    ix = tmp_path / "foreign"
    ix.mkdir()
    if setup == "files":
        (ix / "notes.txt").write_text("mine", encoding="utf-8")
        expected = f"Error: {ix} is not a searchkit index (it holds other files): choose an empty or new directory\n"
    elif setup == "whoosh":
        from whoosh.fields import TEXT, Schema
        from whoosh.filedb.filestore import FileStorage

        FileStorage(str(ix)).create_index(Schema(body=TEXT))
        expected = f"Error: {ix} is not a searchkit index (it holds other files): choose an empty or new directory\n"
    else:
        (ix / "searchkit.json").write_text('{"format": "something-else"}', encoding="utf-8")
        expected = f"Error: {ix} is not a searchkit index: choose an empty or new directory\n"
    before = sorted(p.name for p in ix.iterdir())
    for command in (("search", "珠峰"), ("index", str(SEED)), ("check",), ("reindex",)):
        assert cli_main(capsys, monkeypatch, "--index", str(ix), *command) == (3, "", expected), command
    assert sorted(p.name for p in ix.iterdir()) == before


def test_index_path_is_a_file(capsys, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x", encoding="utf-8")
    for command in (("search", "珠峰"), ("check",), ("reindex",)):
        assert cli_main(capsys, monkeypatch, "--index", str(path), *command) == (
            3, "", f"Error: {path} is not a directory, so it cannot hold an index\n"), command


def test_missing_index_for_check_and_reindex(capsys, monkeypatch, tmp_path: Path) -> None:
    ix = tmp_path / "none"
    for command in (("check",), ("reindex",)):
        assert cli_main(capsys, monkeypatch, "--index", str(ix), *command) == (
            3, "", f"Error: no index at {ix}: build one with `searchkit --index {ix} index PATH`\n")


def bump(ix: Path, **changes) -> None:
    meta_path = ix / "searchkit.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key == "hmm":
            meta["analyzer"]["hmm"] = value
        else:
            meta[key] = value
    meta_path.write_text(json.dumps(meta), encoding="utf-8")


def test_schema_version_bump_then_reindex(capsys, monkeypatch, seeded: Path) -> None:
    bump(seeded, schema_version=0)
    expected = (
        f"Error: index at {seeded} has schema version 0, this searchkit reads 1, 2, 3 or 4: "
        f"rebuild it with `searchkit --index {seeded} reindex`\n"
    )
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "search", "珠峰") == (3, "", expected)
    code, out, _ = cli_main(capsys, monkeypatch, "--index", str(seeded), "check")
    assert code == 3
    assert out.splitlines()[0] == "problem: " + expected[len("Error: "):-1]
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "reindex") == (
        0, "reindexed: 7 articles, 43 paragraphs, 1 source files\n", "")
    code, out, _ = cli_main(capsys, monkeypatch, "--index", str(seeded), "check")
    assert (code, out) == (0, f"index at {seeded} is sound (7 articles, 43 paragraphs, 1 source files, 1 segments, "
                              f"{SearchIndex(seeded).check().terms} terms)\n")
    code, out, _ = cli_main(capsys, monkeypatch, "--index", str(seeded), "search", "快速通关", "--json")
    assert json.loads(out)["hits"][0]["article_id"] == f"{SEED.as_posix()}#7"
    # The content hashes came along: the file is still known as indexed.
    code, out, _ = cli_main(capsys, monkeypatch, "--index", str(seeded), "index", str(SEED))
    assert out == "indexed: 0 added, 0 updated, 1 unchanged, 0 skipped, 0 failed (0 articles, 0 paragraphs written)\n"
    article = SearchIndex(seeded).get_article(f"{SEED.as_posix()}#7")
    assert article.author == "汪纯 贺烈烈" and article.lines and len(article.lines) == len(article.paragraphs)


def test_an_index_keeps_its_analyzer_settings_until_reindexed(seeded: Path) -> None:
    bump(seeded, hmm=False)
    # Opened without settings, an index uses the ones it records ...
    assert SearchIndex(seeded).settings == AnalyzerSettings(hmm=False)
    assert SearchIndex.check_path(seeded).ok
    # ... and refuses others.
    with pytest.raises(IndexVersionError, match="was built with other analyzer settings"):
        SearchIndex(seeded, settings=AnalyzerSettings())
    assert not SearchIndex.check_path(seeded, settings=AnalyzerSettings()).ok
    report = SearchIndex.reindex(seeded, workers=1)  # to the default settings
    assert (report.articles, report.paragraphs, report.sources, report.dropped_paragraphs) == (7, 43, 1, 0)
    assert SearchIndex(seeded).settings == AnalyzerSettings()
    assert SearchIndex(seeded).search("民族团结", level="paragraph").total == 13


def test_interrupted_reindex_leaves_the_old_index(monkeypatch, seeded: Path) -> None:
    from searchkit import maintenance

    bump(seeded, schema_version=0)
    before = sorted((p.name, p.stat().st_size) for p in seeded.iterdir())

    def interrupted(new: Path, old: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(maintenance, "_exchange", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SearchIndex.reindex(seeded, workers=1)
    assert sorted((p.name, p.stat().st_size) for p in seeded.iterdir()) == before
    assert (seeded.parent / ".ix.reindex").is_dir()  # the unfinished new one
    monkeypatch.undo()
    SearchIndex.reindex(seeded, workers=1)  # cleans up and completes
    assert not (seeded.parent / ".ix.reindex").exists()
    assert SearchIndex(seeded).stats().articles == 7


def test_check_finds_inconsistent_documents(tmp_path: Path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    ix.add_articles([Article(id="a", title="t", paragraphs=["一", "二"])], workers=1)
    with ix.store.writer(30.0) as writer:  # what a bug or a foreign writer might leave
        writer.add_document(kind="paragraph", article_id="ghost", ordinal=0, title="", text="孤儿段落")
        writer.delete_by_query(wquery.And([wquery.Term("kind", "paragraph"), wquery.Term("article_id", "a")]))
        writer.add_document(kind="source", source="/gone.txt", meta={"hash": "00"})
        writer.add_document(kind="mystery")
    report = ix.check()
    assert sorted(report.problems) == sorted([
        "1 paragraphs of article 'ghost' have no article document",
        "article 'a' should have paragraphs 0..1, has none",
        "file /gone.txt is recorded as indexed but has no articles",
        f"segment {ix.store.listed_segments()[-1].segment_id()}: a document of unknown kind 'mystery'",
    ])
    rebuilt = SearchIndex.reindex(tmp_path / "ix", workers=1)
    assert (rebuilt.articles, rebuilt.paragraphs, rebuilt.dropped_paragraphs) == (1, 0, 1)


# --------------------------------------------------------------------------
# Limits


def test_long_paragraph_indexes_and_snippets(tmp_path: Path) -> None:
    filler = "民族团结进步创建工作累计完成投资。" * 6000  # 102,000 characters
    text = filler[:50_000] + "独一无二的关键词" + filler[50_000:]
    ix = SearchIndex.in_memory()
    ix.add_articles([Article(id="long", title="长段落", paragraphs=[text])], workers=1)
    result = ix.search("独一无二的关键词", level="paragraph")
    assert result.total == 1
    snippet = result.hits[0].snippet
    assert snippet.highlighted() == ["独一无二的关键词"]
    assert len(snippet.text) <= 200
    # A keyword repeated 6,000 times, and a question, in the same paragraph.
    repeated = ix.search("民族团结", level="paragraph")
    assert repeated.total == 1 and repeated.hits[0].snippet.highlighted()[0] == "民族团结"
    assert ix.search("哪里有民族团结的投资", level="paragraph").total == 1
    assert ix.get_article("long").paragraphs == [text]


def test_long_query_is_refused_in_one_line(index: SearchIndex) -> None:
    with pytest.raises(QueryError) as info:
        index.search("珠" * 10_000, level="paragraph")
    assert str(info.value) == "query is too long: 10000 characters (at most 2000)"
    runner = CliRunner()
    result = runner.invoke(cli, ["--index", "unused", "analyze", "--query", "x" * 10_000])
    assert result.exit_code == 2
    assert result.stderr == "Error: query is too long: 10000 characters (at most 2000)\n"


def test_long_query_cli_exit_code(seeded: Path) -> None:
    result = CliRunner().invoke(cli, ["--index", str(seeded), "search", "珠" * 10_000])
    assert (result.exit_code, result.stderr) == (2, "Error: query is too long: 10000 characters (at most 2000)\n")


def test_many_articles_file_streams_in_batches(tmp_path: Path) -> None:
    # A small stand-in for the 50 MB file measured by hand (README, Reliability):
    # JSONL streams, so memory follows the batch, not the file.
    data = tmp_path / "many.jsonl"
    write_jsonl(data, 2000, "m")
    ix = SearchIndex.create(tmp_path / "ix")
    report = ix.add_files([data], batch_size=500, workers=1)
    assert (report.added, report.articles, report.failed) == (1, 2000, [])
    assert ix.stats().articles == 2000


# --------------------------------------------------------------------------
# Exit codes of the real entry point


def test_entry_point_exit_codes(capsys, monkeypatch, tmp_path: Path, seeded: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "index", str(bad))[0] == 1
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "search", "")[0] == 2
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "nonsense")[0] == 2
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "search", "珠峰")[0] == 0
    assert cli_main(capsys, monkeypatch, "--index", str(tmp_path / "none"), "list")[0] == 3

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(SearchIndex, "list_articles", boom)
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "list") == (
        70, "", "Error: internal error (RuntimeError: boom); set SEARCHKIT_DEBUG=1 for details\n")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SearchIndex, "list_articles", interrupt)
    assert cli_main(capsys, monkeypatch, "--index", str(seeded), "list") == (130, "", "interrupted\n")


def test_reader_is_not_blocked_by_a_stale_lock_file(tmp_path: Path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    (tmp_path / "ix" / "MAIN_WRITELOCK").write_text("")  # a file without an flock on it
    ix.lock_timeout = 0
    ix.add_article(Article(id="a", title="t", paragraphs=["p"]))
    assert ix.stats().articles == 1



def test_check_finds_damaged_hash_slots_of_a_term_table(capsys, monkeypatch, seeded: Path) -> None:
    # Reading every term reads the items; a query's term that is not in the
    # index still reads the slots its hash points at.
    from whoosh.filedb.compound import CompoundStorage
    from whoosh.filedb.filestore import FileStorage
    from whoosh.filedb.filetables import HashReader

    seg = segment_file(seeded)
    storage = CompoundStorage(FileStorage(str(seeded)).open_file(seg.name), use_mmap=False)
    (trm,) = [name for name in storage.list() if name.endswith(".trm")]
    offset = storage._dir[trm]["offset"]
    table = HashReader(storage.open_file(trm), storage.file_length(trm))
    first_slots = table.tables[0][0]  # where the hash tables start, after the items
    storage.close()
    with seg.open("r+b") as handle:
        handle.seek(offset + first_slots)
        handle.write(b"\x7f" * 240)  # 20 slots pointing far outside the file
    code, out, _err = cli_main(capsys, monkeypatch, "--index", str(seeded), "check")
    assert code == 3
    assert out.startswith(f"problem: segment {seg.stem}: the term index is damaged (a hash slot points outside the terms)\n")
    for query in ("民族团结", "珠峰", "不在索引里的词", "zzz"):
        code, _out, err = cli_main(capsys, monkeypatch, "--index", str(seeded), "search", query)
        assert code in (0, 3) and "internal error" not in err, (query, err)
