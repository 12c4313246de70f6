"""CharPhrase, WordUnion and RankedFilter: the same documents and scores as Whoosh's Phrase, Or and AndMaybe, found faster."""

from __future__ import annotations

import random

import pytest
from whoosh import query as wq

from searchkit import AnalyzerSettings, Article, SearchIndex
from searchkit.engine import matchers
from searchkit.analysis import gram_stream, keyword_grams
from searchkit.engine.matchers import CharPhrase, RankedFilter, WordUnion, cached_doc_frequency, term_bytes

ALPHABET = "山水明月人不知风花 "


def _corpus(count: int, seed: int) -> list[Article]:
    chooser = random.Random(seed)
    articles = []
    for n in range(count):
        paragraphs = ["".join(chooser.choice(ALPHABET) for _ in range(chooser.randint(4, 24))).strip() or "山"
                      for _ in range(3)]
        articles.append(Article(id=f"p{n}", title="", paragraphs=paragraphs))
    return articles


@pytest.fixture(scope="module")
def poems() -> SearchIndex:
    """Three segments; common characters span several postings blocks; some articles deleted."""
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=2))  # characters and bigrams
    ix.add_articles(_corpus(400, 1))
    ix.add_articles(_corpus(300, 2)[:150])
    ix.add_articles([Article(id="rare", title="", paragraphs=["雪山独钓", "钓雪"])])
    for n in range(0, 400, 7):
        ix.delete(f"p{n}")
    return ix


def _scored(ix: SearchIndex, q: wq.Query) -> dict[int, float]:
    searcher = ix.searcher()
    return {hit.docnum: hit.score for hit in searcher.search(q, limit=None)}


def _holding(ix: SearchIndex, keyword: str) -> set[int]:
    searcher = ix.searcher()
    return {
        docnum
        for docnum, fields in searcher.reader().iter_docs()
        if fields.get("kind") == "paragraph" and keyword in gram_stream(fields["text"])[0]  # white space runs as one space
    }


@pytest.mark.parametrize("grams", [1, 2])
@pytest.mark.parametrize("keyword", ["明月", "不知", "人不知", "月明人", "山山", "花 风", "水明月不", "钓雪", "雪山独", "明雪", "月"])
def test_same_documents_and_scores_as_whoosh_phrase(poems: SearchIndex, keyword: str, grams: int) -> None:
    # The index holds characters and bigrams: a keyword is the phrase of
    # either (of bigrams where the index has them, see keyword_grams).
    chars = keyword_grams(keyword, grams)
    ours = _scored(poems, CharPhrase("grams", chars, boost=0.3))
    whoosh = _scored(poems, wq.Phrase("grams", chars, slop=1, boost=0.3)) if len(chars) > 1 else _scored(
        poems, wq.Term("grams", keyword, boost=0.3)
    )
    assert set(ours) == set(whoosh) == _holding(poems, keyword)
    assert ours == pytest.approx(whoosh, rel=1e-12)


def test_fixture_is_what_the_tests_need(poems: SearchIndex) -> None:
    # Intersections cross postings blocks (128 postings each) and segments, past deleted documents.
    reader = poems.searcher().reader()
    assert reader.doc_frequency("grams", "明") > 3 * 128
    first_segment = reader.leaf_readers()[0][0]
    assert first_segment.doc_frequency("grams", "明月") > 128
    assert poems.stats().segments >= 2
    assert reader.has_deletions()


def test_absent_character_matches_nothing(poems: SearchIndex) -> None:
    assert _scored(poems, CharPhrase("grams", list("明鹤"))) == {}


def test_inside_compound_queries(poems: SearchIndex) -> None:
    both = wq.And([CharPhrase("grams", list("明月")), CharPhrase("grams", list("不知"))])
    without = wq.AndNot(CharPhrase("grams", list("明月")), CharPhrase("grams", list("不知")))
    holding_both = _holding(poems, "明月") & _holding(poems, "不知")
    assert set(_scored(poems, both)) == holding_both
    assert set(_scored(poems, without)) == _holding(poems, "明月") - holding_both


WORD_TERMS = [("grams", "明", 1.0), ("grams", "雪", 2.0), ("grams", "钓", 1.0), ("grams", "鹤", 1.0)]


