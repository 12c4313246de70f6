from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README has no python example"
    exec(compile(blocks[0], "README.md", "exec"), {})  # noqa: S102 - our own README
    assert capsys.readouterr().out == "作為G318國道進入珠峰必經之地，檢查站打造[快速通關]綠色通道。\n"


def test_readme_set_up_commands_are_the_ones_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(.*?)\n```", text, re.S)
    assert len(commands) >= 2
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci
    assert "searchkit index seeds/" in commands[0] and "searchkit search 民族团结" in commands[0]
