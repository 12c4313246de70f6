"""Shared helpers for the searchkit benchmarks: corpora, metrics, timing, tables.

Nothing here imports searchkit: the ground truth (``ref_normalize``) and the
corpus loaders are written independently of the code under test.

Corpus model: a corpus is a list of ``Doc(id, title, paragraphs)``. A *unit*
is one paragraph, keyed ``"{doc.id}#{ordinal}"`` (ordinal 0-based); the
baselines index units, searchkit indexes the docs (through its JSONL import)
and its hits are mapped back to the same unit keys.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared" / "corpora"
DEFAULT_QA = [SHARED / "cmrc2018_trial.json", SHARED / "DRCD_dev.json"]
DEFAULT_TANG = SHARED / "tang_poems.jsonl"
DEFAULT_SEED = REPO_ROOT / "seeds" / "000_235373325ccc2d0f.txt"
BENCH_DIR = Path(__file__).resolve().parent


# --------------------------------------------------------------------------
# Corpora


@dataclass
class Doc:
    id: str
    title: str
    paragraphs: list[str]
    meta: dict[str, str] = field(default_factory=dict)  # author, date, source: written to the JSONL as they are


@dataclass
class QASet:
    name: str  # "cmrc", "drcd", ...
    script: str  # "s" (simplified) or "t" (traditional)
    docs: list[Doc]
    questions: list[tuple[str, str]]  # (question, gold unit key)


def unit_key(doc_id: str, ordinal: int) -> str:
    return f"{doc_id}#{ordinal}"


def units(docs: Iterable[Doc]) -> list[tuple[str, str]]:
    """Flatten docs to (unit key, paragraph text), the baselines' input."""
    out = []
    for doc in docs:
        for i, text in enumerate(doc.paragraphs):
            out.append((unit_key(doc.id, i), text))
    return out


def set_name_for(path: str | os.PathLike[str]) -> str:
    stem = Path(path).name.lower()
    if "cmrc" in stem:
        return "cmrc"
    if "drcd" in stem:
        return "drcd"
    return Path(path).stem.split(".")[0].lower()


def guess_script(texts: Sequence[str]) -> str:
    """'s' or 't': which OpenCC direction changes fewer characters."""
    sample = "".join(texts[:200])
    t2s = convert(sample, "t2s")
    s2t = convert(sample, "s2t")
    changed_by_t2s = sum(a != b for a, b in zip(sample, t2s))
    changed_by_s2t = sum(a != b for a, b in zip(sample, s2t))
    return "t" if changed_by_t2s > changed_by_s2t else "s"


def load_squad(path: str | os.PathLike[str], prefix: str | None = None) -> QASet:
    """SQuAD-format JSON -> one Doc per paragraph (id ``prefix:paragraph_id``).

    Paragraph ids come from the paragraph's own ``id`` (CMRC ``TRIAL_800``,
    DRCD ``1147-5``); a paragraph without one, or a duplicate, gets
    ``{article id}-{n}``. Title: the article's title when present, else the
    paragraph id. Questions are paired with the unit key of their paragraph.
    """
    prefix = prefix or set_name_for(path)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    docs: list[Doc] = []
    questions: list[tuple[str, str]] = []
    seen: set[str] = set()
    for a_index, article in enumerate(data["data"]):
        article_id = str(article.get("id") or a_index)
        for p_index, para in enumerate(article["paragraphs"]):
            pid = str(para.get("id") or f"{article_id}-{p_index}")
            if pid in seen:
                pid = f"{article_id}-{p_index}"
            seen.add(pid)
            doc_id = f"{prefix}:{pid}"
            title = article.get("title") or pid
            docs.append(Doc(doc_id, title, [para["context"]]))
            for qa in para.get("qas", []):
                q = qa["question"].strip()
                if q:
                    questions.append((q, unit_key(doc_id, 0)))
    script = {"cmrc": "s", "drcd": "t"}.get(prefix) or guess_script([d.paragraphs[0] for d in docs])
    return QASet(prefix, script, docs, questions)


def load_jsonl(path: str | os.PathLike[str], limit: int | None = None, repeat: int = 1, author: bool = False) -> list[Doc]:
    """searchkit-style JSONL ({"id","title","paragraphs"}, tang poems too).

    ``limit``: first N records (over the repeated stream); ``repeat``: read the
    file again with ids suffixed ``~r1``, ``~r2``... until ``limit`` is reached;
    ``author``: keep each record's author.
    """
    docs: list[Doc] = []
    for r in range(max(1, repeat)):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f):
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                doc_id = str(rec.get("id") or f"{Path(path).stem}-{n}")
                if r:
                    doc_id = f"{doc_id}~r{r}"
                paragraphs = [p for p in rec.get("paragraphs", []) if p and p.strip()]
                if not paragraphs:
                    continue
                meta = {"author": rec["author"]} if author and rec.get("author") else {}
                docs.append(Doc(doc_id, rec.get("title") or doc_id, paragraphs, meta))
                if limit is not None and len(docs) >= limit:
                    return docs
    return docs