def test_word_union_scores_as_whoosh_or_and_knows_each_documents_words(poems: SearchIndex) -> None:
    union = WordUnion(WORD_TERMS, recorded_fields=["grams"])
    whoosh = wq.Or([wq.Term(field, word, boost=boost) for field, word, boost in WORD_TERMS])
    ours = _scored(poems, union)
    assert ours == pytest.approx(_scored(poems, whoosh), rel=1e-12)
    searcher = poems.searcher()
    segments = list(searcher.reader().leaf_readers())
    words_of = {}
    for reader, offset in segments:
        for docnum in range(reader.doc_count_all()):
            if offset + docnum in ours:
                words_of[offset + docnum] = union.matched_words(reader, docnum)
    expected = {docnum: frozenset(w for _f, w, _b in WORD_TERMS if w in text)
                for docnum, text in ((d, f["text"]) for d, f in searcher.reader().iter_docs() if f.get("kind") == "paragraph")}
    assert words_of == {docnum: words for docnum, words in expected.items() if words}
    assert any(len(words) > 1 for words in words_of.values())


def test_word_union_skips_deleted_documents_and_unknown_words(poems: SearchIndex) -> None:
    union = WordUnion([("grams", "明", 1.0), ("grams", "\ud800", 1.0), ("grams", "鹤", 1.0)])
    assert set(_scored(poems, union)) == _holding(poems, "明")


def test_cached_doc_frequency_sums_each_segments_term_table_as_whoosh(poems: SearchIndex) -> None:
    searcher = poems.searcher()
    reader = searcher.reader()
    assert len(list(reader.leaf_readers())) == 3
    checked = 0
    for fieldname in ("words", "grams"):
        texts = [reader.schema[fieldname].from_bytes(term) for term in reader.lexicon(fieldname)]
        assert texts
        for text in [*texts, "雪山独钓", "钓雪", "不在", "水水水"]:
            btext = term_bytes(reader.schema, fieldname, text)
            for _asked in range(2):  # the second answer comes from the searcher's cache
                assert cached_doc_frequency(searcher, fieldname, btext) == reader.doc_frequency(fieldname, text), (fieldname, text)
            checked += 1
    assert cached_doc_frequency(searcher, "grams", "钓".encode()) == 2  # two paragraphs, in one segment
    assert cached_doc_frequency(searcher, "grams", "明".encode()) > 300
    assert cached_doc_frequency(searcher, "title_words", "明月".encode()) == 0  # no titles
    assert term_bytes(reader.schema, "grams", "\ud800") is None  # cannot be a term
    assert checked > 20


def test_cached_doc_frequency_is_the_searchers_own() -> None:
    ix = SearchIndex.in_memory()
    ix.add_articles([Article(id="a", title="", paragraphs=["雪山独钓"])])
    before = ix.searcher()
    assert cached_doc_frequency(before, "grams", "钓".encode()) == 1
    ix.add_articles([Article(id="b", title="", paragraphs=["钓雪"])])
    assert ix.searcher() is not before
    assert cached_doc_frequency(ix.searcher(), "grams", "钓".encode()) == 2
    assert cached_doc_frequency(before, "grams", "钓".encode()) == 1  # the state it reads
    assert {hit.article_id for hit in ix.search("钓", level="paragraph").hits} == {"a", "b"}


RANKING_TERMS = [("words", "明月", 1.0), ("title_words", "明月", 2.0), ("grams", "不", 1.0), ("grams", "雪", 2.0), ("grams", "鹤", 1.0), ("grams", "\ud800", 1.0)]


