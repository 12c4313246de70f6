"""What the operating system refuses is one clear line (exit 5), never an internal error, and loses nothing."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from whoosh.filedb.filestore import FileStorage
from whoosh.util import filelock

from searchkit import SearchIndex
from searchkit.cli import cli

from .conftest import SEED


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture()
def seeded(tmp_path: Path) -> Path:
    assert invoke("--index", str(tmp_path / "ix"), "index", "--workers", "1", str(SEED.parent)).exit_code == 0
    return tmp_path / "ix"


def answers(index: Path) -> list[tuple[str, int | None, float]]:
    with SearchIndex(index) as ix:
        return [(h.article_id, h.paragraph, h.score) for h in ix.search("民族团结", limit=50).hits]


class _RefusingOs:
    """The os module, but opening the index's lock file is refused, as in a read-only folder."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def open(path: str, *args: Any, **kwargs: Any) -> int:
        if path.endswith("WRITELOCK"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return os.open(path, *args, **kwargs)


def test_a_read_only_index_is_one_line_for_every_writing_command(seeded: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "extra.txt"
    extra.write_text("标题\n\n新的一段。\n", encoding="utf-8")
    before = answers(seeded)
    monkeypatch.setattr(filelock, "os", _RefusingOs())
    lock = f"{seeded}/MAIN_WRITELOCK"
    expected = (f"Error: cannot write to the index at {seeded}: Permission denied ({lock}): "
                "make it writable, or choose another folder with --index\n")
    for args in (("index", str(extra)), ("remove", str(SEED)), ("optimize",), ("reindex",)):
        if args == ("optimize",):  # optimize needs something to merge
            monkeypatch.undo()
            assert invoke("--index", str(seeded), "index", str(extra)).exit_code == 0
            monkeypatch.setattr(filelock, "os", _RefusingOs())
            before = answers(seeded)
        result = invoke("--index", str(seeded), *args)
        assert (result.exit_code, result.stderr) == (5, expected), args
    assert invoke("--index", str(seeded), "search", "民族团结").exit_code == 0  # reading needs no lock
    monkeypatch.undo()
    assert answers(seeded) == before
    assert SearchIndex.check_path(seeded).ok


def test_an_index_in_an_unwritable_folder_is_one_line() -> None:
    target = "/sys/searchkit-test-index"  # sysfs refuses mkdir, even to root
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("needs Linux's sysfs")
    result = invoke("--index", target, "index", str(SEED.parent))
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith(f"Error: cannot write to the index at {target}: Operation not permitted")
    assert result.stderr.endswith(": make it writable, or choose another folder with --index\n")


@pytest.mark.parametrize(("code", "what", "advice"), [
    (errno.ENOSPC, "No space left on device", "free some space and run the command again (the batch being written was dropped)"),
    (errno.EMFILE, "Too many open files", "raise the limit (ulimit -n), or merge segments with `searchkit --index {ix} optimize`"),
])
def test_a_failed_write_leaves_the_index_as_it_was(seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  code: int, what: str, advice: str) -> None:
    before, files = answers(seeded), sorted(os.listdir(seeded))
    data = tmp_path / "more.jsonl"
    data.write_text("".join(f'{{"id": "m{i}", "title": "民族团结 {i}", "text": "民族团结的新段落 {i}"}}\n' for i in range(50)),
                    encoding="utf-8")
    real = FileStorage.create_file

    def full(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if name.endswith(".toc") or name.endswith(".seg"):
            raise OSError(code, what, os.path.join(self.folder, name))
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(FileStorage, "create_file", full)
    result = invoke("--index", str(seeded), "index", "--workers", "1", str(data))
    monkeypatch.undo()
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith(f"Error: cannot write to the index at {seeded}: {what} (")
    assert result.stderr.endswith(f"): {advice.format(ix=seeded)}\n")
    assert answers(seeded) == before
    assert sorted(os.listdir(seeded)) == files  # nothing left behind
    assert SearchIndex.check_path(seeded).ok
    rerun = invoke("--index", str(seeded), "index", "--workers", "1", str(data))
    assert rerun.exit_code == 0 and rerun.stdout.startswith("indexed: 1 added")
