from __future__ import annotations

import pytest

from searchkit.analysis import (
    ChineseTokenizer,
    Segmenter,
    analyze,
    fold,
    gram_postings,
    gram_stream,
    keyword_grams,
    normalize,
)


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter()


def test_fold_full_width_case_and_traditional() -> None:
    assert fold("ＧＰＳ定位與５Ｇ網絡") == "gps定位与5g网络"
    assert fold("日喀則") == "日喀则"
    assert fold("\u3000") == " "


def test_normalize_identity_offsets() -> None:
    n = normalize("日喀則市")
    assert n.text == "日喀则市"
    assert n.to_original(0, 3) == (0, 3)


def test_normalize_expanding_characters_map_back() -> None:
    # ㍿ folds to four characters; offsets still land on the original.
    n = normalize("a㍿b")
    assert n.text == "a株式会社b"
    assert n.to_original(1, 5) == (1, 2)
    assert n.to_original(2, 3) == (1, 2)
    assert n.to_original(5, 6) == (2, 3)


def test_normalization_is_per_character() -> None:
    text = "ＡＢ日喀則㍿x"
    for i in range(len(text)):
        for j in range(i + 1, len(text) + 1):
            assert fold(text[i:j]) in fold(text)


def test_tokenizer_offsets_point_into_original(segmenter: Segmenter) -> None:
    text = "民族團結，ＧＰＳ定位"
    # Whoosh reuses one Token object: read each as it comes.
    tokens = [
        (t.text, t.pos, t.startchar, t.endchar)
        for t in ChineseTokenizer(segmenter)(text, positions=True, chars=True, mode="index")
    ]
    assert tokens == [
        ("民族", 0, 0, 2),
        ("团结", 1, 2, 4),
        ("民族团结", 2, 0, 4),
        ("gps", 3, 5, 8),
        ("定位", 4, 8, 10),
    ]
    for word, _pos, start, end in tokens:
        assert fold(text[start:end]) == word


def test_tokenizer_honours_start_pos_and_start_char(segmenter: Segmenter) -> None:
    tokenizer = ChineseTokenizer(segmenter)
    tokens = [(t.text, t.pos, t.startchar, t.endchar) for t in tokenizer("珠峰", positions=True, chars=True, start_pos=10, start_char=100)]
    assert tokens == [("珠峰", 10, 100, 102)]


def test_query_mode_has_no_sub_words(segmenter: Segmenter) -> None:
    _, tokens = analyze("民族团结", segmenter, query=True)
    assert [t.text for t in tokens] == ["民族团结"]


def test_latin_and_numbers_kept_punctuation_dropped(segmenter: Segmenter) -> None:
    _, tokens = analyze("G318国道，8.77亿元！", segmenter)
    words = [t.text for t in tokens]
    assert "g318" in words and "8.77" in words and "国道" in words
    assert all(any(c.isalnum() for c in w) for w in words)


def test_gram_stream_collapses_white_space() -> None:
    assert gram_stream("a  b\n\nc ") == ("a b c", [0, 1, 3, 4, 6])
    assert gram_stream("abc") == ("abc", None)


def test_grams() -> None:
    assert keyword_grams("民族团结") == ["民", "族", "团", "结"]
    assert dict(gram_postings("西藏 西藏")) == {"西": [0, 3], "藏": [1, 4], " ": [2]}
