from __future__ import annotations

import functools
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchkit import Article, QueryError, SearchIndex
from searchkit.analysis import fold
from searchkit.query import PARTIAL_NOTE, And, Keyword, Not, Or, parse_query
from tests.scan import TextScan


def ids(result):
    return [(h.article_id, h.paragraph) for h in result.hits]


def id_set(result):
    return set(ids(result))


# -- exact keywords (find-in-page semantics)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("民族团结", {("a1", 0), ("a1", 1)}),
        # part of a word, and a sequence straddling two words
        ("族团", {("a1", 0), ("a1", 1), ("a3", 1)}),
        ("团结之", {("a1", 0)}),
        ("平民", {("a3", 1)}),
        # cross-script both ways
        ("快速通关", {("a2", 0)}),
        ("冬遊西藏", {("a3", 0)}),
        # full-width and half-width, Latin and digits mixed with Chinese
        ("g318国道", {("a2", 0)}),
        ("GPS", {("a2", 1)}),
        ("５g", {("a2", 1)}),
        ("8.77亿元", {("a1", 1)}),
        # one character
        ("藏", {("a3", 0)}),
    ],
)
def test_keyword_finds_exactly_the_paragraphs_that_hold_it(index: SearchIndex, query: str, expected: set) -> None:
    result = index.search(query, limit=100, level="paragraph")
    assert id_set(result) == expected
    assert result.total == len(expected)
    assert not result.partial


def test_keyword_highlighted_whole_in_original_script(index: SearchIndex) -> None:
    result = index.search("快速通关", level="paragraph")
    snippet = result.hits[0].snippet
    assert snippet.highlighted() == ["快速通關"]
    assert snippet.text == "作為G318國道進入珠峰必經之地，檢查站打造快速通關綠色通道。"
    assert snippet.highlights == [(22, 26)]


def test_full_width_text_highlighted_at_its_place(index: SearchIndex) -> None:
    snippet = index.search("gps", level="paragraph").hits[0].snippet
    assert snippet.highlights == [(0, 3)]
    assert snippet.highlighted() == ["ＧＰＳ"]


def test_several_keywords_are_anded(index: SearchIndex) -> None:
    result = index.search("民族团结 投资", level="paragraph")
    assert ids(result) == [("a1", 1)]
    assert result.hits[0].snippet.highlighted() == ["民族团结", "投资"]


def test_quoted_phrase_is_exact_text(index: SearchIndex) -> None:
    assert ids(index.search('"冬游西藏"', level="paragraph")) == [("a3", 0)]
    result = index.search('"快速 通关"', level="paragraph")  # the text has no space there
    assert result.partial


def test_exclusion_or_and_title(index: SearchIndex) -> None:
    assert ids(index.search("民族团结 -投资", level="paragraph")) == [("a1", 0)]
    assert id_set(index.search("珠峰 OR 投资", limit=100, level="paragraph")) == {("a1", 1), ("a2", 0), ("a2", 1)}
    assert id_set(index.search("title:日喀则", limit=100, level="paragraph")) == {("a2", 0), ("a2", 1)}
    assert ids(index.search("title:日喀则 GPS", level="paragraph")) == [("a2", 1)]
    assert id_set(index.search("(珠峰 OR 投资) -GPS", limit=100, level="paragraph")) == {("a1", 1), ("a2", 0)}


def test_fallback_to_partial_matches_says_so(index: SearchIndex) -> None:
    result = index.search("民族 珠峰", limit=100, level="paragraph")
    assert result.partial
    assert result.notes == [PARTIAL_NOTE]
    assert id_set(result) == {("a1", 0), ("a1", 1), ("a3", 1), ("a2", 0), ("a2", 1)}


def test_question_ranks_the_paragraph_with_most_words_first(index: SearchIndex) -> None:
    result = index.search("什么是民族团结进步模范？", level="paragraph")
    assert result.partial
    assert ids(result)[0] == ("a1", 1)
    assert result.hits[0].snippet.highlighted() == ["民族团结进步"]


