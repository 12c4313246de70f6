"""Large single files: index time, peak RSS and size as the file grows.

    python benchmarks/bigfile.py [--mb 10 25 50] [--systems searchkit,naive] [--workdir DIR]

Writes JSONL files of about the given sizes (articles of 5 paragraphs of 120
random words from jieba's dictionary, seeded: an unusually large vocabulary,
the worst case for the term tables) and indexes each in a fresh subprocess:
searchkit through its CLI, the naive Whoosh + jieba set-up through
``baselines.py build``. Bounded memory shows as a peak RSS that does not grow
with the file. Peak RSS is that of the largest single process of the tree
(searchkit's analysis and writer processes run beside the main one).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import dir_size, eprint, markdown_table, provenance, ratio, rng, run_measured, searchkit_cmd  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent


def dictionary_words() -> list[str]:
    import jieba

    words = []
    with jieba.get_dict_file() as handle:  # the bundled dict.txt, opened in binary
        for raw in handle:
            word = raw.decode("utf-8").split(" ", 1)[0]
            if word:
                words.append(word)
    return words


def write_file(path: Path, megabytes: float, seed: int) -> int:
    words = dictionary_words()
    r = rng(seed)
    target = int(megabytes * 1024 * 1024)
    written = articles = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            record = {
                "id": f"big-{articles}",
                "title": "".join(r.choice(words) for _ in range(4)),
                "paragraphs": ["".join(r.choice(words) for _ in range(120)) + "。" for _ in range(5)],
            }
            line = json.dumps(record, ensure_ascii=False) + "\n"
            out.write(line)
            written += len(line.encode("utf-8"))
            articles += 1
    return articles


def build(system: str, data: Path, index_dir: Path):
    if system == "searchkit":
        cmd = [*searchkit_cmd(), "--index", str(index_dir), "index", str(data)]
    else:
        cmd = [sys.executable, str(BENCH_DIR / "baselines.py"), "build", system, str(data), str(index_dir)]
    return run_measured(cmd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, nargs="+", default=[10, 25, 50])
    parser.add_argument("--systems", default="searchkit,naive")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    systems = args.systems.split(",")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sk-bigfile-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows, results = [], {}
    try:
        for megabytes in args.mb:
            data = workdir / f"big{megabytes:g}.jsonl"
            articles = write_file(data, megabytes, args.seed)
            eprint(f"{data.name}: {articles} articles, {data.stat().st_size / 2**20:.1f} MiB")
            for system in systems:
                index_dir = workdir / f"ix-{system}-{megabytes:g}"
                shutil.rmtree(index_dir, ignore_errors=True)
                eprint(f"  {system}: building ...")
                run = build(system, data, index_dir)
                if run.returncode != 0:
                    eprint(f"  {system} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
                    continue
                size = dir_size(index_dir)
                results[megabytes, system] = (run.wall, run.maxrss_kib / 1024, size / 2**20)
                rows.append([f"{megabytes:g} MB", f"{articles:,}", system, run.wall, run.maxrss_kib / 1024, size / 2**20])
                shutil.rmtree(index_dir, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(provenance())
    print()
    print(markdown_table(["file", "articles", "system", "index s", "peak RSS MiB", "size MiB"], rows, digits=1))
    if "searchkit" in systems and "naive" in systems:
        print()
        ratio_rows = []
        for megabytes in args.mb:
            ours, theirs = results.get((megabytes, "searchkit")), results.get((megabytes, "naive"))
            if ours and theirs:
                ratio_rows.append([f"{megabytes:g} MB", ratio(theirs[0], ours[0]), ratio(theirs[1], ours[1])])
        print("naive / searchkit (> 1: searchkit faster or smaller)")
        print(markdown_table(["file", "index time", "peak RSS"], ratio_rows, digits=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
