"""A sharded index on Dask: build time with 1 and 2 workers, query latency of 1, 2 and 4 shards
against one index of the same poems, and the peak memory of each worker.

    python benchmarks/shards.py [--poems 200000] [--shards 4] [--rounds 2] [--queries 300] [--json-out PATH]

The corpus is the first ``--poems`` Tang poems (the shared file repeated with
new ids beyond its 57,607), written once as JSONL. Builds: ``searchkit index
--shards N --scheduler ADDRESS`` (shared storage) against a ``dask scheduler``
and 1 or 2 ``dask worker`` processes (one thread each, no nanny) started for
that build alone, so that each worker's peak RSS and CPU time are its own; the
order of the 1- and 2-worker builds alternates per round and the medians are
compared. The machine's load average before and after each build shows what
else ran; the CPU time of the one worker against that of the busier of two says
what speed-up the division of the work allows, whatever else used the cores.
The cluster's start is not in the build time; the time is the whole command
(reading the input here, sending the batches, the workers' analysis and
commits). One index of the same file (``searchkit index``, this machine's
default processes) is built as the reference.

Queries: in this process, each index opened with ``SearchIndex.open`` (the
sharded ones search with their shards' global statistics: a statistics round,
then the query round), keyword queries (2-4 characters cut from the poems) and
two-keyword queries, article level, 10 hits, with snippets. The indexes: one
index, 1, 2 and ``--shards`` shards on shared storage (read in this process,
shard after shard), and the same ``--shards`` shards served by Dask actors on
2 workers (a shard map of placement ``workers`` naming them: on one machine
their own disks are this one), which answer side by side. Every query is asked
of every index in turn, the order rotating, after a warm-up; p50/p95 and their
ratios to the single index.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    dir_size,
    eprint,
    load_tang,
    markdown_table,
    percentile,
    provenance,
    run_measured,
    searchkit_cmd,
    units,
    write_jsonl,
)
from speed import keyword_queries


def start_cluster(workers: int, folder: Path) -> tuple[list[subprocess.Popen], object, str]:
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes on loopback; (processes, client, address)."""
    from distributed import Client

    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    log = open(folder / "cluster.log", "ab")
    processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                                   "127.0.0.1:0", "--scheduler-file", str(scheduler_file)], stdout=log, stderr=log)]
    while not scheduler_file.exists():
        time.sleep(0.1)
    address = json.loads(scheduler_file.read_text())["address"]
    for number in range(workers):
        processes.append(subprocess.Popen(
            [*dask, "worker", address, "--name", f"w{number + 1}", "--nthreads", "1", "--no-nanny", "--host",
             "127.0.0.1", "--dashboard-address", "127.0.0.1:0", "--local-directory", str(folder / f"w{number + 1}")],
            stdout=log, stderr=log))
    client = Client(address, timeout=60)
    client.wait_for_workers(workers, timeout=120)
    return processes, client, address


