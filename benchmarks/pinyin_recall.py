"""Pinyin recall: does a word typed in toneless pinyin find its paragraph, with the word highlighted?

    python benchmarks/pinyin_recall.py [SQUAD_JSON ...] [--words N] [--seed S]

Indexes the QA paragraphs (default: the shared CMRC 2018 trial and DRCD dev
files) with pinyin (``AnalyzerSettings(pinyin=True)``). Picks N random words
of 2 to 4 Chinese characters from the paragraphs, as the index's segmenter
cuts them (jieba's default cut, the words pypinyin reads), writes each in
toneless pinyin (pypinyin's ``lazy_pinyin`` of the word, joined: 珠峰 ->
zhufeng) and searches it at paragraph level. Figures: the share of words
whose paragraph is among all the hits, among the first 10, and whose
paragraph's snippet (the whole paragraph) highlights the word; and the median
number of hits.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import DEFAULT_QA, load_squad

from searchkit import Article, SearchIndex
from searchkit.analysis import AnalyzerSettings, fold

_HAN = re.compile("^[\u4e00-\u9fff]{2,4}$")


def main(argv: list[str] | None = None) -> int:
    from pypinyin import lazy_pinyin

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_QA)
    parser.add_argument("--words", type=int, default=500)
    parser.add_argument("--seed", type=int, default=26)
    args = parser.parse_args(argv)
    docs = [doc for path in args.files for doc in load_squad(path).docs]
    index = SearchIndex.in_memory(settings=AnalyzerSettings(pinyin=True))
    start = time.perf_counter()
    index.add_articles((Article(id=doc.id, title=doc.title, paragraphs=doc.paragraphs) for doc in docs), workers=1)
    built = time.perf_counter() - start
    rng = random.Random(args.seed)
    paragraphs = [(doc.id, n, text) for doc in docs for n, text in enumerate(doc.paragraphs)]
    picked: list[tuple[str, int, str, str]] = []
    while len(picked) < args.words:
        article_id, ordinal, text = rng.choice(paragraphs)
        words = [w for w, _s, _e in index.segmenter.words(fold(text), search=False) if _HAN.match(w)]
        if words:
            word = rng.choice(words)
            picked.append((article_id, ordinal, word, "".join(lazy_pinyin(word))))
    found = top10 = highlighted = 0
    totals = []
    times = []
    for article_id, ordinal, word, spelled in picked:
        t0 = time.perf_counter()
        result = index.search(spelled, level="paragraph", limit=10000, max_chars=100000)
        times.append((time.perf_counter() - t0) * 1000)
        totals.append(result.total)
        for rank, hit in enumerate(result.hits):
            if (hit.article_id, hit.paragraph) == (article_id, ordinal):
                found += 1
                top10 += rank < 10
                highlighted += word in {fold(text) for text in hit.snippet.highlighted()}
                break
    n = len(picked)
    print(f"{len(paragraphs)} paragraphs indexed with pinyin in {built:.1f} s; {n} words of 2-4 characters, "
          f"written in toneless pinyin (e.g. {picked[0][2]} -> {picked[0][3]})")
    print(f"paragraph among the hits: {found / n:.4f}; among the first 10: {top10 / n:.4f}; "
          f"word highlighted in it: {highlighted / n:.4f}")
    print(f"hits per query: median {statistics.median(totals):.0f}, max {max(totals)}; "
          f"query time p50 {statistics.median(times):.1f} ms, max {max(times):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