def test_real_word_match_ranks_above_straddling_one() -> None:
    ix = SearchIndex.in_memory()
    ix.add_articles(
        [
            Article(id="straddle", title="甲", paragraphs=["世界和平民族团体在此聚会讨论合作事宜。"]),
            Article(id="word", title="乙", paragraphs=["普通平民百姓的生活在此得到改善提高。"]),
        ]
    )
    assert ids(ix.search("平民", level="paragraph")) == [("word", 0), ("straddle", 0)]


def test_title_match_weighs_more() -> None:
    ix = SearchIndex.in_memory()
    ix.add_articles(
        [
            Article(id="body", title="新闻", paragraphs=["珠峰景区今日开放。"]),
            Article(id="title", title="珠峰景区", paragraphs=["珠峰景区今日开放。"]),
        ]
    )
    assert ids(ix.search("珠峰", level="paragraph")) == [("title", 0), ("body", 0)]


def test_article_level_carries_best_paragraph(index: SearchIndex) -> None:
    result = index.search("民族团结", level="article")
    assert result.total == 1
    assert [(h.article_id, h.paragraph) for h in result.hits] == [("a1", 0)]


# -- parsing and malformed queries


def test_parse_tree() -> None:
    node, notes, filters = parse_query('民族 -珠峰 (a OR "b c") title:西藏')
    assert not filters
    assert notes == []
    assert node == And(
        (
            Keyword("民族", "民族"),
            Not(Keyword("珠峰", "珠峰")),
            Or((Keyword("a", "a"), Keyword("b c", "b c", quoted=True))),
            Keyword("西藏", "西藏", title=True),
        )
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ("。，！", "nothing to search for in query '。，！'"),
        ("OR", "nothing to search for in query 'OR'"),
        ("(((", "nothing to search for in query '((('"),
        ('""', "nothing to search for in query '\"\"'"),
        ("-珠峰", "a query needs at least one keyword that is not excluded with -"),
        ("x" * 2001, "query is too long: 2001 characters (at most 2000)"),
    ],
)
def test_refused_queries(index: SearchIndex, query: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        index.search(query, level="paragraph")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("query", "note", "expected"),
    [
        ('"冬游西藏', 'closed an unmatched quote (")', {("a3", 0)}),
        ("(珠峰 OR 投资", 'closed an unmatched "("', {("a1", 1), ("a2", 0), ("a2", 1)}),
        ("珠峰)", 'ignored an unmatched ")"', {("a2", 0), ("a2", 1)}),
        ("OR 珠峰", 'ignored an "OR" with nothing on one side', {("a2", 0), ("a2", 1)}),
        ("珠峰 -", 'ignored a lone "-"', {("a2", 0), ("a2", 1)}),
        ("珠峰 ！", "ignored '！': nothing to search for in it", {("a2", 0), ("a2", 1)}),
    ],
)
def test_repaired_queries_are_answered_with_a_note(index: SearchIndex, query: str, note: str, expected: set) -> None:
    result = index.search(query, limit=100, level="paragraph")
    assert note in result.notes
    assert id_set(result) == expected


def test_full_width_parentheses_are_text_not_syntax(index: SearchIndex) -> None:
    node, _, _ = parse_query("（珠峰）")
    assert node == Keyword("珠峰", "（珠峰）")


def test_bad_limit_and_level(index: SearchIndex) -> None:
    with pytest.raises(QueryError, match="^limit must be between 1 and 10000$"):
        index.search("珠峰", limit=0, level="paragraph")
    with pytest.raises(QueryError, match="^unknown level 'book': use paragraph or article$"):
        index.search("珠峰", level="book")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300), st.data())
def test_any_query_string_is_answered_or_refused(index: SearchIndex, query: str, data) -> None:
    try:
        result = index.search(query, level="paragraph")
    except QueryError as error:
        assert "\n" not in str(error)
        return
    assert result.total >= len(result.hits)