@pytest.mark.parametrize("required", [
    CharPhrase("grams", list("明月"), boost=0.3),
    CharPhrase("grams", list("知"), boost=0.3),
    wq.Or([CharPhrase("grams", list("山水")), CharPhrase("grams", list("钓雪"))]),
    wq.AndNot(CharPhrase("grams", list("明")), CharPhrase("grams", list("不"))),
    CharPhrase("grams", list("明鹤")),
])
# Words from postings only; from the column wherever it can; from the column where the documents are
# spread over the words' postings (here: always).
@pytest.mark.parametrize(("few", "per_block"), [(0, 0), (10_000, 0), (0, 10_000)])
def test_ranked_filter_scores_as_whoosh_and_maybe(poems: SearchIndex, required: wq.Query, few: int, per_block: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matchers, "FEW_MATCHES", few)
    monkeypatch.setattr(matchers, "RECORDED_PER_BLOCK", per_block)
    ranked = RankedFilter(required, RANKING_TERMS)
    whoosh = wq.AndMaybe(required, wq.Or([wq.Term(field, word, boost=boost) for field, word, boost in RANKING_TERMS]))
    expected = _scored(poems, whoosh)
    ours = _scored(poems, ranked)
    assert ours == pytest.approx(expected, rel=1e-12)
    assert set(ours) == set(_scored(poems, required))  # the ranking terms add no documents
    if isinstance(required, CharPhrase) and required.chars == ("明", "月"):
        assert any(ours[d] != _scored(poems, required)[d] for d in ours)  # they do add to scores
    searcher = poems.searcher()
    for limit in (1, 5, 1000):
        top, total = ranked.top(searcher, limit)
        assert total == len(expected)
        assert [docnum for _score, docnum in top] == [hit.docnum for hit in searcher.search(ranked, limit=limit)]
        assert [score for score, _docnum in top] == pytest.approx(sorted(expected.values(), reverse=True)[:limit], rel=1e-12)


def test_term_range_finds_what_whooshs_hash_reader_finds(poems: SearchIndex) -> None:
    from searchkit.engine.terms import term_range

    checked = 0
    for leaf, _offset in poems.searcher().reader().leaf_readers():
        table = leaf._terms._tindex
        keys = list(table.keys())
        absent = [key + suffix for key in keys[:300] for suffix in (b"\x00", "雪".encode())]
        for key in keys + absent:
            assert term_range(table, key) == next(iter(table.ranges_for_key(key)), None), key
            checked += 1
    assert checked > 2000


def test_term_probe_doc_frequency_and_term_info_are_whooshs_from_the_buffer_and_from_the_file(poems: SearchIndex) -> None:
    from searchkit.engine.terms import TermProbe

    checked = 0
    for leaf, _offset in poems.searcher().reader().leaf_readers():
        buffered = TermProbe(leaf._terms)
        unbuffered = TermProbe(leaf._terms)
        unbuffered._buffer = None  # a term table read through the file, not a memory map
        assert buffered._buffer is not None
        for fieldname in ("grams", "words", "title_words"):
            terms = [term for term, _info in leaf.iter_field(fieldname)]
            for btext in terms[:200] + [term + "雪".encode() for term in terms[:50]]:
                expected = leaf.doc_frequency(fieldname, btext) if (fieldname, btext) in leaf else 0
                assert buffered.doc_frequency(fieldname, btext) == expected, (fieldname, btext)
                assert unbuffered.doc_frequency(fieldname, btext) == expected, (fieldname, btext)
                whooshs = leaf.term_info(fieldname, btext) if expected else None
                for probe in (buffered, unbuffered):
                    info = probe.term_info(fieldname, btext)
                    assert (info is None) == (whooshs is None), (fieldname, btext)
                    if info is not None:
                        stats = ("weight", "doc_frequency", "min_length", "max_length", "max_weight", "min_id", "max_id")
                        assert [getattr(info, name)() for name in stats] == [getattr(whooshs, name)() for name in stats]
                checked += 1
    assert checked > 500


def test_a_term_whose_postings_in_a_segment_are_all_deleted() -> None:
    # The term is still in the segment's term table; its cursor there holds
    # nothing. (Found by comparing random queries with the code before
    # RankedFilter: an AttributeError.) Characters have postings on an
    # index of bigrams (on one of characters, suffix arrays instead).
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=2))
    ix.add_articles([Article(id="kept", title="", paragraphs=["雪山明月"]),
                     Article(id="gone", title="", paragraphs=["孤鹤雪山"])], workers=1)
    ix.add_articles([Article(id="later", title="", paragraphs=["孤鹤"])], workers=1)
    ix.delete("gone")
    assert len(list(ix.searcher().reader().leaf_readers())) == 2
    ranked = RankedFilter(CharPhrase("grams", list("雪山")), [("words", "孤鹤", 1.0), ("words", "雪山", 1.0)])
    assert set(_scored(ix, ranked)) == set(_scored(ix, CharPhrase("grams", list("雪山")))) and _scored(ix, ranked)
    for chars in ("雪孤", "孤雪", "山孤", "鹤"):
        assert _scored(ix, CharPhrase("grams", list(chars))) == _scored(ix, wq.Phrase("grams", list(chars)) if len(chars) > 1 else wq.Term("grams", chars))
    assert [hit.article_id for hit in ix.search("孤鹤", level="paragraph").hits] == ["later"]
    assert [hit.article_id for hit in ix.search("雪山 OR 孤鹤", level="paragraph").hits] in (["kept", "later"], ["later", "kept"])


