"""Two versions of searchkit's query path on one index, alternated.

    python benchmarks/querypath.py INDEX --base /path/to/worktree [--new .] [--tang 10000] [--pairs 6] [--level article]

``INDEX`` is an index of the first ``--tang`` poems (build it with
``searchkit --index INDEX index FILE.jsonl``); the keywords are
``speed.py``'s (the same seed). Each version runs in its own process,
``--pairs`` times, base and new in turn (the order alternating from pair to pair). A process opens the index
``--rounds`` times, each time with a fresh searcher (cold caches: the
benchmark's case), answers every keyword once per round, and keeps each
keyword's fastest time (CPU time of the thread, which the machine's other
tenants disturb less than wall time), pinned to CPU ``--cpu``. Even so a
process runs in a fast or a slow spell of this shared machine (0.75 or
1.2 ms for the same code): use many pairs. Printed: the median over the
pairs of those per-keyword times' p50, mean and p99, per version, and new / base.
``--level``: the searches' level (``paragraph``, the default, or ``article``).

``--base`` and ``--new`` are source trees (a ``git worktree`` of the
commit to compare); an editable install of either is bypassed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def _child(src: str, index: str, tang: int, rounds: int, queries: int, seed: int, cpu: int, level: str) -> None:
    if cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    # The editable install's finder would import the checkout it points at.
    sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]
    sys.path[:0] = [src, str(BENCH_DIR)]
    import searchkit

    if not Path(searchkit.__file__).resolve().is_relative_to(Path(src).resolve()):
        raise SystemExit(f"imported {searchkit.__file__}, not the tree at {src}")
    import speed
    from common import load_tang, units

    keywords = speed.keyword_queries(units(load_tang(tang)), queries, seed)
    best = [float("inf")] * len(keywords)
    for _ in range(rounds):
        ix = searchkit.SearchIndex(index)
        for keyword in keywords[:5]:
            ix.search(keyword, level=level)
        for i, keyword in enumerate(keywords):
            start = time.thread_time()
            ix.search(keyword, level=level)
            best[i] = min(best[i], time.thread_time() - start)
        ix.close()
    best.sort()
    print(statistics.median(best) * 1000, statistics.fmean(best) * 1000, best[min(len(best) - 1, int(len(best) * 0.99))] * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("--base", required=True, help="source tree of the version to compare against")
    parser.add_argument("--new", default=str(BENCH_DIR.parent), help="source tree of the new version (default: this one)")
    parser.add_argument("--tang", type=int, default=10000, help="the poems the index holds (for the keywords)")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cpu", type=int, default=0, help="the CPU both versions run on (-1: any)")
    parser.add_argument("--level", choices=("paragraph", "article"), default="paragraph")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.new, args.index, args.tang, args.rounds, args.queries, args.seed, args.cpu, args.level)
        return 0
    figures: dict[str, list[tuple[float, ...]]] = {"base": [], "new": []}
    for pair in range(args.pairs):
        order = (("base", args.base), ("new", args.new))
        for name, src in order if pair % 2 == 0 else order[::-1]:  # the first runner is favoured: alternate
            cmd = [sys.executable, __file__, args.index, "--child", "--base", args.base, "--new", src,
                   "--tang", str(args.tang), "--rounds", str(args.rounds), "--queries", str(args.queries),
                   "--seed", str(args.seed), "--cpu", str(args.cpu), "--level", args.level]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
            figures[name].append(tuple(float(value) for value in out))
            print(f"pair {pair + 1} {name}: p50 {out[0][:5]} ms, mean {out[1][:5]} ms, p99 {out[2][:5]} ms", file=sys.stderr)
    summary = {name: tuple(statistics.median(run[k] for run in runs) for k in range(3)) for name, runs in figures.items()}
    print(f"{args.level} level, {args.queries} keywords\n")
    print("| version | keyword p50 ms | keyword mean ms | keyword p99 ms |\n|---|---|---|---|")
    for name, (p50, mean, p99) in summary.items():
        print(f"| {name} | {p50:.3f} | {mean:.3f} | {p99:.3f} |")
    print("| new / base | " + " | ".join(f"{summary['new'][k] / summary['base'][k]:.2f}" for k in range(3)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