POEM_SOURCES = ("全唐诗", "唐诗三百首", "乐府诗集", "文苑英华")


def load_tang(n: int, path: str | os.PathLike[str] = DEFAULT_TANG, metadata: bool = False) -> list[Doc]:
    """First n Tang poems; beyond the file's size the file is repeated, ids suffixed.

    ``metadata``: with their authors, a made-up date each (from 0618-01-01 on, a
    day apart, so that years and months vary) and one of four sources in turn.
    """
    with open(path, encoding="utf-8") as f:
        total = sum(1 for line in f if line.strip())
    repeat = max(1, math.ceil(n / max(1, total)))
    docs = load_jsonl(path, limit=n, repeat=repeat, author=metadata)
    if metadata:
        for number, doc in enumerate(docs):
            year, rest = divmod(618 * 365 + number, 365)
            month, mday = divmod(rest % 336, 28)
            doc.meta.update(date=f"{year:04d}-{month + 1:02d}-{mday + 1:02d}", source=POEM_SOURCES[number % len(POEM_SOURCES)])
    return docs


def load_corpus(path: str | os.PathLike[str]) -> list[Doc]:
    """Docs of a SQuAD JSON or a JSONL file."""
    if str(path).endswith(".jsonl"):
        return load_jsonl(path)
    return load_squad(path).docs


def write_jsonl(docs: Iterable[Doc], path: str | os.PathLike[str]) -> Path:
    """A searchkit import file: one {"id","title","paragraphs"} (and the doc's metadata) per line."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps({"id": doc.id, "title": doc.title, "paragraphs": doc.paragraphs, **doc.meta}, ensure_ascii=False))
            f.write("\n")
    return path


# --------------------------------------------------------------------------
# Scripts and the reference normalization

_OPENCC: dict[str, object] = {}


def _opencc(config: str):
    if config not in _OPENCC:
        import opencc

        _OPENCC[config] = opencc.OpenCC(config)
    return _OPENCC[config]


def convert(text: str, config: str) -> str:
    """OpenCC conversion of a whole string (phrase-aware): 's2t' or 't2s'."""
    return _opencc(config).convert(text)


def cross_config(script: str) -> str:
    """The conversion that turns a set's questions into the other script."""
    return "s2t" if script == "s" else "t2s"


_REF_CHAR: dict[str, str] = {}


def _ref_char(ch: str) -> str:
    out = _REF_CHAR.get(ch)
    if out is None:
        t2s = _opencc("t2s")
        out = "".join(t2s.convert(c) for c in unicodedata.normalize("NFKC", ch).lower())
        _REF_CHAR[ch] = out
    return out


def ref_normalize(text: str) -> str:
    """Ground-truth normalization: per character NFKC, lower(), OpenCC t2s.

    Per character on purpose (no phrase context), so a keyword normalizes the
    same way wherever it occurs. Independent of searchkit's own folding.
    """
    return "".join(_ref_char(c) for c in text)


# --------------------------------------------------------------------------
# Metrics


def reciprocal_rank(ranked: Sequence[str], gold: str, k: int = 10) -> float:
    for i, key in enumerate(ranked[:k]):
        if key == gold:
            return 1.0 / (i + 1)
    return 0.0


def qa_metrics(runs: Sequence[Sequence[str]], golds: Sequence[str]) -> dict[str, float]:
    """MRR@10, Recall@1, Recall@10 over (ranked keys, gold key) pairs."""
    n = len(golds)
    if n == 0:
        return {"MRR@10": 0.0, "R@1": 0.0, "R@10": 0.0, "n": 0}
    mrr = sum(reciprocal_rank(r, g) for r, g in zip(runs, golds)) / n
    r1 = sum(1 for r, g in zip(runs, golds) if g in r[:1]) / n
    r10 = sum(1 for r, g in zip(runs, golds) if g in r[:10]) / n
    return {"MRR@10": mrr, "R@1": r1, "R@10": r10, "n": n}


