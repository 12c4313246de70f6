"""Question-answering relevance: does the paragraph that answers a question rank first?

    python benchmarks/relevance.py [SQUAD_JSON ...] [--limit-questions N] [--systems searchkit,naive,fts5,fts5_t2s]

Per QA set (default: the shared CMRC 2018 trial and DRCD dev files), every
paragraph becomes one searchkit article (id ``cmrc:TRIAL_800``, title: the
article title), indexed through searchkit's CLI JSONL import; every question is
asked through the CLI's batch search (``search - --json --limit 10``). Gold is
the question's paragraph. Figures: MRR@10, Recall@1, Recall@10, both with the
questions as written ("same") and converted to the other script with OpenCC
("cross": s2t for simplified sets, t2s for traditional ones). The baselines
(``baselines.py``) run on the same paragraphs in the same run; their MRR@10 is
repeated on every row as the reference. Empty questions are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_QA,
    QASet,
    convert,
    cross_config,
    eprint,
    load_squad,
    markdown_table,
    qa_metrics,
    run_measured,
    provenance,
    searchkit_available,
    searchkit_cmd,
    searchkit_hit_key,
    units,
    write_jsonl,
)
from baselines import SYSTEMS as BASELINES  # noqa: E402

ALL_SYSTEMS = ["searchkit", "naive", "fts5", "fts5_t2s"]


def searchkit_runs(qa: QASet, question_sets: dict[str, list[str]], workdir: Path, limit: int = 10) -> tuple[dict[str, list[list[str]]], dict]:
    """Index through the CLI, then batch-search each question set through the CLI."""
    jsonl = write_jsonl(qa.docs, workdir / f"{qa.name}.jsonl")
    index_dir = workdir / f"{qa.name}.searchkit"
    built = run_measured(searchkit_cmd() + ["--index", str(index_dir), "index", str(jsonl)])
    if built.returncode != 0:
        raise RuntimeError(f"searchkit index failed ({built.returncode}): {built.stderr.strip()[-2000:]}")
    info = {"index_s": built.wall, "index_stdout": built.stdout.strip()}
    runs: dict[str, list[list[str]]] = {}
    for label, questions in question_sets.items():
        lines = [" ".join(q.split()) for q in questions]
        res = run_measured(searchkit_cmd() + ["--index", str(index_dir), "search", "-", "--json", "--limit", str(limit)], stdin_text="\n".join(lines) + "\n")
        outputs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        if len(outputs) != len(lines):
            raise RuntimeError(
                f"searchkit batch search gave {len(outputs)} lines for {len(lines)} queries (rc {res.returncode}): {res.stderr.strip()[-2000:]}"
            )
        errors = sum(1 for o in outputs if "error" in o)
        mismatched = sum(1 for o, q in zip(outputs, lines) if o.get("query") not in (None, q))
        if errors or mismatched or res.returncode:
            eprint(f"  searchkit {qa.name}/{label}: {errors} query errors, {mismatched} out-of-order lines, exit {res.returncode}")
        runs[label] = [[searchkit_hit_key(h) for h in o.get("hits", [])] for o in outputs]
        info[f"search_{label}_s"] = res.wall
        info[f"errors_{label}"] = errors
    return runs, info


def baseline_runs(name: str, qa: QASet, question_sets: dict[str, list[str]], workdir: Path, limit: int = 10) -> tuple[dict[str, list[list[str]]], dict]:
    cls = BASELINES[name]
    start = time.perf_counter()
    system = cls.build(units(qa.docs), workdir / f"{qa.name}.{name}")
    info = {"index_s": time.perf_counter() - start}
    runs = {}
    try:
        for label, questions in question_sets.items():
            start = time.perf_counter()
            runs[label] = [system.search(q, limit=limit, mode="question") for q in questions]
            info[f"search_{label}_s"] = time.perf_counter() - start
    finally:
        system.close()
    return runs, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_QA, help="SQuAD-format JSON files")
    parser.add_argument("--limit-questions", type=int, default=None, metavar="N", help="first N questions per set")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS), help=f"comma-separated subset of {','.join(ALL_SYSTEMS)}")
    parser.add_argument("--titles", choices=["article", "id"], default="article",
                        help="searchkit article titles: the source's article title (DRCD: shared by all of an article's paragraphs) or the paragraph id")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--workdir", type=Path, default=None, help="keep indexes here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    print(f"<!-- {provenance()} -->\n", flush=True)

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in ALL_SYSTEMS]
    if unknown:
        parser.error(f"unknown systems: {unknown}")
    if "searchkit" in systems:
        reason = searchkit_available()
        if reason:
            eprint(f"searchkit unavailable ({reason}); skipping it")
            systems.remove("searchkit")

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="sk-relevance-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)

    results: list[dict] = []
    try:
        for path in args.files:
            qa = load_squad(path)
            if args.titles == "id":
                for doc in qa.docs:
                    doc.title = doc.id.split(":", 1)[-1]
            questions = qa.questions[: args.limit_questions] if args.limit_questions else qa.questions
            golds = [g for _, g in questions]
            config = cross_config(qa.script)
            question_sets = {
                "same": [q for q, _ in questions],
                "cross": [convert(q, config) for q, _ in questions],
            }
            eprint(f"{qa.name}: {len(qa.docs)} paragraphs, {len(questions)} questions, script {qa.script}, cross = {config}")
            for system in systems:
                eprint(f"  {system} ...")
                if system == "searchkit":
                    runs, info = searchkit_runs(qa, question_sets, workdir)
                else:
                    runs, info = baseline_runs(system, qa, question_sets, workdir)
                for label in question_sets:
                    m = qa_metrics(runs[label], golds)
                    results.append({"system": system, "set": qa.name, "script": label, "cross": config if label == "cross" else "", **m, "info": info})
                eprint("    " + ", ".join(f"{k}={v:.2f}s" if isinstance(v, float) else f"{k}={v}" for k, v in info.items() if k != "index_stdout"))
    finally:
        if tmp is not None:
            tmp.cleanup()

    def ref(system: str, r: dict) -> float | None:
        for o in results:
            if o["system"] == system and o["set"] == r["set"] and o["script"] == r["script"]:
                return o["MRR@10"]
        return None

    rows = []
    for r in results:
        script = r["script"] + (f" ({r['cross']})" if r["cross"] else "")
        rows.append([r["system"], r["set"], script, r["n"], r["MRR@10"], r["R@1"], r["R@10"], ref("naive", r), ref("fts5", r)])
    print(markdown_table(["system", "set", "questions", "n", "MRR@10", "R@1", "R@10", "naive MRR@10", "fts5 MRR@10"], rows))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
