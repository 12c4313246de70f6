"""Question-answering relevance: does the paragraph that answers a question rank first?

    python benchmarks/relevance.py [SQUAD_JSON ...] [--limit-questions N] [--systems searchkit,naive,fts5,fts5_t2s]
        [--split all,tune,check] [--units paragraph|article|both] [--set NAME=VALUE ...] [--dictionary titles]

Per QA set (default: the shared CMRC 2018 trial and DRCD dev files), every
paragraph becomes one searchkit article (id ``cmrc:TRIAL_800``, title: the
article title), indexed through searchkit's CLI JSONL import; every question is
asked through the CLI's batch search (``search - --json --limit 10``). Gold is
the question's paragraph. Figures: MRR@10, Recall@1, Recall@10, both with the
questions as written ("same") and converted to the other script with OpenCC
("cross": s2t for simplified sets, t2s for traditional ones). The baselines
(``baselines.py``) run on the same paragraphs in the same run; their MRR@10 is
repeated on every row as the reference. Empty questions are skipped.

Tune and check halves (``--split``): each SQuAD set is split by article, with
``common.split_half``: CRC-32 of the article's id, even -> "tune", odd ->
"check"; a question goes with its paragraph's article. The split only chooses
which questions are asked and scored: every index still holds ALL paragraphs
(or articles) of the set, so the ranking problem is the same as with "all".
``--split tune,check`` asks both halves in one run and reports each (and
"all" too when listed). Ranking constants are tuned on "tune" only; "check"
is kept for the report.

Units (``--units``): "paragraph" (the default) is the measure above.
"article" indexes each SQuAD *article* (its title and all its paragraphs) as
one searchkit article and asks ``search - --json --level article``: a hit is
correct when it is the gold paragraph's article (CMRC trial has one paragraph
per article, so there both measures rank the same texts; DRCD averages 2.6
paragraphs per article). The baselines, which index paragraphs, answer at
article level with their top 50 paragraphs mapped to articles, each article
ranked by its best paragraph, cut to 10. "both" runs the two.

``--set NAME=VALUE`` (repeatable, for tuning) overrides a ranking constant of
``searchkit/query.py`` (``TITLE_BOOST``, ``GRAMS_WEIGHT``, ``RERANK_POOL``,
``COVERAGE_POWER``, ``BIGRAM_WEIGHT``; ``QUESTION_WORDS`` as space-separated
words, ``QUESTION_PHRASES`` as a regular expression) or Whoosh's BM25F
parameters (``BM25_K1``, ``BM25_B``; searchkit uses Whoosh's defaults, 1.2 and
0.75) in the searching CLI process only.

``--dictionary titles`` gives each searchkit index, once built, a user
dictionary of the set's distinct article titles (mostly names: 梵蒂冈,
广州塔), through ``searchkit dictionary FILE``, before the questions are asked;
its time and summary line are printed with the index's.
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
    SPLITS,
    convert,
    cross_config,
    eprint,
    load_squad,
    load_squad_articles,
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
UNITS = ("paragraph", "article")
TUNABLE = ("TITLE_BOOST", "GRAMS_WEIGHT", "RERANK_POOL", "COVERAGE_POWER", "BIGRAM_WEIGHT",
           "QUESTION_WORDS", "QUESTION_PHRASES", "BM25_K1", "BM25_B")
BASELINE_ARTICLE_POOL = 50  # paragraphs a baseline returns for article-level ranking

# Run by ``python -c`` with the overrides (JSON) as its first argument, then the CLI's arguments.
_OVERRIDING_CLI = r"""
import json, re, sys
overrides = json.loads(sys.argv.pop(1))
import searchkit.query as q
bm25 = {k[5:]: float(v) for k, v in overrides.items() if k.startswith("BM25_")}
if bm25:
    from whoosh import scoring
    _init = scoring.BM25F.__init__
    def __init__(self, B=bm25.get("B", 0.75), K1=bm25.get("K1", 1.2), **kwargs):
        _init(self, B=B, K1=K1, **kwargs)
    scoring.BM25F.__init__ = __init__
for name, value in overrides.items():
    if name.startswith("BM25_"):
        continue
    if name == "QUESTION_WORDS":
        q.QUESTION_WORDS = frozenset(value.split())
    elif name == "QUESTION_PHRASES":
        q.QUESTION_PHRASES = re.compile(value)
    else:
        setattr(q, name, type(getattr(q, name))(value))
