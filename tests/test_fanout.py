"""A search over shards answers as one index of the same articles: hits, order, scores, totals, facets, snippets.

The articles are 112 of the shared QA sets (tests/data/qa_sample.jsonl), with
made-up metadata; the queries are their questions, answers and titles.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from searchkit import Article, QueryError, SearchIndex, SearchResult
from searchkit.errors import ShardUnavailableError
from searchkit.fanout import explain_shards, search_shards
from searchkit.shards import LocalShard, shard_of

SAMPLE = Path(__file__).resolve().parent / "data" / "qa_sample.jsonl"
RECORDS = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def article(record: dict) -> Article:
    return Article(id=record["id"], title=record["title"], paragraphs=record["paragraphs"], source=record["source"],
                   author="、".join(record["author"]), date=record.get("date"))


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, object]:
    """One index of every article, and the same articles in 1, 2 and 3 shards."""
    root = tmp_path_factory.mktemp("fanout")
    articles = [article(r) for r in RECORDS]
    made: dict[int, object] = {}
    single = SearchIndex.create(root / "single")
    single.add_articles(articles)
    made[0] = single
    for count in (1, 2, 3):
        shards = []
        for number in range(count):
            path = root / f"{count}-shards" / f"shard-{number:03d}"
            SearchIndex.create(path).add_articles([a for a in articles if shard_of(a.id, count) == number])
            shards.append(LocalShard(number, path, SearchIndex))
        made[count] = shards
    return made


def _runs(result: SearchResult, sort: str) -> list[list[dict]]:
    """The hits in runs of equal place (score, and date when sorted by date): a run's order is the index's."""
    runs: list[list[dict]] = []
    for hit in result.hits:
        data = hit.to_json()
        data["score"] = hit.score
        place = (hit.date,) if sort != "relevance" else ()
        if runs and _place(runs[-1][0], sort) == place and math.isclose(runs[-1][0]["score"], hit.score, rel_tol=1e-9):
            runs[-1].append(data)
        else:
            runs.append([data])
    return runs


def _identity(data: dict) -> tuple:
    return (data["article_id"], data["paragraph"])


def _place(data: dict, sort: str) -> tuple:
    return (data["date"],) if sort != "relevance" else ()


def assert_same(single: SearchResult, sharded: SearchResult, sort: str = "relevance") -> None:
    assert (sharded.total, sharded.partial, sharded.notes, sharded.facets, sharded.level, sharded.offset) == (
        single.total, single.partial, single.notes, single.facets, single.level, single.offset)
    assert len(sharded.hits) == len(single.hits)
    mine, theirs = _runs(single, sort), _runs(sharded, sort)
    assert len(mine) == len(theirs)
    for number, (run, other) in enumerate(zip(mine, theirs)):
        assert len(run) == len(other)
        for a, b in zip(run, other):
            assert math.isclose(a["score"], b["score"], rel_tol=1e-9)
        last = number == len(mine) - 1
        if last and len(single.hits) < single.total - single.offset and len(run) > 1:
            continue  # a run of equal hits cut by the page: which of them make it is each index's own order
        for a, b in zip(sorted(run, key=_identity), sorted(other, key=_identity)):
            a, b = dict(a), dict(b)
            assert math.isclose(a.pop("score"), b.pop("score"), rel_tol=1e-9)
            assert a == b


def _both(indexes: dict, count: int, query: str, **options: object) -> tuple[SearchResult, SearchResult]:
    return indexes[0].search(query, **options), search_shards(indexes[count], query, **options)


QUESTIONS = [q for r in RECORDS[::3] for q in r["questions"][:1]]
ANSWERS = [a for r in RECORDS[::2] for a in r["answers"][:1] if len(a) >= 2][:40]


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("level", ["article", "paragraph"])
def test_answers_as_keywords(indexes: dict, count: int, level: str) -> None:
    exact = 0
    for answer in ANSWERS:
        single, sharded = _both(indexes, count, answer, level=level, limit=10)
        assert_same(single, sharded)
        exact += not single.partial and single.total > 0
    assert exact >= 30  # the keywords were found as typed, in one shard or several


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("level", ["article", "paragraph"])
def test_questions_partial_matches(indexes: dict, count: int, level: str) -> None:
    partial = 0
    for question in QUESTIONS:
        single, sharded = _both(indexes, count, question, level=level, limit=5)
        assert_same(single, sharded)
        partial += single.partial
    assert partial >= len(QUESTIONS) // 2  # questions rarely hold every keyword: the fallback ranks them


@pytest.mark.parametrize("count", [2, 3])
def test_exclusions_alternatives_titles_and_paging(indexes: dict, count: int) -> None:
    queries = ["中国 -台湾", "游戏 OR 梵語", "title:战士", "(中国 OR 中國) -日本", '"北京" 大学', "title:戰 OR 战争"]
    for query in queries:
        for level in ("article", "paragraph"):
            for offset in (0, 3, 10):
                single, sharded = _both(indexes, count, query, level=level, limit=7, offset=offset)
                assert_same(single, sharded)
    assert indexes[0].search("中国 -台湾").total > 10


@pytest.mark.parametrize("count", [2, 3])
def test_filters_facets_and_date_sorting(indexes: dict, count: int) -> None:
    facets = ("source", "author", "year", "month")
    cases = [
        ("中国", {"source": "新华社", "facets": facets}),
        ("中国", {"source": ["联合报", "ＡＦＰ"], "level": "paragraph", "facets": facets}),
        ("中国", {"author": "卓玛", "date_from": "2020-06", "date_to": "2021-12-31", "facets": facets}),
        ("source:人民日报 date:2020", {"facets": facets}),
        ("date:2021-01..2022-06", {"sort": "-date", "limit": 20}),
        ("中国", {"sort": "date", "limit": 15, "offset": 5, "facets": ("year",)}),
        ("的", {"sort": "-date", "level": "paragraph", "limit": 30}),
        ("哪个国家的游戏公司开发了泡泡战士", {"source": "新華社", "facets": facets}),
    ]
    for query, options in cases:
        single, sharded = _both(indexes, count, query, **options)
        assert_same(single, sharded, options.get("sort", "relevance"))
        assert single.total > 0, query
    counted = search_shards(indexes[count], "中国", facets=("source",)).facets["source"]
    assert len({"新华社", "新華社"} & set(counted)) == 1  # one value, counted over every shard, under one spelling
    assert len({"AFP", "ＡＦＰ"} & set(counted)) == 1


def test_scores_are_those_of_one_index_not_of_each_shard(indexes: dict) -> None:
    """Each shard's own term statistics would score differently: the global ones give one index's scores."""
    query = ANSWERS[0]
    single = indexes[0].search(query, level="paragraph", limit=50)
    local = [shard.index().search(query, level="paragraph", limit=50) for shard in indexes[3]]
    by_hit = {(h.article_id, h.paragraph): h.score for h in single.hits}
    differs = [h for result in local for h in result.hits if not math.isclose(by_hit[h.article_id, h.paragraph], h.score,
                                                                              rel_tol=1e-9)]
    assert differs, "the shards' own statistics happen to equal the global ones: pick another query"
    assert_same(single, search_shards(indexes[3], query, level="paragraph", limit=50))


def test_explain_counts_every_shard(indexes: dict) -> None:
    question = QUESTIONS[1]
    assert explain_shards(indexes[3], question).to_json() == indexes[0].explain(question).to_json()


def test_a_bad_query_is_refused_as_by_one_index(indexes: dict) -> None:
    for options in ({"limit": 0}, {"sort": "size"}, {"level": "word"}):
        with pytest.raises(QueryError) as one:
            indexes[0].search("中国", **options)
        with pytest.raises(QueryError) as sharded:
            search_shards(indexes[2], "中国", **options)
        assert str(sharded.value) == str(one.value)


def test_an_unreachable_shard_fails_or_is_left_out(indexes: dict, tmp_path: Path) -> None:
    gone = LocalShard(1, tmp_path / "missing-shard", SearchIndex)
    shards = [indexes[2][0], gone]
    with pytest.raises(ShardUnavailableError, match=r"^shard 1 \(.*missing-shard\): its directory is missing$"):
        search_shards(shards, "中国")
    result = search_shards(shards, "中国", allow_partial=True)
    assert result.partial_shards == [gone.name]
    assert result.to_json()["partial_shards"] == [gone.name]
    assert_same(indexes[2][0].index().search("中国"), result.__class__(**{**result.__dict__, "partial_shards": []}))


def test_synonyms_and_pinyin_answer_as_one_index(tmp_path: Path) -> None:
    """Synonym alternatives and pinyin readings read terms the first round cannot list: asked again, counted."""
    from searchkit.analysis import AnalyzerSettings

    articles = [article(r) for r in RECORDS[:24]]
    rules = ["游戏, 遊戲, 比赛", "中国 => 中华"]
    settings = AnalyzerSettings(pinyin=True)
    single = SearchIndex.create(tmp_path / "single", settings=settings)
    single.add_articles(articles)
    single.set_synonyms(rules)
    shards = []
    for number in range(2):
        path = tmp_path / f"shard-{number}"
        shard = SearchIndex.create(path, settings=settings)
        shard.add_articles([a for a in articles if shard_of(a.id, 2) == number])
        shard.set_synonyms(rules)
        shards.append(LocalShard(number, path, SearchIndex))
    for query in ["游戏", "中国 公司", "youxi", "zhongguo", "泡泡 zhanshi", "韩国 -yx"]:
        for level in ("article", "paragraph"):
            assert_same(single.search(query, level=level), search_shards(shards, query, level=level))
    assert single.search("youxi").total > 0
