"""Write searchkit/t2s_chars.txt: OpenCC's t2s, per CJK character, as searchkit normalizes.

    python scripts/make_t2s_table.py

searchkit reads the table from that file instead of converting every CJK
character with OpenCC in each process; tests/test_analysis.py checks that the
file still equals what the installed OpenCC gives.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from searchkit.analysis import T2S_FILE, build_t2s_table

PAIRS_PER_LINE = 50


def main() -> None:
    table = build_t2s_table()
    pairs = [original + simplified for original, simplified in sorted(table.items())]
    lines = [
        f"# OpenCC {version('opencc')} t2s, each CJK character alone: {len(pairs)} pairs (original, simplified).",
        "# Made by scripts/make_t2s_table.py; read by searchkit.analysis.",
    ]
    lines += ["".join(pairs[i : i + PAIRS_PER_LINE]) for i in range(0, len(pairs), PAIRS_PER_LINE)]
    path = Path(__file__).resolve().parent.parent / "searchkit" / T2S_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{path}: {len(pairs)} pairs")


if __name__ == "__main__":
    main()
