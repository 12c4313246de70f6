"""A user dictionary changes only what it should: the words of the paragraphs holding its words.

    python benchmarks/dictionary_check.py [SQUAD_JSON ...] [--keywords N] [--titles N] [--seed S]

Indexes the QA paragraphs (default: the shared CMRC 2018 trial and DRCD dev
files, one searchkit article per paragraph, titled with its article's title),
then sets a user dictionary of the distinct titles (``--titles N``: N of them,
at random) with ``set_dictionary``, and checks:

* every paragraph whose text and title hold no dictionary word keeps exactly
  the words it had (the column of words);
* every paragraph's words equal those of a full ``reindex`` with the same
  dictionary (the incremental change is the whole change);
* N random keywords (2 to 4 characters of the paragraphs) find exactly the
  same paragraphs before and after.

Prints the counts, the time the change took and that of the reindex.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import DEFAULT_QA, load_squad

from searchkit import Article, SearchIndex
from searchkit.analysis import fold
from searchkit.engine import recorded_words


def words_of(index: SearchIndex) -> dict[tuple[str, int], list[list[str]] | None]:
    searcher = index.searcher()
    found = {}
    for docnum in searcher.document_numbers(kind="paragraph"):
        fields = searcher.stored_fields(docnum)
        found[fields["article_id"], fields["ordinal"]] = recorded_words(searcher, docnum)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_QA)
    parser.add_argument("--keywords", type=int, default=300)
    parser.add_argument("--titles", type=int, default=None, help="a dictionary of N random titles (default: all)")
    parser.add_argument("--seed", type=int, default=26)
    args = parser.parse_args(argv)
    docs = [doc for path in args.files for doc in load_squad(path).docs]
    titles = list(dict.fromkeys(" ".join(doc.title.split()) for doc in docs if doc.title.strip()))
    lines = [title for title in titles if " " not in title]
    rng = random.Random(args.seed)
    if args.titles is not None:
        lines = rng.sample(lines, min(args.titles, len(lines)))
    texts = [paragraph for doc in docs for paragraph in doc.paragraphs]
    keywords = []
    while len(keywords) < args.keywords:
        text = rng.choice(texts)
        size = rng.randint(2, 4)
        if len(text) > size:
            start = rng.randrange(len(text) - size)
            keyword = text[start:start + size]
            if keyword.isalnum():
                keywords.append(keyword)
    with tempfile.TemporaryDirectory(prefix="sk-dictionary-") as tmp:
        path = Path(tmp) / "ix"
        with SearchIndex.create(path) as index:
            index.add_articles(Article(id=doc.id, title=doc.title, paragraphs=doc.paragraphs) for doc in docs)
            before = words_of(index)
            answers = [{(h.article_id, h.paragraph) for h in index.search(k, level="paragraph", limit=10000).hits}
                       for k in keywords]
            start = time.perf_counter()
            report = index.set_dictionary(lines)
            took = time.perf_counter() - start
            after = words_of(index)
            again = [{(h.article_id, h.paragraph) for h in index.search(k, level="paragraph", limit=10000).hits}
                     for k in keywords]
        copy = Path(tmp) / "copy"
        shutil.copytree(path, copy)
        start = time.perf_counter()
        SearchIndex.reindex(copy)
        rebuilt_s = time.perf_counter() - start
        with SearchIndex(copy) as index:
            rebuilt = words_of(index)
    entries = [fold(line) for line in lines]
    titles_of = {(doc.id, n): fold(doc.title) for doc in docs for n in range(len(doc.paragraphs))}
    text_of = {(doc.id, n): fold(text) for doc in docs for n, text in enumerate(doc.paragraphs)}
    holding = {key for key in before if any(word in text_of[key] or word in titles_of[key] for word in entries)}
    untouched_same = sum(1 for key in before if key not in holding and after[key] == before[key])
    moved = sum(1 for key in before if after[key] != before[key])
    print(f"paragraphs: {len(before)}; dictionary: {report.words} words ({len(report.errors)} malformed lines)")
    print(f"set_dictionary: {report.summary()} in {took:.1f} s (full reindex: {rebuilt_s:.1f} s)")
    print(f"paragraphs whose text or title holds a dictionary word: {len(holding)}; their words changed in {moved}")
    print(f"paragraphs holding none: {len(before) - len(holding)}, words unchanged in {untouched_same}")
    print(f"words equal to a full reindex's: {sum(1 for key in after if after[key] == rebuilt.get(key))} of {len(after)}")
    print(f"keywords finding the same paragraphs before and after: {sum(a == b for a, b in zip(answers, again))} of {len(keywords)}")
    ok = untouched_same == len(before) - len(holding) and after == rebuilt and answers == again
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