# -- the property: any substring of any text is found

_alphabet = st.sampled_from(list("民族团结珠峰日喀則西藏的一是了ＡＢab12３.，。 ％㍿"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=_alphabet, min_size=1, max_size=40), min_size=1, max_size=4), st.data())
def test_every_substring_is_found(paragraphs: list[str], data) -> None:
    ix = SearchIndex.in_memory()
    ix.add_articles([Article(id="x", title="t", paragraphs=paragraphs)])
    which = data.draw(st.integers(0, len(paragraphs) - 1))
    text = paragraphs[which]
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    keyword = text[start:end]
    quoted = '"' + keyword.replace('"', "") + '"'
    if not any(c.isalnum() for c in fold(keyword)):
        return
    result = ix.search(quoted, limit=100, level="paragraph")
    expected = {("x", i) for i, p in enumerate(paragraphs) if " ".join(fold(keyword).split()) in " ".join(fold(p).split())}
    assert ("x", which) in id_set(result)
    assert id_set(result) == expected


def test_word_frequencies_remembered_by_a_searcher_follow_index_changes(tmp_path) -> None:
    ix = SearchIndex.create(tmp_path / "ix")
    ix.add_articles([Article(id="a", title="", paragraphs=["雪山上的小屋"])])
    assert ix.search("雪豹保护", level="paragraph").total == 0  # the searcher learns that 雪豹 is unknown
    ix.add_articles([Article(id="b", title="", paragraphs=["雪豹保护区里有雪豹，雪山也在保护区里。"])])
    hits = ix.search("雪豹保护", level="paragraph").hits
    code = f"from searchkit import SearchIndex; print([(h.article_id, h.score) for h in SearchIndex({str(tmp_path / 'ix')!r}).search('雪豹保护', level='paragraph').hits])"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert fresh.strip() == str([(h.article_id, h.score) for h in hits])
    assert [h.article_id for h in hits] == ["b"]


# -- random queries against a scan of the texts, on an index with deletions


@functools.lru_cache(maxsize=2)
def _oracle_index(grams: int) -> tuple[SearchIndex, dict[tuple[str, int], str]]:
    """An index of random paragraphs with deletions across three segments, and the texts it holds (read only)."""
    import random

    from searchkit import AnalyzerSettings

    chooser = random.Random(3)
    alphabet = "山水明月人不知风花雪孤鹤，。"
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=grams))
    texts: dict[tuple[str, int], str] = {}
    for commit in range(3):  # three segments, each character's postings in several blocks
        articles = []
        for n in range(150):
            paragraphs = ["".join(chooser.choice(alphabet) for _ in range(chooser.randint(3, 14))) for _ in range(2)]
            articles.append(Article(id=f"c{commit}-{n}", title="", paragraphs=paragraphs))
        ix.add_articles(articles, workers=1)
        texts.update({(a.id, i): p for a in articles for i, p in enumerate(a.paragraphs)})
    for commit in range(3):
        for n in range(0, 150, 3):  # some of every segment, some words' every posting in one
            ix.delete(f"c{commit}-{n}")
            texts.pop((f"c{commit}-{n}", 0)), texts.pop((f"c{commit}-{n}", 1))
    return ix, texts


@pytest.mark.parametrize("grams", [1, 2])
def test_random_queries_find_what_a_scan_of_the_texts_finds(grams: int) -> None:
    import random

    ix, texts = _oracle_index(grams)
    scan = TextScan(texts)
    chooser = random.Random(grams)
    pieces = scan.pieces((1, 2, 3))
    checked = answered = 0
    for _ in range(150):
        query, paragraphs, needles, articles = scan.boolean_query(chooser, pieces)
        for level in ("paragraph", "article"):
            result = ix.search(query, limit=1000, level=level)
            expected = paragraphs if level == "paragraph" else articles
            if expected:
                assert not result.partial, (query, level)
                if level == "paragraph":
                    assert id_set(result) == expected and result.total == len(expected), query
                else:  # each keyword in some paragraph of the article, not necessarily the same
                    assert {h.article_id for h in result.hits} == expected and result.total == len(expected), query
                    assert all((h.article_id, h.paragraph) in texts for h in result.hits), query
                for hit in result.hits:
                    _check_highlights(hit.snippet, [fold(needle) for needle in needles])
                answered += 1
            else:
                assert result.partial or result.total == 0, (query, level)
            checked += 1
    assert checked == 300 and answered > 150