def stop_cluster(processes: list[subprocess.Popen], client: object) -> None:
    client.close()  # type: ignore[attr-defined]
    for process in reversed(processes):  # the workers, then the scheduler
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _usage() -> tuple[int, float]:
    """On a worker: its peak RSS (KiB) and CPU seconds (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def build_sharded(jsonl: Path, index_dir: Path, shards: int, workers: int, scratch: Path) -> dict:
    processes, client, address = start_cluster(workers, scratch)
    try:
        shutil.rmtree(index_dir, ignore_errors=True)
        before = client.run(_usage)  # type: ignore[attr-defined]
        load = os.getloadavg()[0]
        run = run_measured(searchkit_cmd() + ["--index", str(index_dir), "index", "--shards", str(shards),
                                              "--scheduler", address, str(jsonl)])
        if run.returncode != 0:
            raise SystemExit(f"build failed: {run.stderr.strip()}")
        after = client.run(_usage)  # type: ignore[attr-defined]
    finally:
        stop_cluster(processes, client)
        shutil.rmtree(scratch, ignore_errors=True)
    return {"workers": workers, "shards": shards, "seconds": run.wall, "coordinator_rss_mib": run.maxrss_kib / 1024,
            "worker_rss_mib": sorted(after[w][0] / 1024 for w in after),
            "worker_cpu_s": sorted(after[w][1] - before[w][1] for w in after),
            "load_before": load, "load_after": os.getloadavg()[0], "summary": run.stdout.strip()}


def build_single(jsonl: Path, index_dir: Path) -> dict:
    shutil.rmtree(index_dir, ignore_errors=True)
    run = run_measured(searchkit_cmd() + ["--index", str(index_dir), "index", str(jsonl)])
    if run.returncode != 0:
        raise SystemExit(f"build failed: {run.stderr.strip()}")
    return {"seconds": run.wall, "rss_mib": run.maxrss_kib / 1024}


def time_queries(paths: dict[str, Path], queries: list[str], warmup: int) -> dict[str, list[float]]:
    """Milliseconds per query per index; every query asked of each index, the order rotating."""
    from searchkit import QueryError, SearchIndex

    opened = {name: SearchIndex.open(path) for name, path in paths.items()}
    names = list(opened)
    times: dict[str, list[float]] = {name: [] for name in names}
    totals: dict[str, list[int]] = {name: [] for name in names}
    try:
        for number, query in enumerate(queries):
            order = names[number % len(names):] + names[:number % len(names)]
            for name in order:
                start = time.perf_counter()
                try:
                    result = opened[name].search(query, limit=10)
                except QueryError:
                    continue
                elapsed = (time.perf_counter() - start) * 1000
                if number >= warmup:
                    times[name].append(elapsed)
                    totals[name].append(result.total)
    finally:
        for index in opened.values():
            index.close()
    first = totals[names[0]]
    for name in names[1:]:  # the same answers' sizes (tests/test_fanout.py checks the answers themselves)
        assert totals[name] == first, f"{name} answered other totals than {names[0]}"
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--poems", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=4, help="shards of the timed builds (default 4)")
    parser.add_argument("--rounds", type=int, default=2, help="builds with 1 and with 2 workers each, order alternating")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sk-shards-"))
    workdir.mkdir(parents=True, exist_ok=True)
    docs = load_tang(args.poems)
    jsonl = write_jsonl(docs, workdir / "poems.jsonl")
    eprint(f"{len(docs)} poems, {sum(len(d.paragraphs) for d in docs)} lines, {jsonl.stat().st_size / 1e6:.1f} MB")
    report: dict = {"poems": len(docs), "cpus": os.cpu_count(), "builds": [], "queries": {}}

    # Builds: 1 and 2 workers, the order alternating per round.
    for round_number in range(args.rounds):
        for workers in ((1, 2) if round_number % 2 == 0 else (2, 1)):
            built = build_sharded(jsonl, workdir / f"sharded-{args.shards}", args.shards, workers, workdir / "cluster")
            built["round"] = round_number
            report["builds"].append(built)
            eprint(f"round {round_number}: {workers} worker(s): {built['seconds']:.1f} s, workers' CPU "
                   f"{', '.join(f'{c:.0f}' for c in built['worker_cpu_s'])} s, peak RSS "
                   f"{', '.join(f'{m:.0f}' for m in built['worker_rss_mib'])} MiB, coordinator "
                   f"{built['coordinator_rss_mib']:.0f} MiB, load {built['load_before']:.1f} -> {built['load_after']:.1f}")
    medians = {w: statistics.median(b["seconds"] for b in report["builds"] if b["workers"] == w) for w in (1, 2)}
    report["build_speedup"] = medians[1] / medians[2]
    # What the work's division allows, whatever else ran on the cores: the CPU time of one worker
    # against that of the busier of two.
    cpu = {w: statistics.median(max(b["worker_cpu_s"]) if w == 2 else sum(b["worker_cpu_s"])
                                for b in report["builds"] if b["workers"] == w) for w in (1, 2)}
    report["cpu_speedup"] = cpu[1] / cpu[2]

    # The indexes the queries compare: one index, and 1, 2 and args.shards shards (built by 2 workers).
    report["single_build"] = build_single(jsonl, workdir / "single")
    eprint(f"one index: {report['single_build']['seconds']:.1f} s")
    paths = {"one index": workdir / "single"}
    for count in sorted({1, 2, args.shards}):
        target = workdir / f"sharded-{count}"
        if count != args.shards:
            build_sharded(jsonl, target, count, 2, workdir / "cluster")
        paths[f"{count} shard{'s' if count != 1 else ''}"] = target

    # The same 4 shards served by Dask actors on 2 workers (their "own disks" are this one).
    processes, client, address = start_cluster(2, workdir / "cluster")
    try:
        served = workdir / f"served-{args.shards}"
        served.mkdir(exist_ok=True)
        shard_map = json.loads((workdir / f"sharded-{args.shards}" / "shards.json").read_text(encoding="utf-8"))
        shard_map.update(placement="workers", scheduler=address, layout=[
            {"shard": place["shard"], "worker": f"w{place['shard'] % 2 + 1}",
             "path": str((workdir / f"sharded-{args.shards}" / place["path"]).resolve())} for place in shard_map["layout"]])
        (served / "shards.json").write_text(json.dumps(shard_map), encoding="utf-8")
        paths[f"{args.shards} shards, served by 2 workers"] = served

        keywords = keyword_queries(units(docs), args.queries + args.warmup, args.seed)
        pairs = [f"{a} {b}" for a, b in zip(keywords[::2], keywords[1::2])]
        for kind, queries in (("keyword", keywords), ("two keywords", pairs)):
            times = time_queries(paths, queries, min(args.warmup, len(queries) // 4))
            base = times["one index"]
            report["queries"][kind] = {
                name: {"n": len(t), "p50_ms": percentile(t, 50), "p95_ms": percentile(t, 95),
                       "p50_ratio": percentile(t, 50) / percentile(base, 50),
                       "p95_ratio": percentile(t, 95) / percentile(base, 95)}
                for name, t in times.items()}
    finally:
        stop_cluster(processes, client)
    report["sizes_mib"] = {name: dir_size(path) / 2**20 for name, path in paths.items() if "served" not in name}

    print(f"<!-- {provenance()} -->")
    print(f"\n{len(docs)} poems, {os.cpu_count()} cores; builds of {args.shards} shards on shared storage, "
          f"{args.rounds} rounds (order alternating)\n")
    rows = []
    for b in report["builds"]:
        rows.append([b["round"], b["workers"], f"{b['seconds']:.1f}", ", ".join(f"{c:.0f}" for c in b["worker_cpu_s"]),
                     ", ".join(f"{m:.0f}" for m in b["worker_rss_mib"]), f"{b['coordinator_rss_mib']:.0f}",
                     f"{b['load_before']:.1f} / {b['load_after']:.1f}"])
    print(markdown_table(["round", "workers", "build s", "CPU s per worker", "peak RSS per worker MiB",
                          "coordinator MiB", "load avg before / after"], rows))
    print(f"\nmedian build: 1 worker {medians[1]:.1f} s, 2 workers {medians[2]:.1f} s: "
          f"{report['build_speedup']:.2f}x (goal >= 1.6x); CPU time of one worker / of the busier of two: "
          f"{report['cpu_speedup']:.2f}x; one index (`searchkit index`): "
          f"{report['single_build']['seconds']:.1f} s, {report['single_build']['rss_mib']:.0f} MiB\n")
    print("size on disk: " + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in report["sizes_mib"].items()) + "\n")
    for kind, table in report["queries"].items():
        rows = [[name, v["n"], f"{v['p50_ms']:.1f}", f"{v['p95_ms']:.1f}", f"{v['p50_ratio']:.2f}", f"{v['p95_ratio']:.2f}"]
                for name, v in table.items()]
        print(f"{kind} queries (article level, 10 hits):\n")
        print(markdown_table(["index", "queries", "p50 ms", "p95 ms", "p50 / one", "p95 / one"], rows))
        print()
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
