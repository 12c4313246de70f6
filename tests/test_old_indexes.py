"""Indexes built by an earlier searchkit keep opening, answering and checking the same.

The fixtures under ``tests/fixtures/indexes/`` were built before the storage
engine moved into ``searchkit/engine`` (see ``tests/fixtures/make_indexes.py``);
their ``*.answers.json`` hold what that searchkit answered.
"""

from __future__ import annotations

import importlib
import json
import pickletools
import shutil
from pathlib import Path

import pytest

from searchkit import SearchIndex
from searchkit.engine.titles import segment_titles

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "indexes"
NAMES = ["seed", "qa", "qa_grams2"]


@pytest.fixture(params=NAMES)
def old_index(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    copy = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, copy)
    return request.param, copy


def pickled_globals(data: bytes) -> set[tuple[str, str]]:
    """The (module, name) pairs a pickle refers to, without unpickling it."""
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    for opcode, arg, _pos in pickletools.genops(data):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif opcode.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
        elif opcode.name == "GLOBAL":
            module, name = arg.split(" ", 1)
            found.add((module, name))
    return found


def toc_pickles(folder: Path) -> list[bytes]:
    """The pickled schema and segment list of a Whoosh table of contents.

    Whoosh writes a header of ints, the schema's pickle (after its length),
    two ints (generation, unused), then the segments' pickle.
    """
    (toc,) = folder.glob("_MAIN_*.toc")
    data = toc.read_bytes()
    start = data.index(b"\x80")
    *_ops, (_op, _arg, stop) = pickletools.genops(data[start:])
    segments = start + stop + 1 + 8
    return [data[start:segments - 8], data[segments:]]


def test_every_pickled_class_of_an_old_table_of_contents_imports(old_index: tuple[str, Path]) -> None:
    _name, folder = old_index
    names = {(m, n) for data in toc_pickles(folder) for m, n in pickled_globals(data) if m.startswith("searchkit")}
    assert ("searchkit.segments", "SearchkitCodec") in names
    assert ("searchkit.index", "PreparedField") in names
    assert ("searchkit.analysis", "ChineseTokenizer") in names
    for module, name in names:
        assert getattr(importlib.import_module(module), name) is not None, f"{module}.{name}"


def test_an_old_index_answers_as_it_did(old_index: tuple[str, Path]) -> None:
    name, folder = old_index
    expected = json.loads((FIXTURES / f"{name}.answers.json").read_text(encoding="utf-8"))
    with SearchIndex(folder) as index:
        # Article level now matches each keyword anywhere in an article (its
        # title or any paragraph): those answers differ by design. Paragraphs
        # are answered as they were.
        for recorded in [r for r in expected if r["level"] == "paragraph"]:
            result = index.search(recorded["query"], limit=10, level=recorded["level"])
            answer = result.to_json()
            # Hits carry more since (metadata, title highlights): what was recorded is answered the same.
            answer["hits"] = [{key: hit[key] for key in old} for hit, old in zip(answer["hits"], recorded["json"]["hits"])]
            assert answer == recorded["json"], (recorded["query"], recorded["level"])
            assert [repr(hit.score) for hit in result.hits] == recorded["scores"], recorded["query"]


def test_optimize_gives_an_old_index_title_tables_and_the_same_answers(old_index: tuple[str, Path]) -> None:
    name, folder = old_index
    expected = json.loads((FIXTURES / f"{name}.answers.json").read_text(encoding="utf-8"))
    with SearchIndex(folder) as index:
        leaves = [leaf for leaf, _offset in index.searcher().reader().leaf_readers()]
        assert all(segment_titles(leaf) is None for leaf in leaves)  # written before title tables
        before = {r["query"]: index.search(r["query"], limit=10).to_json() for r in expected}
        index.optimize()
        [leaf] = [leaf for leaf, _offset in index.searcher().reader().leaf_readers()]
        # An index of bigrams keeps answering title keywords from the postings.
        assert (segment_titles(leaf) is None) == (name == "qa_grams2")
        assert {query: index.search(query, limit=10).to_json() for query in before} == before
        assert index.check().ok


def test_stats_says_optimize_adds_title_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from .test_reliability import cli_main

    folder = tmp_path / "seed"
    shutil.copytree(FIXTURES / "seed", folder)
    hint = "                1 without title tables: title keywords are answered from postings, more slowly (`optimize` adds them)\n"
    code, out, _err = cli_main(capsys, monkeypatch, "--index", str(folder), "stats")
    assert code == 0 and hint in out
    assert cli_main(capsys, monkeypatch, "--index", str(folder), "optimize")[0] == 0
    code, out, _err = cli_main(capsys, monkeypatch, "--index", str(folder), "stats")
    assert code == 0 and "title tables" not in out and "segments:       1 (1 with suffix arrays)" in out


def test_an_old_index_checks_sound(old_index: tuple[str, Path]) -> None:
    _name, folder = old_index
    report = SearchIndex.check_path(folder)
    assert report.ok, report.problems


def test_a_new_index_pickles_the_engine_classes_by_importable_paths(tmp_path: Path) -> None:
    from searchkit import Article

    with SearchIndex.create(tmp_path / "new") as index:
        index.add_articles([Article(id="a", title="珠峰", paragraphs=["珠峰大本营"])], workers=1)
    names = {(m, n) for data in toc_pickles(tmp_path / "new") for m, n in pickled_globals(data) if m.startswith("searchkit")}
    assert ("searchkit.engine.codec", "SearchkitCodec") in names
    assert ("searchkit.engine.schema", "PreparedField") in names
    for module, name in names:
        assert getattr(importlib.import_module(module), name) is not None, f"{module}.{name}"
