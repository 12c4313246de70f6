"""Filters, facets and date sorting against the plain query, in one run.

    python benchmarks/filters.py [--tang 50000] [--queries 200] [--rounds 3] [--workdir DIR]

Imports the first ``--tang`` Tang poems with their authors, a date each
(``0618-01-01`` on, one day apart, so that years and months vary) and one of
four sources, through the CLI, then asks the same keyword queries
(``speed.py``'s, 2-4 characters cut from the poems) on a warm searcher in one
process, in turn:

* ``plain``: the query alone (paragraph level, 10 hits with snippets);
* ``filtered``: ``--author`` (the commonest author) or ``--from``/``--to`` (the
  later half of the years), alternately. A query that then has no exact match
  falls back to ranked partial matches, as any query does: the share of those
  is printed, as ``partial``, and the last column compares only the queries
  answered exactly (against the same queries unfiltered);
* ``faceted``: ``--facets author,year``;
* ``sorted``: ``--sort -date``.

Each variant is timed per query (wall time, ``time.perf_counter``) in
``--rounds`` rounds, the order of the variants rotating from round to round
(the first runner is favoured); a query's time is its fastest round. Printed:
p50 and p95 per variant, and each as a ratio to ``plain`` (the goal: at most
1.5).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_TANG, percentile, searchkit_cmd, units  # noqa: E402

import speed  # noqa: E402

SOURCES = ["全唐诗", "唐诗三百首", "乐府诗集", "文苑英华"]


def poems(path: Path, count: int) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if len(records) >= count:
                break
            record = json.loads(line)
            if not record.get("paragraphs"):
                continue
            record["title"] = record.get("title") or record["id"]  # a few poems have none
            day = 618 * 365 + number  # a day each: years and months vary
            year, rest = divmod(day, 365)
            month, mday = divmod(rest % 336, 28)
            record["date"] = f"{year:04d}-{month + 1:02d}-{mday + 1:02d}"
            record["source"] = SOURCES[number % len(SOURCES)]
            records.append(record)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tang", type=int, default=50000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_TANG)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the index here (reused if present)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="searchkit-filters-"))
    workdir.mkdir(parents=True, exist_ok=True)
    records = poems(args.corpus, args.tang)
    index = workdir / f"tang{args.tang}"
    if not (index / "searchkit.json").exists():
        data = workdir / f"tang{args.tang}.jsonl"
        data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        subprocess.run([*searchkit_cmd(), "--index", str(index), "index", str(data)], check=True)

    from searchkit import SearchIndex

    unit_list = [(r["id"], p) for r in records for p in r["paragraphs"]]
    keywords = speed.keyword_queries(unit_list, args.queries, args.seed)
    top_author = collections.Counter(r.get("author") for r in records if r.get("author")).most_common(1)[0][0]
    years = sorted(r["date"][:4] for r in records)
    later = (years[len(years) // 2], years[-1])
    variants = {
        "plain": lambda i: {},
        "filtered": lambda i: {"author": [top_author]} if i % 2 else {"date_from": later[0], "date_to": later[1]},
        "faceted": lambda i: {"facets": ["author", "year"]},
        "sorted": lambda i: {"sort": "-date"},
    }
    best = {name: [float("inf")] * len(keywords) for name in variants}
    partial = {name: 0 for name in variants}
    exact = {name: [True] * len(keywords) for name in variants}
    with SearchIndex(index) as ix:
        for keyword in keywords[:20]:
            ix.search(keyword)
        names = list(variants)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                for i, keyword in enumerate(keywords):
                    start = time.perf_counter()
                    result = ix.search(keyword, **variants[name](i))
                    best[name][i] = min(best[name][i], time.perf_counter() - start)
                    partial[name] += result.partial and round_ == 0
                    exact[name][i] = not result.partial
    print(f"{args.tang} poems, {len(keywords)} keyword queries, fastest of {args.rounds} rounds each")
    print("| query | p50 ms | p95 ms | p50 / plain | p95 / plain | partial | exact answers only: p50 / plain |")
    print("|---|---|---|---|---|---|---|")
    base = best["plain"]
    for name, times in best.items():
        p50, p95 = statistics.median(times) * 1000, percentile(times, 95) * 1000
        b50, b95 = statistics.median(base) * 1000, percentile(base, 95) * 1000
        kept = [i for i, ok in enumerate(exact[name]) if ok]
        ratio = statistics.median(times[i] for i in kept) / statistics.median(base[i] for i in kept) if kept else float("nan")
        print(f"| {name} | {p50:.2f} | {p95:.2f} | {p50 / b50:.2f} | {p95 / b95:.2f} | {partial[name]} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
