"""searchkit's modules call downward only, and Whoosh's internals stay inside the engine."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import searchkit.engine
from searchkit.engine import check_whoosh_version
from searchkit.errors import IndexVersionError

PACKAGE = Path(searchkit.engine.__file__).resolve().parent.parent
SHIMS = {"searchkit.segments"}  # old pickled paths: they only re-export engine classes


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(name: str) -> set[str]:
    """Modules ``name`` imports anywhere (functions included), but under ``if TYPE_CHECKING:``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.add(candidate if candidate in MODULES else module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


GRAPH = {name: {m for m in imports(name) if m in MODULES and m != name} for name in MODULES}


def test_the_import_scan_sees_imports_inside_functions() -> None:
    assert "searchkit.engine.store" in imports("searchkit.engine.verify")
    assert "whoosh.index" in imports("searchkit.engine.writer")  # imported inside methods
    assert GRAPH["searchkit.cli"] == {"searchkit", "searchkit.errors", "searchkit.server"}  # serve imports it lazily


def test_no_import_cycles() -> None:
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name):], name]))
        if name in done:
            return
        for imported in sorted(GRAPH[name]):
            walk(imported, [*path, name])
        done.add(name)

    for name in MODULES:
        walk(name, [])


def test_layers_call_downward() -> None:
    api = {"searchkit", "searchkit.index", "searchkit.cli", "searchkit.server"}
    assert not GRAPH["searchkit.server"] & {"searchkit", "searchkit.cli"}  # the service sits on the API, beside the CLI
    for lower in ("searchkit.maintenance", "searchkit.query", "searchkit.writing", "searchkit.highlight",
                  "searchkit.analysis", "searchkit.readers", "searchkit.documents", "searchkit.errors"):
        assert not GRAPH[lower] & api, lower
    for name in MODULES:
        if name.startswith("searchkit.engine"):
            assert not {m for m in GRAPH[name] if not m.startswith("searchkit.engine")} - {
                "searchkit.analysis", "searchkit.errors"}, name


def test_whoosh_is_used_through_the_engine_only() -> None:
    for name in MODULES:
        if name.startswith("searchkit.engine"):
            continue
        whoosh = {m for m in imports(name) if m.split(".")[0] == "whoosh"}
        assert whoosh <= ({"whoosh.analysis"} if name == "searchkit.analysis" else set()), name
        if name not in SHIMS:
            inner = {m for m in GRAPH[name] if m.startswith("searchkit.engine.")}
            assert not inner, f"{name} reaches into {inner}: use the names searchkit.engine exports"


def whoosh_internals() -> set[str]:
    return set(re.findall(r"``(?:\w+\.)?(_\w+)``", searchkit.engine.__doc__ or ""))


def test_no_whoosh_private_name_outside_the_engine() -> None:
    listed = whoosh_internals()
    assert {"_postfile", "_tindex", "_minlength", "_segments", "_reader", "_commit_toc"} <= listed
    for name, path in MODULES.items():
        if name.startswith("searchkit.engine"):
            continue
        used = {node.attr for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Attribute)}
        assert not used & listed, f"{name} uses Whoosh's {sorted(used & listed)}"


def test_the_engine_docstring_names_every_whoosh_module_it_imports() -> None:
    doc = searchkit.engine.__doc__ or ""
    for name in MODULES:
        if name.startswith("searchkit.engine"):
            for module in {m for m in imports(name) if m.startswith("whoosh.")}:
                shown = module if module.count(".") == 1 else module.rsplit(".", 1)[0]
                assert shown in doc or module.rsplit(".", 1)[-1] in doc, (name, module)


def test_another_whoosh_version_is_refused_in_one_line() -> None:
    check_whoosh_version()  # the installed one passes
    with pytest.raises(IndexVersionError) as caught:
        check_whoosh_version((2, 7, 6))
    assert str(caught.value) == (
        "searchkit needs whoosh-reloaded 2.7.5 (its storage engine relies on that version's internals), "
        "but 2.7.6 is installed: run `pip install whoosh-reloaded==2.7.5`"
    )


def test_opening_an_index_under_another_whoosh_fails_with_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import whoosh
    from click.testing import CliRunner

    from searchkit import SearchIndex
    from searchkit.cli import cli

    SearchIndex.create(tmp_path / "ix").close()
    monkeypatch.setattr(whoosh, "__version__", (2, 8, 0))
    result = CliRunner().invoke(cli, ["--index", str(tmp_path / "ix"), "search", "珠峰"])
    assert (result.exit_code, result.stderr) == (
        3, "Error: searchkit needs whoosh-reloaded 2.7.5 (its storage engine relies on that version's internals), "
        "but 2.8.0 is installed: run `pip install whoosh-reloaded==2.7.5`\n")


def test_the_pin_is_the_guarded_version() -> None:
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert '"whoosh-reloaded==2.7.5"' in pyproject
    assert searchkit.engine.WHOOSH_VERSION == (2, 7, 5)


def test_every_subpackage_is_packaged() -> None:
    # A non-editable install (the README's first command) ships only the packages pyproject lists.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {module_name(path) for path in PACKAGE.rglob("__init__.py")}
    assert listed == found