def _check_highlights(snippet, needles: list[str]) -> None:
    """Every occurrence of a keyword in the snippet is highlighted (one that
    overlaps another of the same keyword, 孤孤 twice in 孤孤孤, at least in
    part: the first is shown whole), and each highlight is made of keyword
    occurrences (touching ones of different keywords merge)."""
    text = fold(snippet.text)
    assert len(text) == len(snippet.text)
    covered = [False] * len(text)
    occurrences = []
    for needle in needles:
        start = text.find(needle)
        while start >= 0:
            occurrences.append((start, start + len(needle)))
            covered[start:start + len(needle)] = [True] * len(needle)
            start = text.find(needle, start + 1)
    inside = [False] * len(text)
    for start, end in snippet.highlights:
        assert start < end and all(covered[start:end]), (snippet, needles)
        inside[start:end] = [True] * (end - start)
    assert all(any(inside[start:end]) for start, end in occurrences), (snippet, needles)
    overlapping = {(start, end) for start, end in occurrences for other in occurrences
                   if other != (start, end) and other[0] < end and start < other[1]}
    assert all(all(inside[start:end]) for start, end in occurrences if (start, end) not in overlapping), (snippet, needles)


def test_an_exclusion_holds_for_the_first_match_too() -> None:
    # Whoosh's AndNotMatcher let its first document through when the excluded
    # keyword's postings began earlier and held it (whoosh-community/whoosh #419).
    ix = SearchIndex.in_memory()
    ix.add_articles([Article(id="a", title="", paragraphs=["人"]), Article(id="b", title="", paragraphs=["不人"]),
                     Article(id="c", title="", paragraphs=["不"])], workers=1)
    assert ids(ix.search("不 -人", level="paragraph")) == [("c", 0)]
    assert ids(ix.search("不 -人", level="article")) == [("c", 0)]
    assert ids(ix.search("(不 OR 天) -人", level="paragraph")) == [("c", 0)]


