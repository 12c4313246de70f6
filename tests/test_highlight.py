"""Snippets as data (text + spans) and their renderings."""

from __future__ import annotations

from searchkit import Snippet, render_ansi, render_html, render_plain
from searchkit.highlight import ELLIPSIS, find_spans, make_snippet, merge_spans

FILLER = "这是一段用来填充长度的普通文字，没有任何关键词出现在这里。"  # 29 characters


def test_spans_map_back_to_the_original_script_and_width() -> None:
    text = "作為ＧＰＳ定位的日喀則市。"
    assert find_spans(text, ["gps", "日喀则"]) == [(2, 5, 0), (8, 11, 1)]


def test_touching_keywords_merge_but_repeats_of_one_keyword_stay_whole() -> None:
    assert make_snippet("民族团结进步", ["民族", "团结"]).highlighted() == ["民族团结"]
    assert make_snippet("官网50000张投票", ["00"]).highlighted() == ["00", "00"]
    assert merge_spans([(5, 7), (0, 2), (2, 4), (6, 9)]) == [(0, 4), (5, 9)]


def test_short_paragraph_is_shown_whole() -> None:
    snippet = make_snippet("珠峰景区今日开放。", ["珠峰"])
    assert snippet == Snippet("珠峰景区今日开放。", [(0, 2)])


def test_long_paragraph_is_cut_at_sentence_ends_around_the_keyword() -> None:
    text = FILLER * 3 + "检查站打造快速通关绿色通道。" + FILLER * 3
    snippet = make_snippet(text, ["快速通关"], max_chars=60)
    assert len(snippet.text) <= 60 + 2 * len(ELLIPSIS)
    assert snippet.highlighted() == ["快速通关"]
    # Whole sentences: the keyword's own first, then what fits after it.
    assert snippet.text == "检查站打造快速通关绿色通道。" + FILLER


def test_far_apart_keywords_give_fragments_joined_by_ellipsis() -> None:
    text = "珠峰大本营今年接待游客。" + FILLER * 6 + "日喀则机场新开航线。" + FILLER * 6
    snippet = make_snippet(text, ["珠峰", "日喀则"], max_chars=80)
    assert snippet.highlighted() == ["珠峰", "日喀则"]
    assert snippet.text.startswith("珠峰大本营今年接待游客。")
    assert f"{ELLIPSIS}日喀则机场新开航线。" in snippet.text
    assert len(snippet.text) <= 80 + 2 * len(ELLIPSIS)


def test_snippet_prefers_the_sentence_with_most_distinct_keywords() -> None:
    text = "珠峰很高。" + FILLER * 5 + "日喀则通往珠峰的公路。" + FILLER * 5
    snippet = make_snippet(text, ["珠峰", "日喀则"], max_chars=40)
    assert "日喀则通往珠峰的公路。" in snippet.text
    assert snippet.highlighted() == ["日喀则", "珠峰"]


def test_a_keyword_across_a_sentence_end_is_not_cut() -> None:
    text = FILLER * 3 + "南方群岛均隶属菲律宾管辖。巴丹群岛以渔业为生。" + FILLER * 3
    snippet = make_snippet(text, ["辖。巴丹"], max_chars=60)
    assert snippet.highlighted() == ["辖。巴丹"]


def test_renderings() -> None:
    snippet = Snippet("<b>珠峰</b> & 日喀则", [(3, 5), (12, 15)])
    assert render_plain(snippet) == "<b>[珠峰]</b> & [日喀则]"
    assert render_ansi(snippet) == "<b>\x1b[1;31m珠峰\x1b[0m</b> & \x1b[1;31m日喀则\x1b[0m"
    assert render_html(snippet) == "&lt;b&gt;<mark>珠峰</mark>&lt;/b&gt; &amp; <mark>日喀则</mark>"
    assert snippet.to_json() == {"text": "<b>珠峰</b> & 日喀则", "highlights": [[3, 5], [12, 15]]}


def test_keyword_repeated_through_a_100000_character_paragraph() -> None:
    # One sentence, 50,000 matches: the window search is linear, not quadratic.
    snippet = make_snippet("珠峰" * 50000, ["珠峰"], max_chars=120)
    assert snippet.text.startswith("珠峰") and snippet.text.endswith(ELLIPSIS)
    assert len(snippet.text) == 120 + len(ELLIPSIS)
    assert snippet.highlights == [(i, i + 2) for i in range(0, 120, 2)]
