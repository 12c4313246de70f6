"""Every answer of a fixed set of poem queries, to compare two versions byte for byte.

    python benchmarks/answers.py INDEX_DIR OUT.jsonl [--tang N] [--queries N] [--seed S]

Imports the first N Tang poems into INDEX_DIR (when it does not hold an index
yet) through searchkit's CLI, with their authors, made-up dates and sources
(``common.load_tang``), then asks ``--queries`` queries at each level
(``search - --json --limit 20``: keywords of 2-4 characters cut from random
poems, two-keyword queries, exclusions, OR, quoted phrases and a few
questions), plainly and again with each set of :func:`filtered` options
(filters, facets, date sorting, paging), and writes the JSON lines to OUT. Run
it with two versions and ``cmp`` the outputs: a change that keeps behaviour
gives identical files.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_TANG,
    POEM_SOURCES,
    load_tang,
    rng,
    searchkit_cmd,
    write_jsonl,
)

QUESTIONS = ["李白的诗写了什么", "春风又绿江南岸", "哪首诗写到明月", "边塞的将军", "思乡的诗"]


def queries(docs, count: int, seed: int) -> list[str]:
    random = rng(seed)

    def cut(length: int) -> str:
        text = random.choice(random.choice(docs).paragraphs)
        start = random.randrange(max(1, len(text) - length))
        piece = text[start:start + length]
        return piece if piece.isalnum() else cut(length)

    made: list[str] = []
    while len(made) < count:
        kind = len(made) % 6
        if kind == 0:
            made.append(cut(2))
        elif kind == 1:
            made.append(cut(random.choice((3, 4))))
        elif kind == 2:
            made.append(f"{cut(2)} {cut(2)}")
        elif kind == 3:
            made.append(f"{cut(2)} -{cut(2)}")
        elif kind == 4:
            made.append(f"{cut(2)} OR {cut(3)}")
        else:
            made.append(f'"{cut(2)} {cut(2)}"' if len(made) % 12 == 5 else random.choice(QUESTIONS))
    return made


def filtered(docs) -> list[list[str]]:
    """The search options each query is asked with too (the first is none)."""
    authors = collections.Counter(doc.meta["author"] for doc in docs if doc.meta.get("author")).most_common(2)
    years = sorted(doc.meta["date"][:4] for doc in docs)
    later = ["--from", years[len(years) // 2], "--to", years[-1]]
    return [
        [],
        ["--author", authors[0][0]],
        ["--author", authors[0][0], "--author", authors[1][0], "--facets", "author,year"],
        [*later, "--source", POEM_SOURCES[1]],
        [*later, "--sort", "-date", "--facets", "source,month"],
        ["--source", POEM_SOURCES[2], "--sort", "date", "--offset", "5"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("out")
    parser.add_argument("--tang", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=450)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corpus", default=str(DEFAULT_TANG))
    args = parser.parse_args()
    docs = load_tang(args.tang, args.corpus, metadata=True)
    base = [*searchkit_cmd(), "--index", args.index]
    if not (Path(args.index) / "searchkit.json").exists():
        source = write_jsonl(docs, Path(args.index).with_suffix(".jsonl"))
        subprocess.run([*base, "index", str(source)], check=True)
    made = queries(docs, args.queries, args.seed)
    asked = "\n".join(made) + "\n"
    # Under filters, no exclusions: searchkit before 2026-12-03 failed on some (Whoosh's exclusion matcher).
    asked_filtered = "\n".join(q for q in made if " -" not in q) + "\n"
    with open(args.out, "w", encoding="utf-8") as out:
        for options in filtered(docs):
            for level in ("paragraph", "article"):
                done = subprocess.run([*base, "search", "-", "--json", "--limit", "20", "--level", level, *options],
                                      input=asked_filtered if options else asked, capture_output=True, text=True, check=True)
                out.write(done.stdout)
    print(f"{args.queries} queries x 2 levels x {len(filtered(docs))} sets of options -> {args.out}")


if __name__ == "__main__":
    main()
