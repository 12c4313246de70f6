"""Two versions of searchkit's query path on one index, alternated.

    python benchmarks/querypath.py INDEX --base /path/to/worktree [--new .] [--tang 10000] [--pairs 6]

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
pairs of those per-keyword times' p50 and mean, per version, and new / base.

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


def _child(src: str, index: str, tang: int, rounds: int, queries: int, seed: int, cpu: int) -> None:
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
            ix.search(keyword, level="paragraph")
        for i, keyword in enumerate(keywords):
            start = time.thread_time()
            ix.search(keyword, level="paragraph")
            best[i] = min(best[i], time.thread_time() - start)
        ix.close()
    print(statistics.median(best) * 1000, statistics.fmean(best) * 1000)


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
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.new, args.index, args.tang, args.rounds, args.queries, args.seed, args.cpu)
        return 0
    figures: dict[str, list[tuple[float, float]]] = {"base": [], "new": []}
    for pair in range(args.pairs):
        order = (("base", args.base), ("new", args.new))
        for name, src in order if pair % 2 == 0 else order[::-1]:  # the first runner is favoured: alternate
            cmd = [sys.executable, __file__, args.index, "--child", "--base", args.base, "--new", src,
                   "--tang", str(args.tang), "--rounds", str(args.rounds), "--queries", str(args.queries),
                   "--seed", str(args.seed), "--cpu", str(args.cpu)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
            figures[name].append((float(out[0]), float(out[1])))
            print(f"pair {pair + 1} {name}: p50 {out[0][:5]} ms, mean {out[1][:5]} ms", file=sys.stderr)
    summary = {name: (statistics.median(p for p, _ in runs), statistics.median(m for _, m in runs))
               for name, runs in figures.items()}
    print("| version | keyword p50 ms | keyword mean ms |\n|---|---|---|")
    for name, (p50, mean) in summary.items():
        print(f"| {name} | {p50:.3f} | {mean:.3f} |")
    print(f"| new / base | {summary['new'][0] / summary['base'][0]:.2f} | {summary['new'][1] / summary['base'][1]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
