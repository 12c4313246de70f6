"""Baselines that searchkit is measured against, written the way they usually are.

* ``NaiveWhoosh``: Whoosh with ``jieba.analyse.ChineseAnalyzer`` on one TEXT
  field, BM25F, QueryParser (OR-grouped for questions, default AND for keywords),
  snippets from ``hit.highlights("content")``.
* ``Fts5Jieba``: SQLite FTS5 (unicode61) over ``" ".join(jieba.cut_for_search(text))``,
  ranked by ``bm25()``; questions: quoted tokens OR-ed; keywords: the keyword's
  tokens as one phrase; snippets by FTS5 ``snippet()``.
* ``Fts5JiebaT2S``: the same after OpenCC t2s of texts and queries.

Each class: ``build(paragraphs, path)`` (paragraphs: list of (id, text)),
``open(path)``, ``search(query, limit=10, mode="question"|"keyword") -> [id]``,
``search_with_highlights(query, limit, mode) -> [(id, snippet)]``, ``close()``.
They use jieba's global tokenizer, as such baselines normally do.

Also a small command line, used to build in a subprocess (for peak RSS):

    python benchmarks/baselines.py build SYSTEM FILE.jsonl INDEX_DIR
    python benchmarks/baselines.py search SYSTEM INDEX_DIR QUERY   (cold search, prints ids and snippets)
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

import jieba

jieba.setLogLevel(logging.WARNING)

MODES = ("question", "keyword")


def _init_jieba() -> None:
    jieba.initialize()


def _fresh_dir(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --------------------------------------------------------------------------
# Whoosh + jieba's ChineseAnalyzer


class NaiveWhoosh:
    name = "naive"

    def __init__(self, ix) -> None:
        from whoosh import qparser

        self.ix = ix
        self.searcher = ix.searcher()  # BM25F is Whoosh's default weighting
        self.or_parser = qparser.QueryParser("content", ix.schema, group=qparser.OrGroup)
        self.and_parser = qparser.QueryParser("content", ix.schema)

    @staticmethod
    def schema():
        from jieba.analyse import ChineseAnalyzer
        from whoosh.fields import ID, TEXT, Schema

        return Schema(id=ID(stored=True, unique=True), content=TEXT(stored=True, analyzer=ChineseAnalyzer()))

    @classmethod
    def build(cls, paragraphs: Iterable[tuple[str, str]], path) -> "NaiveWhoosh":
        from whoosh import index

        _init_jieba()
        path = _fresh_dir(path)
        ix = index.create_in(str(path), cls.schema())
        writer = ix.writer()
        for pid, text in paragraphs:
            writer.add_document(id=pid, content=text)
        writer.commit()
        return cls(ix)

    @classmethod
    def open(cls, path) -> "NaiveWhoosh":
        from whoosh import index

        _init_jieba()
        return cls(index.open_dir(str(path)))

    def _query(self, query: str, mode: str):
        parser = self.or_parser if mode == "question" else self.and_parser
        return parser.parse(query)

    def search(self, query: str, limit: int = 10, mode: str = "question") -> list[str]:
        try:
            q = self._query(query, mode)
        except Exception:
            return []
        return [hit["id"] for hit in self.searcher.search(q, limit=limit)]

    def search_with_highlights(self, query: str, limit: int = 10, mode: str = "question") -> list[tuple[str, str]]:
        try:
            q = self._query(query, mode)
        except Exception:
            return []
        results = self.searcher.search(q, limit=limit, terms=True)
        return [(hit["id"], hit.highlights("content")) for hit in results]

    def close(self) -> None:
        self.searcher.close()
        self.ix.close()


# Whoosh's HtmlFormatter: <b class="match term0">text</b>, with &amp; &lt; &gt; &quot; escaped.
_WHOOSH_MATCH = re.compile(r'<b class="match[^"]*">(.*?)</b>', re.S)


def whoosh_highlight_spans(html: str) -> list[str]:
    """The texts of the highlighted matches in a Whoosh highlights() string."""
    import html as htmllib

    return [htmllib.unescape(m) for m in _WHOOSH_MATCH.findall(html)]


# --------------------------------------------------------------------------
# SQLite FTS5 over jieba tokens


def _fts_token_ok(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


class Fts5Jieba:
    name = "fts5"
    DB = "fts5.sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @staticmethod
    def prepare(text: str) -> str:
        return text

    @classmethod
    def tokens(cls, text: str) -> list[str]:
        return [t for t in jieba.cut_for_search(cls.prepare(text)) if _fts_token_ok(t)]

    @classmethod
    def build(cls, paragraphs: Iterable[tuple[str, str]], path) -> "Fts5Jieba":
        _init_jieba()
        path = _fresh_dir(path)
        conn = sqlite3.connect(str(path / cls.DB))
        conn.execute("CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, content, tokenize='unicode61')")
        batch: list[tuple[str, str]] = []
        for pid, text in paragraphs:
            batch.append((pid, " ".join(jieba.cut_for_search(cls.prepare(text)))))
            if len(batch) >= 5000:
                conn.executemany("INSERT INTO docs(id, content) VALUES (?, ?)", batch)
                batch.clear()
        if batch:
            conn.executemany("INSERT INTO docs(id, content) VALUES (?, ?)", batch)
        conn.commit()
        return cls(conn)

    @classmethod
    def open(cls, path) -> "Fts5Jieba":
        _init_jieba()
        return cls(sqlite3.connect(str(Path(path) / cls.DB)))

    def match_expr(self, query: str, mode: str) -> str | None:
        toks = self.tokens(query)
        if not toks:
            return None
        if mode == "question":
            return " OR ".join(_quote(t) for t in dict.fromkeys(toks))
        return _quote(" ".join(toks))

    def search(self, query: str, limit: int = 10, mode: str = "question") -> list[str]:
        expr = self.match_expr(query, mode)
        if expr is None:
            return []
        try:
            rows = self.conn.execute("SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?", (expr, limit)).fetchall()
        except sqlite3.Error:
            return []
        return [r[0] for r in rows]

    def search_with_highlights(self, query: str, limit: int = 10, mode: str = "question") -> list[tuple[str, str]]:
        expr = self.match_expr(query, mode)
        if expr is None:
            return []
        try:
            rows = self.conn.execute(
                "SELECT id, snippet(docs, 1, '<b>', '</b>', '…', 24) FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?",
                (expr, limit),
            ).fetchall()
        except sqlite3.Error:
            return []
        return [(r[0], r[1]) for r in rows]

    def close(self) -> None:
        self.conn.close()


class Fts5JiebaT2S(Fts5Jieba):
    name = "fts5_t2s"

    @staticmethod
    def prepare(text: str) -> str:
        from common import convert

        return convert(text, "t2s")


SYSTEMS = {cls.name: cls for cls in (NaiveWhoosh, Fts5Jieba, Fts5JiebaT2S)}


def read_units(jsonl_path) -> list[tuple[str, str]]:
    """(unit key, text) from a searchkit JSONL import file."""
    from common import load_jsonl, units

    return units(load_jsonl(jsonl_path))


def main(argv: Sequence[str]) -> int:
    if len(argv) != 4 or argv[0] not in ("build", "search") or argv[1] not in SYSTEMS:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "search":
        _, system, index_dir, query = argv
        searcher = SYSTEMS[system].open(index_dir)
        for pid, snippet in searcher.search_with_highlights(query, limit=10, mode="keyword"):
            print(pid, snippet, sep="\t")
        searcher.close()
        return 0
    _, system, jsonl_path, out = argv
    start = time.perf_counter()
    paragraphs = read_units(jsonl_path)
    loaded = time.perf_counter()
    SYSTEMS[system].build(paragraphs, out).close()
    done = time.perf_counter()
    print(json.dumps({"system": system, "units": len(paragraphs), "load_s": loaded - start, "build_s": done - loaded}))
    return 0


sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
