"""Pinyin: the readings an index of pinyin records, and ASCII keywords read as pinyin.

An index made with ``pinyin`` (``index --pinyin``, ``AnalyzerSettings(pinyin=True)``)
records, for each Chinese character of a paragraph's text (at its position in
the stream of grams), the character itself and each of its toneless readings:
pypinyin's, with its phrase dictionary applied over each jieba word (default
cut), so 重庆 is chong qing, 重要 zhong yao, 银行 yin hang, 行走 xing zou; where
the library lists several readings of the character in its word, each of them.
ü is written v (lv, nv, lve).

At query time an ASCII keyword (or one mixing Chinese characters and pinyin)
that reads as pinyin also matches the runs of characters that read so
(:func:`pinyin_units`): full syllables (zhufeng), initials (zf), a mix
(zhuf), the last syllable cut short (zhufe), tones as marks (zhū) or digits
(zhu1), ü as ü, v or u: (lü, lv). Only query parsing is here: it needs no
pypinyin (the syllables are listed below), so a query pays nothing for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_READINGS", "MAX_UNITS", "SYLLABLES", "describe_units", "pinyin_units", "reading_postings"]

# Every toneless reading pypinyin 0.55 lists (ASCII, ü as v): what the index can hold.
def _listed(text: str) -> frozenset[str]:
    return frozenset(text.split())


SYLLABLES = _listed("""a ai an ang ao ba bai ban bang bao bei ben beng bi bian biang biao bie bin bing bo bong bu ca cai can cang cao ce cei cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de dei den deng di dia dian diao die din ding diu dong dou du duan dui dun duo e ei en eng er fa fan fang fei fen feng fiao fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan guang gui gun guo ha hai han hang hao he hei hen heng hm hng hong hou hu hua huai huan huang hui hun huo ji jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan kang kao ke kei ken keng kong kou ku kua kuai kuan kuang kui kun kuo la lai lan lang lao le lei len leng li lia lian liang liao lie lin ling liu lo long lou lu luan lun luo lv lve m ma mai man mang mao me mei men meng mi mian miao mie min ming miu mo mou mu n na nai nan nang nao ne nei nen neng ng ni nia nian niang niao nie nin ning niu nong nou nu nuan nun nuo nv nve o ou pa pai pan pang pao pei pen peng pi pian piao pie pin ping po pou pu qi qia qian qiang qiao qie qin qing qiong qiu qu quan que qun ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo sa sai san sang sao se sen seng sha shai shan shang shao she shei shen sheng shi shou shu shua shuai shuan shuang shui shun shuo si song sou su suan sui sun suo ta tai tan tang tao te tei teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei wen weng wo wong wu xi xia xian xiang xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi yin ying yo yong you yu yuan yue yun za zai zan zang zao ze zei zen zeng zha zhai zhan zhang zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun zhuo zi zong zou zu zuan zui zun zuo""")
INITIALS = _listed("b p m f d t n l g k h j q x zh ch sh r z c s y w")
_ALIASES = {"lue": "lve", "nue": "nve"}  # ü after l and n, written u
MAX_UNITS = 20  # characters a pinyin keyword spans at most
_PREFIXES = frozenset(s[:i] for s in SYLLABLES for i in range(1, len(s) + 1))
_TONE_DIGIT = re.compile(r"(?<=[a-zv])[1-5](?![0-9])")
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")


def _toneless(text: str) -> str:
    """Tone marks and digits dropped; ü (and u:) written v."""
    text = text.replace("u:", "v")
    out = []
    for char in unicodedata.normalize("NFD", text):
        if char == "\u0308" and out and out[-1] == "u":
            out[-1] = "v"
        elif not unicodedata.combining(char):
            out.append(char)
    return _TONE_DIGIT.sub("", "".join(out))


MAX_READINGS = 4  # ways of cutting one keyword into syllables that are searched (changan: chang an, chan gan)


def _pieces(run: str, i: int, last: bool) -> Iterable[tuple[int, float, tuple[str, ...]]]:
    """(end, cost, unit) of each syllable, initial or (at the end) prefix the run can start with at ``i``."""
    n = len(run)
    for j in range(min(n, i + 6), i, -1):
        piece = _ALIASES.get(run[i:j], run[i:j])
        if last and j == n and piece in _PREFIXES:  # typed last: any syllable it begins
            yield j, 1.0 if piece in SYLLABLES else 1.2, tuple(sorted(s for s in SYLLABLES if s.startswith(piece)))
        elif piece in SYLLABLES:
            yield j, 1.0, (piece,)
        elif piece in INITIALS:
            yield j, 1.5, tuple(sorted(s for s in SYLLABLES if s.startswith(piece)))


def _segment(run: str, last: bool) -> list[list[tuple[str, ...]]]:
    """The cheapest ways to read a run of letters: fewest syllables, an initial (or at the end
    a prefix) only where no syllable fits; at most :data:`MAX_READINGS`."""
    n = len(run)
    # From the end: the cheapest cost from i on, and the ways that reach it.
    best: list[tuple[float, list[list[tuple[str, ...]]]]] = [(float("inf"), [])] * n + [(0.0, [[]])]
    for i in range(n - 1, -1, -1):
        cost, ways = float("inf"), []
        for j, step, unit in _pieces(run, i, last):
            rest, tails = best[j]
            if not tails:
                continue
            total = round(step + rest, 6)
            if total < cost:
                cost, ways = total, []
            if total == cost:
                ways.extend([unit, *tail] for tail in tails[:MAX_READINGS])
        best[i] = (cost, ways[:MAX_READINGS])
    return best[0][1]


def pinyin_units(text: str) -> list[tuple[tuple[str, ...], ...]]:
    """What a (normalized) keyword matches read as pinyin: each way of reading it (at most
    :data:`MAX_READINGS`), per character the terms any of which it must hold (a Chinese
    character: itself; a syllable: the readings it stands for); none when the keyword holds
    no pinyin or does not read as pinyin."""
    text = _toneless(text)
    if not re.search("[a-z]", text) or len(text) > 6 * MAX_UNITS:
        return []
    tokens = re.findall(r"[a-z]+|[ ']+|.", text)
    letters = [i for i, token in enumerate(tokens) if token[0].isalpha() and token.isascii()]
    readings: list[list[tuple[str, ...]]] = [[]]
    for index, token in enumerate(tokens):
        if token[0] in " '":
            continue
        if _CJK.match(token):
            readings = [[*reading, (token,)] for reading in readings]
        elif token.isascii() and token.isalpha():
            ways = _segment(token, last=index == letters[-1] and index == len(tokens) - 1)
            if not ways:
                return []
            readings = [[*reading, *way] for reading in readings for way in ways][:MAX_READINGS]
        else:
            return []
    return [tuple(reading) for reading in readings if 0 < len(reading) <= MAX_UNITS]


def describe_units(units: Iterable[tuple[str, ...]]) -> str:
    """The units as ``analyze --query`` shows them: zhu f* 珠."""
    shown = []
    for unit in units:
        if len(unit) == 1:
            shown.append(unit[0])
        else:
            common = unit[0]
            for term in unit[1:]:
                while not term.startswith(common):
                    common = common[:-1]
            shown.append(common + "*")
    return " ".join(shown)


def reading_postings(stream: str, cut: Any) -> dict[str, list[int]]:
    """Term -> positions in ``stream`` (the paragraph's grams): each Chinese character and its readings.

    ``cut(text)`` gives the segmenter's default cut, (word, start, end).
    """
    from pypinyin import Style, pinyin

    positions: dict[str, list[int]] = defaultdict(list)
    for word, start, _end in cut(stream):
        if not _CJK.search(word):
            continue
        if all(_CJK.match(char) for char in word):
            readings = pinyin(word, style=Style.NORMAL, heteronym=True, errors="ignore")
        else:
            readings = []
        if len(readings) != len(word):  # mixed with other characters: each Chinese one on its own
            # (a character pypinyin has no reading for gives none: it stays findable as itself)
            readings = [(pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore") or [[]])[0]
                        if _CJK.match(char) else [] for char in word]
        for offset, (char, listed) in enumerate(zip(word, readings)):
            if not _CJK.match(char):
                continue
            position = start + offset
            positions[char].append(position)
            for reading in dict.fromkeys(listed):
                if reading and reading.isascii():
                    positions[reading].append(position)
    return positions