@pytest.mark.parametrize("grams", [1, 2])
def test_random_title_and_quoted_queries_find_what_a_scan_finds(grams: int) -> None:
    import random
    import re

    from searchkit import AnalyzerSettings
    from searchkit.analysis import gram_stream

    chooser = random.Random(7 + grams)
    alphabet = "山水明月人不知风花 雪A1"
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=grams))
    titles: dict[str, str] = {}
    texts: dict[tuple[str, int], str] = {}
    for commit in range(3):
        articles = []
        for n in range(30):
            title = "".join(chooser.choice("明月花雪天地") for _ in range(chooser.randint(2, 5)))
            paragraphs = ["".join(chooser.choice(alphabet) for _ in range(chooser.randint(3, 12))) for _ in range(2)]
            articles.append(Article(id=f"c{commit}-{n}", title=title, paragraphs=paragraphs))
        ix.add_articles(articles, workers=1)
        titles.update({a.id: a.title for a in articles})
        texts.update({(a.id, i): p for a in articles for i, p in enumerate(a.paragraphs)})
    for n in range(0, 90, 4):
        article_id = f"c{n // 30}-{n % 30}"
        ix.delete(article_id)
        del titles[article_id]
        texts.pop((article_id, 0)), texts.pop((article_id, 1))
    streams = {key: gram_stream(fold(text))[0] for key, text in texts.items()}
    pieces = [text[i:i + n] for text in texts.values() for n in (2, 3, 4) for i in range(len(text) - n + 1)]

    def quoted_holding(phrase: str) -> set[tuple[str, int]]:
        wanted = " ".join(fold(phrase).split())
        return {key for key, stream in streams.items() if wanted and wanted in stream}

    answered = 0
    for _ in range(120):
        piece = chooser.choice(pieces)
        in_title = chooser.choice("明月花雪天地") + chooser.choice(["", chooser.choice("明月花雪天地")])
        word = chooser.choice([p for p in pieces if p.strip() and " " not in p] or ["山"])
        shape = chooser.randrange(3)
        if shape == 0 and piece.strip():
            query, expected, needle = f'"{piece}"', quoted_holding(piece), " ".join(fold(piece).split())
        elif shape == 1:
            query = f"title:{in_title} {word}"
            expected = {key for key in quoted_holding(word) if fold(in_title) in fold(titles[key[0]])}
            needle = fold(word)
        else:
            query = f"title:{in_title}"
            expected = {key for key in texts if fold(in_title) in fold(titles[key[0]])}
            needle = ""  # title keywords are not highlighted in the text
        if not query.strip('" '):
            continue
        result = ix.search(query, limit=1000, level="paragraph")
        if expected:
            assert not result.partial and id_set(result) == expected and result.total == len(expected), query
            answered += 1
            for hit in result.hits:
                spans = [re.sub(r"\s+", " ", fold(hit.snippet.text[start:end])) for start, end in hit.snippet.highlights]
                if needle:  # the whole keyword, where the reader sees it (overlapping repeats merge)
                    assert spans and all(needle in shown for shown in spans), (query, hit.snippet)
                else:
                    assert spans == [], (query, hit.snippet)
        else:
            assert result.partial or result.total == 0, query
    assert answered > 60


@pytest.mark.parametrize("grams", [1, 2])
def test_partial_answers_keep_exclusions(grams: int) -> None:
    import random

    ix, texts = _oracle_index(grams)
    scan = TextScan(texts)
    folded = scan.folded
    chooser = random.Random(9)
    pieces = scan.pieces((2, 3, 4))
    partial = 0
    for _ in range(100):
        a, b = (chooser.choice(pieces).strip("，。") or "山" for _ in range(2))
        excluded = chooser.choice("山水明月")
        result = ix.search(f"{a}{b} -{excluded}", limit=50, level="paragraph")
        if result.partial:
            partial += 1
            assert all(excluded not in folded[(h.article_id, h.paragraph)] for h in result.hits), (a + b, excluded)
    assert partial > 50


def test_groups_of_exclusions_are_joined_or_refused() -> None:
    # Found by the Hypothesis query test: "0)-A -A" made a group of only
    # exclusions inside an AND, which Whoosh could not match (ValueError).
    ix = SearchIndex.in_memory()
    ix.add_articles([Article(id="a", title="", paragraphs=["民族团结"]), Article(id="b", title="", paragraphs=["民族西藏"]),
                     Article(id="c", title="", paragraphs=["民族"]), Article(id="d", title="", paragraphs=["珠峰"])], workers=1)
    result = ix.search("民族)-团结 -西藏", level="paragraph")  # the stray ")" ends a group: 民族 AND NOT 团结 AND NOT 西藏
    assert ids(result) == [("c", 0)] and result.notes == ['ignored an unmatched ")"']
    assert parse_query("0)-A -A")[0] == And((Keyword("0", "0"), Not(Keyword("a", "A")), Not(Keyword("a", "A"))))
    for query in ("民族 ((-团结 -西藏) OR 珠峰)", "(-团结) OR 珠峰 民族", "民族 OR -团结"):
        with pytest.raises(QueryError) as error:
            ix.search(query, level="paragraph")
        assert str(error.value) == "each group in ( ) and each side of OR needs a keyword that is not excluded with -"
    assert set(ids(ix.search("(民族 -团结) OR 珠峰", level="paragraph"))) == {("b", 0), ("c", 0), ("d", 0)}
