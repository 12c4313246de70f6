"""Exact keywords: does a keyword search find exactly the paragraphs that contain it?

    python benchmarks/keywords.py [CORPUS ...] [--samples N] [--seed S] [--tang N] [--systems searchkit,naive]

CORPUS: SQuAD-format JSON or JSONL (``{"id","title","paragraphs"}``, the tang
file too); default: the shared CMRC and DRCD files. ``--tang N`` adds the first
N Tang poems. All corpora go into one index per system.

Keywords are substrings of 2-6 characters cut at random offsets from random
paragraphs, in four kinds:

* ``random``: any offset;
* ``straddle``: starting inside a jieba word, so it crosses a word boundary;
* ``digit/latin``: around a digit or Latin letter (``G318国道``, ``8.77亿元``);
* ``converted``: a copy of some of the above in the other script (OpenCC s2t / t2s).

Keywords begin and end with a letter/digit/CJK character and hold no white
space, ``"``, ``(``, ``)`` or ``:``, so they are plain keywords in every
system's query syntax.

Ground truth (brute force): a paragraph matches when ``ref_normalize(text)``
contains ``ref_normalize(keyword)`` (per character NFKC, lower(), OpenCC t2s;
``common.py``, independent of searchkit). Precision and recall are over the
full result sets. Whole-keyword highlight rate: the fraction of hits whose
snippet has a highlight span that normalizes to the keyword (searchkit:
``snippet.highlights``; naive: the ``<b class="match">`` tags of
``hit.highlights("content")``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_QA,
    Doc,
    convert,
    dir_size,
    eprint,
    guess_script,
    human_bytes,
    load_corpus,
    load_tang,
    markdown_table,
    ratio,
    ref_normalize,
    rng,
    provenance,
    searchkit_available,
    searchkit_hit_key,
    units,
)

ALL_SYSTEMS = ["searchkit", "naive"]
KINDS = ["random", "straddle", "digit/latin", "converted"]
_FORBIDDEN = re.compile(r'[\s"():]')
_ASCII_ALNUM = re.compile(r"[0-9A-Za-z]")
MAX_LIMIT = 10000  # searchkit's cap on --limit


@dataclass
class Keyword:
    text: str
    kind: str
    source: str  # unit key it was cut from


def _ok(text: str) -> bool:
    return (
        len(text) >= 2
        and text[0].isalnum()
        and text[-1].isalnum()
        and not _FORBIDDEN.search(text)
        and text not in ("OR", "AND", "NOT")
        and len(ref_normalize(text)) >= 2
    )


def sample_keywords(unit_list: list[tuple[str, str]], n: int, seed: int, converted_share: float = 0.25) -> list[Keyword]:
    """n keywords (about a third of each cut kind) plus converted copies of some."""
    import jieba

    r = rng(seed)
    with_ascii = [u for u in unit_list if _ASCII_ALNUM.search(u[1])]
    seen: set[str] = set()
    out: list[Keyword] = []
    kinds = ["random", "straddle", "digit/latin"]
    attempts = 0
    while len(out) < n and attempts < n * 200:
        attempts += 1
        kind = kinds[len(out) % 3]
        length = r.randint(2, 6)
        if kind == "digit/latin" and with_ascii:
            key, text = r.choice(with_ascii)
            positions = [m.start() for m in _ASCII_ALNUM.finditer(text)]
            pos = r.choice(positions)
            start = r.randint(max(0, pos - length + 1), pos)
        else:
            key, text = r.choice(unit_list)
            if len(text) < length:
                continue
            if kind == "straddle":
                words = [(s, e) for _w, s, e in jieba.tokenize(text) if e - s >= 2]
                if not words:
                    continue
                s, e = r.choice(words)
                start = r.randint(s + 1, e - 1)  # inside a word: the cut crosses its start
            else:
                start = r.randint(0, len(text) - length)
        piece = text[start : start + length]
        if len(piece) != length or not _ok(piece) or piece in seen:
            continue
        if kind == "digit/latin" and not _ASCII_ALNUM.search(piece):
            continue
        seen.add(piece)
        out.append(Keyword(piece, kind, key))
    # converted copies
    script_of: dict[str, str] = {}
    converted = []
    for kw in out:
        if r.random() >= converted_share:
            continue
        doc_prefix = kw.source.split(":", 1)[0]
        if doc_prefix not in script_of:
            script_of[doc_prefix] = guess_script([t for k, t in unit_list if k.startswith(doc_prefix)][:200])
        config = "s2t" if script_of[doc_prefix] == "s" else "t2s"
        other = convert(kw.text, config)
        if other != kw.text and _ok(other) and other not in seen:
            seen.add(other)
            converted.append(Keyword(other, "converted", kw.source))
    return out + converted


@dataclass
class Outcome:
    truth: set[str]
    found: list[str]
    whole_highlight_hits: int = 0
    truncated: bool = False
    unhighlighted: list[tuple[str, list[str]]] = field(default_factory=list)  # (snippet, its highlight texts)
    seconds: float = 0.0

    @property
    def recall(self) -> float:
        return len(self.truth & set(self.found)) / len(self.truth) if self.truth else 1.0

    @property
    def precision(self) -> float | None:
        return len(self.truth & set(self.found)) / len(self.found) if self.found else None


def ground_truth(keywords: list[Keyword], unit_list: list[tuple[str, str]]) -> list[set[str]]:
    normalized = [(key, ref_normalize(text)) for key, text in unit_list]
    out = []
    for kw in keywords:
        needle = ref_normalize(kw.text)
        out.append({key for key, text in normalized if needle in text})
    return out


def run_searchkit(docs: list[Doc], keywords: list[Keyword], truths: list[set[str]], path: Path, limit: int) -> tuple[list[Outcome], dict]:
    from searchkit import Article, SearchIndex

    start = time.perf_counter()
    index = SearchIndex.create(path)
    report = index.add_articles(Article(title=d.title, paragraphs=d.paragraphs, id=d.id) for d in docs)
    build_s = time.perf_counter() - start
    outcomes = []
    try:
        for kw, truth in zip(keywords, truths):
            t0 = time.perf_counter()
            result = index.search(kw.text, limit=limit, level="paragraph")
            seconds = time.perf_counter() - t0
            needle = ref_normalize(kw.text)
            found = [searchkit_hit_key(h) for h in result.hits] if not result.partial else []
            whole = 0
            if not result.partial:
                missing = []
                for h in result.hits:
                    spans = [h.snippet.text[s:e] for s, e in h.snippet.highlights]
                    ok = any(ref_normalize(sp) == needle for sp in spans)
                    whole += ok
                    if not ok and len(missing) < 2:
                        missing.append((h.snippet.text, spans))
            outcomes.append(Outcome(truth, found, whole, truncated=result.total > len(result.hits), seconds=seconds, unhighlighted=missing))
    finally:
        index.close()
    return outcomes, {"build_s": build_s, "size": dir_size(path), "report": getattr(report, "summary", lambda: "")()}


def run_naive(docs: list[Doc], keywords: list[Keyword], truths: list[set[str]], path: Path, limit: int) -> tuple[list[Outcome], dict]:
    from baselines import NaiveWhoosh, whoosh_highlight_spans

    start = time.perf_counter()
    system = NaiveWhoosh.build(units(docs), path)
    build_s = time.perf_counter() - start
    outcomes = []
    try:
        for kw, truth in zip(keywords, truths):
            t0 = time.perf_counter()
            hits = system.search_with_highlights(kw.text, limit=limit, mode="keyword")
            seconds = time.perf_counter() - t0
            needle = ref_normalize(kw.text)
            whole = sum(any(ref_normalize(sp) == needle for sp in whoosh_highlight_spans(html)) for _id, html in hits)
            outcomes.append(Outcome(truth, [i for i, _ in hits], whole, seconds=seconds))
    finally:
        system.close()
    return outcomes, {"build_s": build_s, "size": dir_size(path)}


def summarize(outcomes: list[Outcome]) -> dict:
    n = len(outcomes)
    if not n:
        return {}
    relevant = sum(len(o.truth) for o in outcomes)
    found = sum(len(o.found) for o in outcomes)
    correct = sum(len(o.truth & set(o.found)) for o in outcomes)
    precisions = [o.precision for o in outcomes if o.precision is not None]
    return {
        "n": n,
        "recall": sum(o.recall for o in outcomes) / n,
        "precision": sum(precisions) / len(precisions) if precisions else None,
        "micro_recall": correct / relevant if relevant else None,
        "micro_precision": correct / found if found else None,
        "exact": sum(1 for o in outcomes if set(o.found) == o.truth) / n,
        "no_hits": sum(1 for o in outcomes if not o.found) / n,
        "highlight": sum(o.whole_highlight_hits for o in outcomes) / found if found else None,
        "truncated": sum(o.truncated for o in outcomes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", type=Path, default=DEFAULT_QA)
    parser.add_argument("--samples", type=int, default=300, help="keywords cut (converted copies come on top)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tang", type=int, default=0, metavar="N", help="add the first N Tang poems")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS))
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--show-misses", type=int, default=5, help="print up to N wrong keywords per system")
    args = parser.parse_args(argv)
    print(f"<!-- {provenance()} -->\n", flush=True)

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if "searchkit" in systems and (reason := searchkit_available()):
        eprint(f"searchkit unavailable ({reason}); skipping it")
        systems.remove("searchkit")

    docs: list[Doc] = []
    for path in args.corpora:
        docs.extend(load_corpus(path))
    if args.tang:
        docs.extend(load_tang(args.tang))
    unit_list = units(docs)
    limit = min(MAX_LIMIT, len(unit_list) + 1)
    keywords = sample_keywords(unit_list, args.samples, args.seed)
    eprint(f"{len(docs)} articles, {len(unit_list)} paragraphs; {len(keywords)} keywords; limit {limit}")
    t0 = time.perf_counter()
    truths = ground_truth(keywords, unit_list)
    eprint(f"ground truth in {time.perf_counter() - t0:.1f}s")

    per_system: dict[str, tuple[list[Outcome], dict]] = {}
    with tempfile.TemporaryDirectory(prefix="sk-keywords-") as tmp:
        for system in systems:
            eprint(f"{system} ...")
            runner = run_searchkit if system == "searchkit" else run_naive
            per_system[system] = runner(docs, keywords, truths, Path(tmp) / system, limit)
            eprint(f"  built in {per_system[system][1]['build_s']:.1f}s, {human_bytes(per_system[system][1]['size'])}")

    headers = ["system", "kind", "keywords", "recall", "precision", "exact set", "no hits", "µ-recall", "µ-precision", "whole-kw highlight"]
    rows = []
    results = {}
    for system, (outcomes, info) in per_system.items():
        for kind in KINDS + ["all"]:
            sel = [o for o, kw in zip(outcomes, keywords) if kind == "all" or kw.kind == kind]
            s = summarize(sel)
            if not s:
                continue
            results[f"{system}/{kind}"] = s
            rows.append([system, kind, s["n"], s["recall"], s["precision"], s["exact"], s["no_hits"], s["micro_recall"], s["micro_precision"], s["highlight"]])
    print(markdown_table(headers, rows))
    print()
    size_rows = [[system, human_bytes(info["size"]), info["size"], info["build_s"]] for system, (_o, info) in per_system.items()]
    print(markdown_table(["system", "index size", "bytes", "build s (in-process)"], size_rows, digits=1))
    if "searchkit" in per_system and "naive" in per_system:
        r = ratio(per_system["searchkit"][1]["size"], per_system["naive"][1]["size"])
        print(f"\nindex size searchkit/naive: {r:.2f}x (goal <= 2x)")
        truncated = results.get("searchkit/all", {}).get("truncated")
        if truncated:
            print(f"note: {truncated} searchkit result sets hit the limit of {limit}")

    for system, (outcomes, _info) in per_system.items():
        wrong = [(kw, o) for kw, o in zip(keywords, outcomes) if set(o.found) != o.truth]
        if wrong and args.show_misses:
            eprint(f"\n{system}: {len(wrong)} keywords with a wrong result set, e.g.:")
            for kw, o in wrong[: args.show_misses]:
                missed = sorted(o.truth - set(o.found))[:3]
                extra = sorted(set(o.found) - o.truth)[:3]
                eprint(f"  {kw.text!r} ({kw.kind}): truth {len(o.truth)}, found {len(o.found)}, missed {missed}, extra {extra}")
    if "searchkit" in per_system and args.show_misses:
        shown = 0
        for kw, o in zip(keywords, per_system["searchkit"][0]):
            for snippet, spans in o.unhighlighted:
                if shown < args.show_misses:
                    eprint(f"  searchkit hit for {kw.text!r} without a whole-keyword highlight: spans {spans} in {snippet!r}")
                    shown += 1
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "results": results,
            "sizes": {s: info["size"] for s, (_o, info) in per_system.items()},
            "keywords": [{"text": kw.text, "kind": kw.kind, "source": kw.source, "truth": len(t)} for kw, t in zip(keywords, truths)],
        }
        args.json_out.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