sys.argv[0] = "searchkit"
from searchkit.cli import main
main()
"""


def search_cmd(overrides: dict[str, str]) -> list[str]:
    """The CLI, with ranking constants overridden (``--set``) when any are given."""
    if not overrides:
        return searchkit_cmd()
    return [sys.executable, "-c", _OVERRIDING_CLI, json.dumps(overrides, ensure_ascii=False)]


def searchkit_runs(
    qa: QASet,
    question_sets: dict[str, list[str]],
    workdir: Path,
    limit: int = 10,
    *,
    docs: list | None = None,
    level: str = "paragraph",
    overrides: dict[str, str] | None = None,
    dictionary: str | None = None,
) -> tuple[dict[str, list[list[str]]], dict]:
    """Index ``docs`` (default: the set's paragraphs) through the CLI, then batch-search each question set
    through the CLI at ``level``; hits are unit keys (paragraph level) or article ids (article level)."""
    docs = qa.docs if docs is None else docs
    name = qa.name if level == "paragraph" else f"{qa.name}.articles"
    jsonl = write_jsonl(docs, workdir / f"{name}.jsonl")
    index_dir = workdir / f"{name}.searchkit"
    built = run_measured(searchkit_cmd() + ["--index", str(index_dir), "index", str(jsonl)])
    if built.returncode != 0:
        raise RuntimeError(f"searchkit index failed ({built.returncode}): {built.stderr.strip()[-2000:]}")
    info = {"index_s": built.wall, "index_stdout": built.stdout.strip()}
    if dictionary == "titles":
        words = workdir / f"{name}.titles.txt"
        titles = dict.fromkeys(" ".join(doc.title.split()) for doc in docs if doc.title and doc.title.strip())
        words.write_text("".join(f"{title}\n" for title in titles if " " not in title), encoding="utf-8")
        done = run_measured(searchkit_cmd() + ["--index", str(index_dir), "dictionary", str(words)])
        if done.returncode not in (0, 1):
            raise RuntimeError(f"searchkit dictionary failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        info["dictionary_s"] = done.wall
        info["dictionary"] = done.stdout.strip()
    runs: dict[str, list[list[str]]] = {}
    for label, questions in question_sets.items():
        lines = [" ".join(q.split()) for q in questions]
        cmd = search_cmd(overrides or {}) + ["--index", str(index_dir), "search", "-", "--json", "--limit", str(limit), "--level", level]
        res = run_measured(cmd, stdin_text="\n".join(lines) + "\n")
        outputs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        if len(outputs) != len(lines):
            raise RuntimeError(
                f"searchkit batch search gave {len(outputs)} lines for {len(lines)} queries (rc {res.returncode}): {res.stderr.strip()[-2000:]}"
            )
        errors = sum(1 for o in outputs if "error" in o)
        mismatched = sum(1 for o, q in zip(outputs, lines) if o.get("query") not in (None, q))
        if errors or mismatched or res.returncode:
            eprint(f"  searchkit {qa.name}/{label}: {errors} query errors, {mismatched} out-of-order lines, exit {res.returncode}")
        if level == "article":
            runs[label] = [[h["article_id"] for h in o.get("hits", [])] for o in outputs]
        else:
            runs[label] = [[searchkit_hit_key(h) for h in o.get("hits", [])] for o in outputs]
        info[f"search_{label}_s"] = res.wall
        info[f"errors_{label}"] = errors
    return runs, info


def baseline_runs(
    name: str, qa: QASet, question_sets: dict[str, list[str]], workdir: Path, limit: int = 10, *, article_of: dict[str, str] | None = None
) -> tuple[dict[str, list[list[str]]], dict]:
    """The baseline on the set's paragraphs; with ``article_of`` (paragraph key -> article), ranked articles:
    its top paragraphs mapped to their articles, each article at its best paragraph's rank."""
    cls = BASELINES[name]
    start = time.perf_counter()
    system = cls.build(units(qa.docs), workdir / f"{qa.name}.{name}")
    info = {"index_s": time.perf_counter() - start}
    runs = {}
    try:
        for label, questions in question_sets.items():
            start = time.perf_counter()
            if article_of is None:
                runs[label] = [system.search(q, limit=limit, mode="question") for q in questions]
            else:
                runs[label] = [
                    list(dict.fromkeys(article_of[k] for k in system.search(q, limit=BASELINE_ARTICLE_POOL, mode="question")))[:limit]
                    for q in questions
                ]
            info[f"search_{label}_s"] = time.perf_counter() - start
    finally:
        system.close()
    return runs, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_QA, help="SQuAD-format JSON files")
    parser.add_argument("--limit-questions", type=int, default=None, metavar="N", help="first N questions per set (of the halves asked)")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS), help=f"comma-separated subset of {','.join(ALL_SYSTEMS)}")
    parser.add_argument("--titles", choices=["article", "id"], default="article",
                        help="searchkit article titles: the source's article title (DRCD: shared by all of an article's paragraphs) or the paragraph id")
    parser.add_argument("--split", default="all", metavar="HALVES",
                        help="comma-separated subset of all,tune,check: which questions are asked and reported (by article; the index holds every paragraph)")
    parser.add_argument("--units", choices=["paragraph", "article", "both"], default="paragraph",
                        help="paragraph-level ranking of paragraphs, article-level ranking of whole SQuAD articles, or both")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help=f"override a ranking constant in searchkit's search process: {', '.join(TUNABLE)}")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--workdir", type=Path, default=None, help="keep indexes here (default: a temp dir, removed)")
    parser.add_argument("--dictionary", choices=["titles"], default=None,
                        help="give searchkit's indexes a user dictionary of the sets' article titles")
    args = parser.parse_args(argv)

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in ALL_SYSTEMS]
    if unknown:
        parser.error(f"unknown systems: {unknown}")
    halves = [h.strip() for h in args.split.split(",") if h.strip()]
    if not halves or any(h not in SPLITS for h in halves):
        parser.error(f"--split takes a comma-separated subset of {','.join(SPLITS)}")
    overrides: dict[str, str] = {}
    for item in args.overrides:
        name, sep, value = item.partition("=")
        if not sep or name not in TUNABLE:
            parser.error(f"--set takes NAME=VALUE with NAME one of {', '.join(TUNABLE)}")
        overrides[name] = value
    levels = list(UNITS) if args.units == "both" else [args.units]
    print(f"<!-- {provenance()} -->\n", flush=True)
    if args.dictionary:
        print(f"<!-- user dictionary: {args.dictionary} -->\n", flush=True)
    if overrides:
        print(f"<!-- overrides: {' '.join(f'{k}={v}' for k, v in overrides.items())} -->\n", flush=True)
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
            articles = load_squad_articles(path, qa.name)
            if args.titles == "id":
                for doc in qa.docs:
                    doc.title = doc.id.split(":", 1)[-1]
                for doc in articles.docs:
                    doc.title = doc.id.split(":", 2)[-1]
            questions = qa.questions
            if "all" not in halves:
                questions = [(q, g) for q, g in questions if articles.half_of[g] in halves]
            questions = questions[: args.limit_questions] if args.limit_questions else questions
            question_halves = [articles.half_of[g] for _, g in questions]
            config = cross_config(qa.script)
            question_sets = {
                "same": [q for q, _ in questions],
                "cross": [convert(q, config) for q, _ in questions],
            }
            counts = ", ".join(f"{h} {question_halves.count(h)}" for h in ("tune", "check"))
            eprint(f"{qa.name}: {len(qa.docs)} paragraphs in {len(articles.docs)} articles, {len(questions)} questions ({counts}), "
                   f"script {qa.script}, cross = {config}")
            for level in levels:
                if level == "paragraph":
                    golds = [g for _, g in questions]
                else:
                    golds = [articles.article_of[g] for _, g in questions]
                for system in systems:
                    eprint(f"  {system} ({level}) ...")
                    if system == "searchkit":
                        docs = qa.docs if level == "paragraph" else articles.docs
                        runs, info = searchkit_runs(qa, question_sets, workdir, docs=docs, level=level, overrides=overrides,
                                                    dictionary=args.dictionary)
                    else:
                        runs, info = baseline_runs(system, qa, question_sets, workdir,
                                                   article_of=articles.article_of if level == "article" else None)
                    for half in halves:
                        chosen = [i for i, h in enumerate(question_halves) if half == "all" or h == half]
                        for label in question_sets:
                            m = qa_metrics([runs[label][i] for i in chosen], [golds[i] for i in chosen])
                            results.append({"system": system, "set": qa.name, "level": level, "half": half, "script": label,
                                            "cross": config if label == "cross" else "", **m, "info": info})
                    eprint("    " + ", ".join(f"{k}={v:.2f}s" if isinstance(v, float) else f"{k}={v}" for k, v in info.items() if k != "index_stdout"))
    finally:
        if tmp is not None:
            tmp.cleanup()

    def ref(system: str, r: dict) -> float | None:
        for o in results:
            if all(o[k] == r[k] for k in ("set", "level", "half", "script")) and o["system"] == system:
                return o["MRR@10"]
        return None

    rows = []
    for r in results:
        script = r["script"] + (f" ({r['cross']})" if r["cross"] else "")
        rows.append([r["system"], r["set"], r["level"], r["half"], script, r["n"], r["MRR@10"], r["R@1"], r["R@10"], ref("naive", r), ref("fts5", r)])
    print(markdown_table(["system", "set", "level", "half", "questions", "n", "MRR@10", "R@1", "R@10", "naive MRR@10", "fts5 MRR@10"], rows, digits=4))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        for r in results:
            r["overrides"] = overrides
        args.json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
