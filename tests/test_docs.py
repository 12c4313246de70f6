"""The user documents (README.md, docs/*.md) against the code they describe."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from searchkit.cli import cli
from searchkit.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DOC_FILES = ["cli.md", "api.md", "reliability.md", "design.md", "sharding.md", "changelog.md"]
USER_DOCUMENTS = [README, *(DOCS / name for name in DOC_FILES)]


def _cli_docs():
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", text, re.S | re.M)
    assert match, f"no heading {heading!r}"
    return match.group(1)


def _table_rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([cell.strip() for cell in cells])
    return rows[1:]  # without the header row


def _commands() -> list[tuple[str, click.Command]]:
    return [(path, command) for path, command, _ in _cli_docs().walk() if path != "searchkit"]


# --------------------------------------------------------------------------
# docs/cli.md and the CLI's help


def test_cli_md_is_what_the_script_generates() -> None:
    cli_docs = _cli_docs()
    current = _text(cli_docs.CLI_MD)
    assert cli_docs.MARKER in current
    assert cli_docs.render(current) == current, "docs/cli.md is stale: run python scripts/cli_docs.py"
    assert cli_docs.main(["--check"]) == 0


def test_cli_docs_check_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_docs = _cli_docs()
    stale = tmp_path / "cli.md"
    stale.write_text(_text(cli_docs.CLI_MD).replace("Show this message and exit.", "Show help.", 1), encoding="utf-8")
    monkeypatch.setattr(cli_docs, "CLI_MD", stale)
    monkeypatch.setattr(cli_docs, "ROOT", tmp_path)
    assert cli_docs.main(["--check"]) == 1
    assert cli_docs.main([]) == 0
    assert cli_docs.main(["--check"]) == 0


def test_cli_md_help_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    cli_docs = _cli_docs()
    monkeypatch.setenv("COLUMNS", "200")
    wide = cli_docs.generated()
    monkeypatch.setenv("COLUMNS", "40")
    assert cli_docs.generated() == wide


def test_the_walk_finds_every_command() -> None:
    names = {path.split()[-1] for path, _ in _commands()}
    assert names == set(cli.list_commands(click.Context(cli)))
    assert {"index", "search", "analyze", "optimize"} <= names


@pytest.mark.parametrize("path", [path for path, _ in _commands()])
def test_every_command_has_help_and_is_documented(path: str) -> None:
    command = dict(_commands())[path]
    assert (command.help or "").strip(), f"{path} has no help"
    assert command.get_short_help_str().strip(), f"{path} has no short help"
    name = path.removeprefix("searchkit ")
    documented = {row[0].strip("`").split()[0] for row in _table_rows(_section(_text(README), "The CLI"))}
    assert name.split()[0] in documented, f"`{name}` is not in README's command table"
    cli_md = _text(DOCS / "cli.md")
    assert f"\n## {path}\n" in cli_md, f"docs/cli.md has no section for {path}"
    assert f"**`{name}" in cli_md, f"docs/cli.md's prose does not explain `{name}`"


# --------------------------------------------------------------------------
# Rules for user documents


def test_readme_is_at_most_200_lines() -> None:
    assert len(_text(README).splitlines()) <= 200


HASH_LIKE = re.compile(r"\b[0-9a-f]{7,40}\b")
ALLOWED_HEX: set[str] = set()  # hex-looking tokens that are not commits, if ever needed


def _hash_like(text: str) -> list[str]:
    return [
        token
        for token in HASH_LIKE.findall(text)
        if re.search(r"[0-9]", token) and re.search(r"[a-f]", token) and token not in ALLOWED_HEX
    ]


def test_hash_detector() -> None:
    assert _hash_like("measured at 0beac48 and at e7e3c89d, not at 1234567 or deadbeef") == ["0beac48", "e7e3c89d"]
    assert _hash_like("seeds/000_235373325ccc2d0f.txt U+D800") == []


@pytest.mark.parametrize("path", USER_DOCUMENTS, ids=lambda p: p.name)
def test_user_documents_hold_no_commit_hashes_or_work_log_talk(path: Path) -> None:
    text = _text(path)
    assert _hash_like(text) == [], f"{path.name} names commits"
    for phrase in ("this stop", "this session", "the previous stop"):
        assert phrase not in text.lower(), f"{path.name} says {phrase!r}"
    assert not re.search(r"\bissues? #?\d+|\(#\d+\)", text, re.I), f"{path.name} talks of issue numbers"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_links_every_docs_file() -> None:
    targets = set(LINK.findall(_text(README)))
    for name in DOC_FILES:
        assert f"docs/{name}" in targets, f"README does not link docs/{name}"


@pytest.mark.parametrize("path", [*USER_DOCUMENTS, ROOT / "benchmarks" / "README.md"], ids=lambda p: p.name)
def test_links_resolve(path: Path) -> None:
    for target in LINK.findall(_text(path)):
        if re.match(r"[a-z]+:", target):
            continue  # an outside address
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists(), f"{path.name} links {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", _text(linked), re.M)
            assert anchor in {_slug(h) for h in headings}, f"{path.name} links {target}: no such heading"


# --------------------------------------------------------------------------
# Exit codes


def _exit_code_table(text: str, heading: str) -> dict[int, str]:
    rows = _table_rows(_section(text, heading))
    assert all(len(row) == 2 for row in rows)
    table = {int(code): meaning for code, meaning in rows}
    assert len(table) == len(rows), "a code is listed twice"
    return table


@pytest.mark.parametrize("path", [README, DOCS / "cli.md"], ids=lambda p: p.name)
def test_exit_code_table_is_exit_codes(path: Path) -> None:
    assert _exit_code_table(_text(path), "Exit codes") == EXIT_CODES


# --------------------------------------------------------------------------
# The README's JSON example


def test_readme_json_example_is_what_search_prints(tmp_path: Path) -> None:
    section = _section(_text(README), "JSON output")
    command = re.search(r"`searchkit search (\S+) --json`", section)
    block = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert command and block
    shown = json.loads(block.group(1))

    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    index = str(tmp_path / "index")
    runner = CliRunner()
    indexed = runner.invoke(cli, ["--index", index, "index", str(tmp_path / "seeds"), "--workers", "1"])
    assert indexed.exit_code == 0, indexed.output
    searched = runner.invoke(cli, ["--index", index, "search", command.group(1), "--json"])
    assert searched.exit_code == 0, searched.output
    printed = json.loads(searched.stdout)

    for shown_hit, hit in zip(shown["hits"], printed["hits"], strict=True):
        prefix = "/abs/path/"
        assert shown_hit["article_id"].startswith(prefix)
        assert hit["article_id"] == f"{tmp_path.as_posix()}/{shown_hit['article_id'].removeprefix(prefix)}"
        shown_hit["article_id"] = hit["article_id"]
        assert hit["path"] == f"{tmp_path.as_posix()}/{shown_hit['path'].removeprefix(prefix)}"
        shown_hit["path"] = hit["path"]
    assert shown == printed  # score and highlight offsets included
    hit = shown["hits"][0]
    assert [hit["snippet"]["text"][start:end] for start, end in hit["snippet"]["highlights"]] == [command.group(1)]


if sys.version_info < (3, 10):  # zip(strict=) above
    pytest.skip("Python 3.10+", allow_module_level=True)