def test_check_finds_a_column_of_words_that_disagrees_with_the_postings(monkeypatch: pytest.MonkeyPatch) -> None:
    import searchkit.writing as writing_module

    ix = SearchIndex.in_memory()
    ix.add_articles(_corpus(20, 5), workers=1)
    real = writing_module.encode_ranking_words

    def one_more(words):  # each paragraph's first word recorded twice
        return real({**words, "words": words["words"][:1] + words["words"]})

    with monkeypatch.context() as wrong:
        wrong.setattr(writing_module, "encode_ranking_words", one_more)
        ix.add_articles(_corpus(20, 6)[10:], workers=1)
    first, second = [leaf.segment().segment_id() for leaf, _offset in ix.searcher().reader().leaf_readers()]
    assert ix.check().problems == [
        f"segment {second}: the column of paragraphs' words is damaged (it disagrees with the postings of those words)"]


def test_search_answers_the_same_from_the_column_of_words_as_from_postings(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import CORPUS

    ix = SearchIndex.in_memory()
    ix.add_articles(CORPUS[:3], workers=1)
    ix.add_articles(CORPUS[3:], workers=1)
    queries = ["民族团结", "珠峰", "藏", "日喀则", "冬遊西藏", "title:冬游", "西藏 -珠峰", "g318国道", "8.77亿元", "西藏"]

    def answers() -> list[tuple[int, list[tuple[str, int | None, float]]]]:
        ix.close()  # a fresh searcher: no scorer or column remembered
        return [(r.total, [(h.article_id, h.paragraph, h.score) for h in r.hits])
                for r in (ix.search(query, limit=50, level="paragraph") for query in queries)]

    used = []
    recorded = matchers._recorded_words
    monkeypatch.setattr(matchers, "_recorded_words", lambda *args: used.append(recorded(*args)) or used[-1])
    from_column = answers()
    assert any(found is not None for found in used) and all(total for total, _hits in from_column)
    monkeypatch.setattr(matchers, "FEW_MATCHES", 0)
    monkeypatch.setattr(matchers, "RECORDED_PER_BLOCK", 0)
    assert answers() == from_column


def test_the_column_answers_for_documents_spread_over_the_words_postings(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,200 paragraphs hold the word 春天 (10 postings blocks); 40 of them, one in 30, also hold 鹦鹉.
    ix = SearchIndex.in_memory()
    ix.add_articles([Article(id=f"a{n}", title="", paragraphs=["春天来了，鹦鹉叫了。" if n % 30 == 0 else "春天来了。"])
                     for n in range(1200)], workers=1)
    searcher = ix.searcher()
    (leaf, _offset), = searcher.leaf_searchers()
    terms = [("words", "春天", 1.0)]
    spread = sorted(searcher.docs_for_query(CharPhrase("grams", list("鹦鹉"))))
    monkeypatch.setattr(matchers, "FEW_MATCHES", 0)
    assert len(spread) == 40 and matchers._blocks_to_read(leaf.reader(), spread, terms) == 10
    assert matchers._recorded_words(leaf, spread, searcher.weighting, terms) is not None  # 40 <= 5 * 10
    assert matchers._recorded_words(leaf, spread, searcher.weighting, [("text", "春天", 1.0)]) is None  # no recorded part
    monkeypatch.setattr(matchers, "RECORDED_PER_BLOCK", 3)
    assert matchers._recorded_words(leaf, spread, searcher.weighting, terms) is None  # 40 > 3 * 10: the postings