# --------------------------------------------------------------------------
# Timing, memory, disk


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile, p in [0, 100]."""
    if not values:
        return float("nan")
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class RunResult:
    returncode: int
    wall: float  # seconds
    maxrss_kib: int  # peak RSS of that child (Linux: KiB)
    stdout: str
    stderr: str


# A tiny launcher: spawns the command and reports that child's wall time and
# peak RSS. Needed because on Linux a child's ru_maxrss also counts the memory
# of the process it was forked from before exec (vfork/posix_spawn included),
# which would report this (large) benchmark process's size for every build.
_LAUNCHER = r"""
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.posix_spawn(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(out, "w") as f:
    f.write("%r %d %d" % (wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
"""


def run_measured(cmd: Sequence[str], stdin_text: str | None = None, env: dict | None = None, cwd=None) -> RunResult:
    """Run a command; wall time and the peak RSS (KiB) of that very command.

    The command runs under a small launcher interpreter (``python -S``), whose
    own ~9 MiB is the floor of the RSS figure. ``cmd[0]`` must be a path.
    """
    with tempfile.NamedTemporaryFile(prefix="sk-rusage-", delete=False) as rep:
        report = rep.name
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
            if stdin_text is not None:
                inp.write(stdin_text.encode("utf-8"))
                inp.seek(0)
            exe = cmd[0] if os.path.isabs(cmd[0]) else (shutil.which(cmd[0]) or cmd[0])
            launcher = [sys.executable, "-S", "-c", _LAUNCHER, report, exe, *cmd[1:]]
            start = time.perf_counter()
            proc = subprocess.run(launcher, stdin=inp if stdin_text is not None else subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd)
            outer = time.perf_counter() - start
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode("utf-8", "replace")
            stderr = err.read().decode("utf-8", "replace")
        try:
            wall_s, rss_s, code_s = Path(report).read_text().split()
            wall, rss, code = float(wall_s), int(rss_s), int(code_s)
        except (OSError, ValueError):
            wall, rss, code = outer, 0, proc.returncode or 1
        return RunResult(code, wall, rss, stdout, stderr)
    finally:
        os.unlink(report)


def dir_size(path: str | os.PathLike[str]) -> int:
    """Bytes of all files under path (apparent size); a file's own size too."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


# --------------------------------------------------------------------------
# searchkit's command line


def searchkit_cmd() -> list[str]:
    """How to run searchkit's CLI with this interpreter."""
    return [sys.executable, "-m", "searchkit.cli"]


def searchkit_available() -> str | None:
    """None when searchkit's API imports, else the reason."""
    try:
        import searchkit  # noqa: F401
        from searchkit import SearchIndex, Article  # noqa: F401
        import searchkit.cli  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the package's state
        return f"{type(exc).__name__}: {exc}"
    return None


def searchkit_hit_key(hit) -> str:
    """Unit key of a searchkit hit (object or JSON dict); paragraph is 0-based."""
    if isinstance(hit, dict):
        article_id, paragraph = hit["article_id"], hit.get("paragraph")
    else:
        article_id, paragraph = hit.article_id, hit.paragraph
    return unit_key(article_id, paragraph or 0)


# --------------------------------------------------------------------------
# Output


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.{digits}f}"
    return str(value)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return None
    return a / b


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence], digits: int = 3) -> str:
    cells = [[str(h) for h in headers]] + [[fmt(v, digits) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def provenance() -> str:
    """One line naming the code measured: searchkit's commit (and whether the tree was dirty), Python, time."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "searchkit")
    state = f"{head}{' + uncommitted changes in searchkit/' if dirty else ''}"
    return f"searchkit at {state}; Python {sys.version.split()[0]}; {time.strftime('%Y-%m-%d %H:%M:%S')}; {os.cpu_count()} CPUs"


def rng(seed: int) -> random.Random:
    return random.Random(seed)


def eprint(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# SQuAD articles and the tune / check split of the relevance benchmark

SPLITS = ("all", "tune", "check")


def split_half(article_id: str) -> str:
    """``"tune"`` or ``"check"``: CRC-32 of the SQuAD article's id (UTF-8), even -> tune, odd -> check.

    Fixed and independent of any figure: an article's questions all fall in
    its half (questions about one article share its words, so splitting by
    question would leak). CMRC trial: 148 / 108 articles, 581 / 419 questions;
    DRCD dev: 183 / 200 articles (474 / 526 paragraphs), 1,647 / 1,877 questions.
    """
    return "tune" if zlib.crc32(article_id.encode("utf-8")) % 2 == 0 else "check"


@dataclass
class SquadArticles:
    """One Doc per SQuAD article (id ``prefix:a:ARTICLE``, its title, its paragraphs in order), and for
    each paragraph unit key of :func:`load_squad` its article's Doc id and its half (:func:`split_half`)."""

    docs: list[Doc]
    article_of: dict[str, str]
    half_of: dict[str, str]


def load_squad_articles(path: str | os.PathLike[str], prefix: str | None = None) -> SquadArticles:
    """The articles of a SQuAD JSON, with the same paragraph ids as :func:`load_squad`."""
    prefix = prefix or set_name_for(path)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    docs: list[Doc] = []
    article_of: dict[str, str] = {}
    half_of: dict[str, str] = {}
    seen: set[str] = set()
    for a_index, article in enumerate(data["data"]):
        article_id = str(article.get("id") or a_index)
        article_doc = f"{prefix}:a:{article_id}"
        half = split_half(article_id)
        paragraphs = []
        for p_index, para in enumerate(article["paragraphs"]):
            pid = str(para.get("id") or f"{article_id}-{p_index}")
            if pid in seen:
                pid = f"{article_id}-{p_index}"
            seen.add(pid)
            key = unit_key(f"{prefix}:{pid}", 0)
            article_of[key] = article_doc
            half_of[key] = half
            paragraphs.append(para["context"])
        docs.append(Doc(article_doc, article.get("title") or article_id, paragraphs))
    return SquadArticles(docs, article_of, half_of)
