"""Speed, memory and disk: searchkit against naive Whoosh and SQLite FTS5.

    python benchmarks/speed.py [CORPUS ...] [--tang 10000 50000 [200000]] [--repeat R]
                               [--queries N] [--systems searchkit,searchkit-bigrams,searchkit-pinyin,naive,fts5] [--no-cold]

CORPUS: SQuAD JSON or JSONL (default: the shared CMRC and DRCD files; each is
one corpus). ``--tang N``: the first N Tang poems as a corpus (repeatable;
beyond the file's 57,607 poems the file is repeated with ids suffixed), default
10000 and 50000; ``--tang 0`` for none. The poems carry metadata: their
authors, a made-up date each (a day apart from 0618-01-01) and one of four
sources in turn.

Per corpus and system (searchkit-bigrams: searchkit's index with character
bigrams, ``index --grams 2``; searchkit-pinyin: with pinyin, ``index --pinyin``,
not in the default systems):

* index time: the build runs in a fresh subprocess (searchkit: its CLI JSONL
  import; baselines: ``baselines.py build``), wall time including start-up;
  ``--repeat R`` builds R times, median reported;
* peak RSS of that subprocess (``os.wait4``), index size on disk;
* per-query latency with snippets, warm, in this process (p50/p95 ms), for
  keyword queries (random 2-4 character substrings; searchkit plain keyword,
  naive AND-parser, FTS5 phrase) and question queries (the QA questions; for
  Tang: the first 5 characters of random lines; searchkit as typed, naive
  OR-parser, FTS5 OR of tokens);
* searchkit-pinyin also answers the keyword queries written in toneless
  pinyin (pypinyin's ``lazy_pinyin`` of each, joined: 春风 -> chunfeng),
  reported as "pinyin kw p50/p95".

On the poems, searchkit's filters, facets and date sorting (``--filter-rounds``,
0 for none): the keyword queries on a warm searcher, at paragraph and at
article level, as ``plain``, ``--author`` (the commonest author), ``--source``
(one of the four), a date range (the later half of the years), ``--facets
author,year`` and ``--sort -date``. Each query is asked in every variant in
turn, the order rotating from query to query and round to round (the first
runner is favoured); a query's time is its fastest round. Printed per level
and variant: p50 and p95, each as a ratio to ``plain`` at that level (the
goal: at most 1.5), the median of the per-query ratios, how many queries fall
back to partial matches (a filter can leave a keyword no exact match), and
p50 / plain over the queries answered exactly in both.

Then the cold CLI: ``searchkit --index DIR search 民族团结`` on an index of the
seed newspaper page, a fresh process each time, 5 runs, median (and the same
for the baselines through ``baselines.py search``).

The machine is shared and noisy: compare the ratios, measured in one run.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH_DIR,
    POEM_SOURCES,
    DEFAULT_QA,
    DEFAULT_SEED,
    Doc,
    dir_size,
    eprint,
    load_jsonl,
    load_squad,
    load_tang,
    markdown_table,
    median,
    percentile,
    ratio,
    rng,
    run_measured,
    provenance,
    searchkit_available,
    searchkit_cmd,
    units,
    write_jsonl,
)
from keywords import _ok  # noqa: E402

DEFAULT_SYSTEMS = ["searchkit", "searchkit-bigrams", "naive", "fts5"]
ALL_SYSTEMS = [*DEFAULT_SYSTEMS, "searchkit-pinyin"]
# searchkit's index with character bigrams (`index --grams 2`): not the default
# (a larger index, slower to build), measured beside it for its query times.
SEARCHKIT_SYSTEMS = ("searchkit", "searchkit-bigrams", "searchkit-pinyin")
COLD_QUERY = "民族团结"


def keyword_queries(unit_list: list[tuple[str, str]], n: int, seed: int) -> list[str]:
    r = rng(seed)
    out: list[str] = []
    tries = 0
    while len(out) < n and tries < n * 100:
        tries += 1
        _key, text = r.choice(unit_list)
        length = r.randint(2, 4)
        if len(text) < length:
            continue
        start = r.randint(0, len(text) - length)
        piece = text[start : start + length]
        if _ok(piece):
            out.append(piece)
    return out


def pinyin_queries(keywords: list[str]) -> list[str]:
    """The keywords in toneless pinyin, joined (春风 -> chunfeng); those that are all Chinese."""
    from pypinyin import lazy_pinyin

    out = []
    for keyword in keywords:
        spelled = "".join(lazy_pinyin(keyword))
        if spelled.isascii() and spelled.isalpha():
            out.append(spelled)
    return out


def line_queries(unit_list: list[tuple[str, str]], n: int, seed: int) -> list[str]:
    r = rng(seed + 1)
    out = []
    for _ in range(n * 20):
        if len(out) >= n:
            break
        text = r.choice(unit_list)[1].strip()
        # A line opening with "-" would be an exclusion-only query (refused by design).
        if len(text) >= 5 and not text.startswith("-") and any(c.isalnum() for c in text[:5]):
            out.append(text[:5])
    return out


def build_cmd(system: str, jsonl: Path, index_dir: Path) -> list[str]:
    if system in SEARCHKIT_SYSTEMS:
        grams = {"searchkit-bigrams": ["--grams", "2"], "searchkit-pinyin": ["--pinyin"]}.get(system, [])
        return searchkit_cmd() + ["--index", str(index_dir), "index", *grams, str(jsonl)]
    return [sys.executable, str(BENCH_DIR / "baselines.py"), "build", system, str(jsonl), str(index_dir)]


def build(system: str, jsonl: Path, index_dir: Path, repeat: int) -> dict:
    walls, rss = [], []
    for _ in range(max(1, repeat)):
        if index_dir.exists():
            shutil.rmtree(index_dir)
        res = run_measured(build_cmd(system, jsonl, index_dir))
        if res.returncode != 0:
            raise RuntimeError(f"{system} build failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
        walls.append(res.wall)
        rss.append(res.maxrss_kib)
    return {"build_s": median(walls), "build_runs": walls, "rss_mib": max(rss) / 1024, "size": dir_size(index_dir)}


def open_system(system: str, index_dir: Path):
    """A (search with snippets) callable per query mode for the system."""
    if system in SEARCHKIT_SYSTEMS:
        from searchkit import SearchIndex

        opener = getattr(SearchIndex, "open", None) or SearchIndex
        index = opener(index_dir)

        def run(query: str, mode: str) -> int:
            result = index.search(query, limit=10, level="paragraph")
            n = 0
            for hit in result.hits:  # touch the snippets, as a caller would
                n += len(hit.snippet.text) + len(hit.snippet.highlights)
            return len(result.hits)

        return run, index.close
    from baselines import SYSTEMS

    searcher = SYSTEMS[system].open(index_dir)

    def run(query: str, mode: str) -> int:
        return len(searcher.search_with_highlights(query, limit=10, mode=mode))

    return run, searcher.close


def time_queries(run, queries: list[str], mode: str, warmup: int = 5) -> dict:
    for q in queries[:warmup]:
        run(q, mode)
    times, answered = [], []
    for q in queries:
        t0 = time.perf_counter()
        answered.append(run(q, mode) > 0)
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50": percentile(times, 50), "p95": percentile(times, 95), "n": len(times),
            "with_hits": sum(answered) / len(times) if times else 0, "times": times, "answered": answered}


def p50_where(result: dict, answered: list[bool]) -> float:
    """p50 over the queries that ``answered`` marks (another system's answered ones)."""
    return percentile([t for t, keep in zip(result["times"], answered) if keep], 50)


FILTER_VARIANTS = ("plain", "author", "source", "date", "facets", "sort")


def filter_options(docs: list[Doc]) -> dict[str, dict]:
    """``SearchIndex.search`` keyword arguments of each variant, on the poems with metadata."""
    authors = collections.Counter(doc.meta["author"] for doc in docs if doc.meta.get("author"))
    years = sorted(doc.meta["date"][:4] for doc in docs)
    return {
        "plain": {},
        "author": {"author": [authors.most_common(1)[0][0]]},
        "source": {"source": [POEM_SOURCES[1]]},
        "date": {"date_from": years[len(years) // 2], "date_to": years[-1]},
        "facets": {"facets": ["author", "year"]},
        "sort": {"sort": "-date"},
    }


def time_filters(index_dir: Path, docs: list[Doc], queries: list[str], rounds: int) -> list[dict]:
    """Per level and variant: p50/p95 ms, ratios to plain, partial answers (see the module's docstring)."""
    from searchkit import SearchIndex

    options = filter_options(docs)
    rows = []
    with SearchIndex(index_dir) as index:
        for level in ("paragraph", "article"):
            for q in queries[:20]:  # warm up: the searcher's caches, the filters' documents per segment
                for name in FILTER_VARIANTS:
                    index.search(q, limit=10, level=level, **options[name])
            best = {name: [float("inf")] * len(queries) for name in FILTER_VARIANTS}
            partial = {name: [False] * len(queries) for name in FILTER_VARIANTS}
            for round_ in range(rounds):
                for i, q in enumerate(queries):
                    turn = (i + round_) % len(FILTER_VARIANTS)
                    for name in FILTER_VARIANTS[turn:] + FILTER_VARIANTS[:turn]:
                        t0 = time.perf_counter()
                        result = index.search(q, limit=10, level=level, **options[name])
                        for hit in result.hits:  # touch the snippets, as a caller would
                            len(hit.snippet.text)
                        best[name][i] = min(best[name][i], (time.perf_counter() - t0) * 1000)
                        partial[name][i] = result.partial
            plain = best["plain"]
            for name in FILTER_VARIANTS:
                times = best[name]
                exact = [i for i in range(len(queries)) if not partial[name][i] and not partial["plain"][i]]
                rows.append({
                    "level": level, "variant": name, "p50": percentile(times, 50), "p95": percentile(times, 95),
                    "p50_ratio": ratio(percentile(times, 50), percentile(plain, 50)),
                    "p95_ratio": ratio(percentile(times, 95), percentile(plain, 95)),
                    "median_ratio": median([t / b for t, b in zip(times, plain)]),
                    "partial": sum(partial[name]),
                    "exact_p50_ratio": ratio(percentile([times[i] for i in exact], 50),
                                             percentile([plain[i] for i in exact], 50)) if exact else None,
                    "times": times, "partial_flags": partial[name],
                })
            eprint("    " + ", ".join(f"{level} {r['variant']} p50 {r['p50']:.2f} ms" for r in rows if r["level"] == level))
    return rows


def cold_runs(systems: list[str], workdir: Path, runs: int = 5) -> dict[str, dict]:
    seed_jsonl = workdir / "seed.jsonl"
    seed_text = DEFAULT_SEED.read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in seed_text.split("\n") if p.strip()]
    write_jsonl([Doc("seed", paragraphs[0], paragraphs)], seed_jsonl)
    out = {}
    for system in systems:
        if system == "searchkit-bigrams":
            continue  # the same start-up as searchkit's
        index_dir = workdir / f"seed.{system}"
        if system == "searchkit":
            res = run_measured(searchkit_cmd() + ["--index", str(index_dir), "index", str(DEFAULT_SEED)])
        else:
            res = run_measured(build_cmd(system, seed_jsonl, index_dir))
        if res.returncode != 0:
            eprint(f"cold: {system} index failed: {res.stderr.strip()[-500:]}")
            continue
        walls, rss, hits = [], [], None
        for _ in range(runs):
            if system == "searchkit":
                cmd = searchkit_cmd() + ["--index", str(index_dir), "search", COLD_QUERY]
            else:
                cmd = [sys.executable, str(BENCH_DIR / "baselines.py"), "search", system, str(index_dir), COLD_QUERY]
            res = run_measured(cmd)
            if res.returncode != 0:
                eprint(f"cold: {system} search failed ({res.returncode}): {res.stderr.strip()[-500:]}")
                break
            walls.append(res.wall)
            rss.append(res.maxrss_kib)
            hits = res.stdout.count("\n")
        if walls:
            out[system] = {"median_s": median(walls), "runs": walls, "rss_mib": max(rss) / 1024, "output_lines": hits}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", type=Path, default=DEFAULT_QA)
    parser.add_argument("--tang", type=int, nargs="+", default=[10000, 50000], metavar="N")
    parser.add_argument("--repeat", type=int, default=1, help="builds per system and corpus (median)")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind per corpus")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS))
    parser.add_argument("--no-cold", action="store_true", help="skip the cold CLI timing")
    parser.add_argument("--filter-rounds", type=int, default=3,
                        help="rounds of the filtered, faceted and sorted poem queries (0: none)")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep indexes here (default: temp dir, removed)")
    args = parser.parse_args(argv)
    print(f"<!-- {provenance()} -->\n", flush=True)

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if any(s in SEARCHKIT_SYSTEMS for s in systems) and (reason := searchkit_available()):
        eprint(f"searchkit unavailable ({reason}); skipping it")
        systems = [s for s in systems if s not in SEARCHKIT_SYSTEMS]

    corpora: list[tuple[str, list[Doc], list[str] | None]] = []
    for path in args.corpora:
        if str(path).endswith(".jsonl"):
            corpora.append((path.stem, load_jsonl(path), None))
        else:
            qa = load_squad(path)
            corpora.append((qa.name, qa.docs, [q for q, _ in qa.questions]))
    for n in args.tang:
        if n > 0:
            corpora.append((f"tang{n // 1000}k" if n % 1000 == 0 else f"tang{n}", load_tang(n, metadata=True), None))

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="sk-speed-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)

    results: list[dict] = []
    filtered: list[dict] = []
    cold: dict = {}
    try:
        for name, docs, questions in corpora:
            unit_list = units(docs)
            jsonl = write_jsonl(docs, workdir / f"{name}.jsonl")
            kw = keyword_queries(unit_list, args.queries, args.seed)
            if questions:
                qs = rng(args.seed).sample(questions, min(args.queries, len(questions)))
                qs = [" ".join(q.split()) for q in qs]
            else:
                qs = line_queries(unit_list, args.queries, args.seed)
            eprint(f"{name}: {len(docs)} articles, {len(unit_list)} paragraphs, {sum(len(t) for _, t in unit_list)} chars")
            for system in systems:
                index_dir = workdir / f"{name}.{system}"
                eprint(f"  {system}: building x{args.repeat} ...")
                try:
                    b = build(system, jsonl, index_dir, args.repeat)
                except RuntimeError as exc:
                    eprint(f"  {exc}")
                    continue
                eprint(f"    {b['build_s']:.1f}s, {b['rss_mib']:.0f} MiB RSS, {b['size'] / 2**20:.1f} MiB on disk; querying ...")
                run, close = open_system(system, index_dir)
                try:
                    k = time_queries(run, kw, "keyword")
                    q = time_queries(run, qs, "question")
                    py = time_queries(run, pinyin_queries(kw), "keyword") if system == "searchkit-pinyin" else None
                finally:
                    close()
                eprint(f"    keyword p50 {k['p50']:.1f} ms p95 {k['p95']:.1f} ms; question p50 {q['p50']:.1f} ms p95 {q['p95']:.1f} ms")
                if py is not None:
                    eprint(f"    pinyin kw p50 {py['p50']:.1f} ms p95 {py['p95']:.1f} ms, with hits {py['with_hits']:.2f}")
                results.append({"corpus": name, "system": system, "paragraphs": len(unit_list), **b, "kw": k, "q": q, "py": py})
                if system == "searchkit" and args.filter_rounds > 0 and any(doc.meta for doc in docs):
                    eprint(f"  {system}: filters, facets, sorting x{args.filter_rounds} rounds ...")
                    filtered.append({"corpus": name, "rows": time_filters(index_dir, docs, kw, args.filter_rounds)})
                shutil.rmtree(index_dir, ignore_errors=True)
            jsonl.unlink()
        if not args.no_cold:
            eprint("cold CLI ...")
            cold = cold_runs(systems, workdir, args.cold_runs)
    finally:
        if tmp is not None:
            tmp.cleanup()

    rows = []
    for r in results:
        rows.append(
            [r["corpus"], r["system"], r["paragraphs"], r["build_s"], r["rss_mib"], r["size"] / 2**20,
             r["kw"]["p50"], r["kw"]["p95"], r["q"]["p50"], r["q"]["p95"], r["kw"]["with_hits"], r["q"]["with_hits"]]
        )
    print(markdown_table(
        ["corpus", "system", "paragraphs", "index s", "peak RSS MiB", "size MiB", "kw p50 ms", "kw p95 ms", "q p50 ms", "q p95 ms", "kw with hits", "q with hits"],
        rows, digits=2))

    pinyin_rows = [[r["corpus"], r["py"]["n"], r["kw"]["p50"], r["kw"]["p95"], r["py"]["p50"], r["py"]["p95"], r["py"]["with_hits"]]
                   for r in results if r.get("py")]
    if pinyin_rows:
        print("\nsearchkit-pinyin: the keyword queries as typed and in toneless pinyin\n")
        print(markdown_table(["corpus", "queries", "kw p50 ms", "kw p95 ms", "pinyin kw p50 ms", "pinyin kw p95 ms", "pinyin with hits"],
                             pinyin_rows, digits=2))

    ratio_rows = []
    by = {(r["corpus"], r["system"]): r for r in results}
    metrics = [("index s", lambda r: r["build_s"]), ("peak RSS", lambda r: r["rss_mib"]), ("size", lambda r: r["size"]),
               ("kw p50", lambda r: r["kw"]["p50"]), ("kw p95", lambda r: r["kw"]["p95"]),
               ("q p50", lambda r: r["q"]["p50"]), ("q p95", lambda r: r["q"]["p95"])]
    for name, _docs, _q in corpora:
        for variant in SEARCHKIT_SYSTEMS:
            sk = by.get((name, variant))
            if not sk:
                continue
            row = [name, variant]
            for _label, get in metrics:
                row.append(ratio(get(by[(name, "naive")]), get(sk)) if (name, "naive") in by else None)
            for _label, get in metrics:
                row.append(ratio(get(by[(name, "fts5")]), get(sk)) if (name, "fts5") in by else None)
            ratio_rows.append(row)
    if ratio_rows:
        print("\nratios baseline/searchkit (> 1: searchkit is faster / smaller)\n")
        print(markdown_table(["corpus", "searchkit"] + [f"naive/sk {m}" for m, _ in metrics] + [f"fts5/sk {m}" for m, _ in metrics],
                             ratio_rows, digits=2))
    # The naive set-up finds only whole jieba words: many keywords get an empty
    # answer, which is quick. The same ratio over the keywords it does answer:
    answered_rows = []
    for name, _docs, _q in corpora:
        for variant in SEARCHKIT_SYSTEMS:
            sk, naive = by.get((name, variant)), by.get((name, "naive"))
            if sk and naive and any(naive["kw"]["answered"]):
                mask = naive["kw"]["answered"]
                sk_p50, naive_p50 = p50_where(sk["kw"], mask), p50_where(naive["kw"], mask)
                answered_rows.append([name, variant, sum(mask), naive_p50, sk_p50, ratio(naive_p50, sk_p50)])
    if answered_rows:
        print("\nkeyword queries the naive set-up answers (at least one hit)\n")
        print(markdown_table(["corpus", "searchkit", "queries", "naive kw p50 ms", "searchkit kw p50 ms", "naive/sk"], answered_rows, digits=2))
    for run in filtered:
        print(f"\n{run['corpus']}: filters, facets and date sorting against the plain query (searchkit, warm; "
              f"fastest of {args.filter_rounds} rounds)\n")
        print(markdown_table(
            ["level", "query", "p50 ms", "p95 ms", "p50 / plain", "p95 / plain", "median of ratios", "partial",
             "exact in both: p50 / plain"],
            [[r["level"], r["variant"], r["p50"], r["p95"], r["p50_ratio"], r["p95_ratio"], r["median_ratio"], r["partial"],
              r["exact_p50_ratio"]] for r in run["rows"]], digits=2))
    if cold:
        print(f"\ncold `search {COLD_QUERY}` on the seed page, fresh process, {args.cold_runs} runs\n")
        base = cold.get("searchkit", {}).get("median_s")
        print(markdown_table(
            ["system", "median s", "runs", "peak RSS MiB", "ratio to searchkit", "output lines"],
            [[s, c["median_s"], " ".join(f"{w:.2f}" for w in c["runs"]), c["rss_mib"], ratio(c["median_s"], base), c["output_lines"]] for s, c in cold.items()],
            digits=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"results": results, "filtered": filtered, "cold": cold}, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
