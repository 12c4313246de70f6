"""Ranking behaviour on small handmade corpora (issue: relevance)."""

from __future__ import annotations

import random

import pytest

from searchkit import Article, SearchIndex

PLACES = ["长江", "黄河", "泰山", "华山", "西湖", "故宫", "长城", "敦煌", "丝路", "草原",
          "沙漠", "高原", "冰川", "森林", "湖泊", "港口", "铁路", "机场", "大桥", "隧道"]


def ids(result) -> list[tuple[str, int | None]]:
    return [(h.article_id, h.paragraph) for h in result.hits]


def index_of(*articles: tuple[str, str, str]) -> SearchIndex:
    """An in-memory index of one-paragraph articles given as (id, title, text)."""
    ix = SearchIndex.in_memory()
    ix.add_articles([Article(id=i, title=title, paragraphs=[text]) for i, title, text in articles])
    return ix


@pytest.fixture(scope="module")
def synthetic() -> SearchIndex:
    """1,200 paragraphs of random place words: 2,400 Whoosh documents."""
    rng = random.Random(7)
    articles = []
    for i in range(1200):
        words = [rng.choice(PLACES) for _ in range(rng.randint(3, 12))]
        text = "".join(w + rng.choice("的了在是和有也就都") for w in words) + "。"
        articles.append(Article(id=f"p{i}", title=f"第{i}篇", paragraphs=[text]))
    ix = SearchIndex.in_memory()
    ix.add_articles(articles, workers=1)
    return ix


@pytest.mark.parametrize("seed", range(5))
def test_top_hits_are_the_head_of_the_full_ranking(synthetic: SearchIndex, seed: int) -> None:
    # Whoosh's array union matcher (its default for small indexes) dropped the
    # best documents under top-N pruning; the top 5 must be the best 5.
    query = "".join(random.Random(seed).sample(PLACES, 5)) + "在哪里？"  # no paragraph holds it
    top = synthetic.search(query, limit=5, level="paragraph")
    everything = synthetic.search(query, limit=1000, level="paragraph")
    assert top.partial and everything.partial
    assert [round(h.score, 6) for h in top.hits] == [round(h.score, 6) for h in everything.hits[:5]]
    assert top.total == everything.total > 5


def test_paragraph_with_every_word_beats_repeats_of_one() -> None:
    ix = index_of(
        ("repeats", "甲", "长江长江长江，长江长江长江，长江奔流不息。"),
        ("all", "乙", "长江大桥连通两岸铁路。"),
        ("other", "丙", "黄河铁路今日通车。"),
    )
    result = ix.search("长江的铁路在哪里？", level="paragraph")
    assert result.partial
    assert ids(result)[0] == ("all", 0)
    assert set(ids(result)) == {("all", 0), ("repeats", 0), ("other", 0)}


def test_title_words_weigh_more_in_partial_matches() -> None:
    ix = index_of(
        ("body", "新闻", "敦煌壁画修复工作今年完成。"),
        ("title", "敦煌壁画", "修复工作今年完成，游客可以参观。"),
    )
    result = ix.search("敦煌壁画是什么时候修复的？", level="paragraph")
    assert result.partial
    assert ids(result) == [("title", 0), ("body", 0)]


def test_question_in_either_script_ranks_alike() -> None:
    ix = index_of(
        ("t", "鐵路", "青藏鐵路經過崑崙山口，全長一千九百多公里。"),
        ("s", "铁路", "京张铁路是中国自主设计的第一条铁路。"),
    )
    simplified = ix.search("青藏铁路经过哪个山口？", level="paragraph")
    traditional = ix.search("青藏鐵路經過哪個山口？", level="paragraph")
    assert ids(simplified) == ids(traditional) == [("t", 0), ("s", 0)]
    assert [h.score for h in simplified.hits] == [h.score for h in traditional.hits]


def test_a_phrase_the_scripts_spell_apart_ranks_alike() -> None:
    """計畫 folds to 计画 a character at a time; simplified writers (and OpenCC's phrases) have 计划."""
    ix = index_of(
        ("gold", "都市計畫", "都市計畫在二十世紀初成為一門獨立的學問。"),
        ("other", "城市", "城市的学问很多，独立的时间也很长。"),
        ("plan", "计划", "国家计划委员会在北京。"),
    )
    traditional = ix.search("都市計畫在什麼時間成為獨立的學問？", level="paragraph")
    simplified = ix.search("都市计划在什么时间成为独立的学问？", level="paragraph")
    assert traditional.partial and simplified.partial
    assert ids(simplified) == ids(traditional)
    assert ids(simplified)[0] == ("gold", 0)
    # As a keyword: exact matching stays per character (计划 is not 计画), the ranking words see both.
    assert ids(ix.search("计划", level="paragraph")) == [("plan", 0)]
    assert "都市计画" in [word for word, _n in ix.explain("都市计划在什么时间").ranking_words]


def test_the_questions_own_phrasing_ranks_first() -> None:
    ix = index_of(
        ("scattered", "广州", "孙中山早年离开广东，去过很多地方，后来很少回到故乡。"),
        ("phrased", "翠亨村", "翠亨村有一座纪念馆，这里是孙中山的故乡，游客很多。"),
    )
    result = ix.search("孙中山的故乡在哪里？", level="paragraph")
    assert result.partial
    assert ids(result) == [("phrased", 0), ("scattered", 0)]
