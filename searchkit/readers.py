"""Readers: turn files and streams into :class:`~searchkit.documents.Article` objects.

Formats (``FORMATS``): ``txt`` and ``md`` (one article per file), ``jsonl``
(one article per line, streamed) and ``newspaper`` (a plain-text newspaper
page holding several articles). ``auto`` picks by extension: ``.jsonl`` ->
jsonl, ``.md``/``.markdown`` -> md, anything else is text, read as a
newspaper page when :func:`looks_like_newspaper` says so, else as txt (for
stdin and unknown extensions, input starting with ``{`` is read as jsonl).

Encodings. BOMs win (UTF-8, UTF-16 LE/BE); BOM-less UTF-16 is recognised
only when its NUL bytes clearly sit on one side (ASCII-heavy text). Then
strict UTF-8. Otherwise GB18030 and Big5 (then cp950) are both tried
strictly, and the decoding with more common Chinese characters (simplified
or traditional) and fewer private-use/kana characters wins; charset-normalizer
only breaks ties, as its own guess is unreliable on short Chinese text.
Newlines are normalised to ``\\n``.

Plain text (txt/md). The title is the first non-empty line (if at most 100
characters; a longer first line stays a paragraph and the title falls back
to the file stem); for md it is the first ``# heading`` (level 1), else the
stem. Paragraphs are split at blank lines; inside one, lines are joined
without a space between two CJK characters (or CJK punctuation) and with
one space otherwise. In md, other headings become paragraphs of their own,
markers stripped.

JSONL. One JSON object a line: ``title`` (str), ``paragraphs`` (list of str,
kept exactly) or ``text`` (str, split at blank lines like txt; used only
when ``paragraphs`` is absent), optional ``id`` (str or int), ``source``,
``date``, ``author`` (str or null). Blank lines are skipped. A bad record
raises from :meth:`Source.articles` when reached, so earlier records are
already delivered. ``Article.source`` is the record's ``source`` if given,
else the file name.

Newspaper pages. The reader assumes a page laid out as lines (blank lines
optional) and applies these heuristics:

- A *byline* is a whole line such as ``本报记者 X``, ``本报通讯员 X`` (or
  several: ``本报记者 汪纯 本报通讯员 贺烈烈``) or a dateline
  ``本报X电（记者 X）...`` / ``新华社X电（记者 X）...``. Every byline starts
  an article; the names become ``author`` (space separated). The byline is
  not a paragraph, but text after a dateline's closing ``）`` is the first
  paragraph.
- A *headline line* is short (<= 30 characters) and has no sentence
  punctuation. Up to 4 of them directly above a byline form the article's
  headline (commas allowed there); two or more in a row followed by text
  also start an article (one without author). The last headline line that
  does not start with a dash is the title; lines above it (kickers) and
  ``——`` lines (subtitles, dashes stripped) make ``subtitle``, joined with
  a space.
- A single headline-like line inside an article, followed by body text, is a
  subhead and stays a paragraph of that article, unless it heads a *photo
  item*: it starts the page or follows a finished paragraph (a sentence end
  or a ``... 摄`` line), the next line opens a report (``_REPORT_OPENING``:
  ``本报讯``, a dateline such as ``本报日喀则12月10日电 ``, ``近日，``,
  ``日前，`` ...), text paragraphs follow (no other subhead), and it ends
  with a caption and its photographer line (no report text after them)
  right before the next headline, the end of the page or the standalone
  photo blocks ending the stretch. The item is an article of its own,
  titled by that line, its author the photographer. A standalone photo
  block after further report text closes no item.
- A paragraph that does not end a sentence (``。！？；…：`` possibly followed
  by a closing quote or bracket) and is long (> 30 characters) or contains
  inner punctuation was broken by the layout: it is joined with the next
  body paragraph (no space between CJK characters), repeatedly.
- A *caption* starts with ``图为`` (or ``图：``); the photographer line
  ending in ``摄`` that follows is joined to it with a space, and the caption
  is a paragraph of its own.
- A photo block with lead text (lead line(s), then ``图为...``, then
  ``... 摄`` without blank lines) at the end of an article, before the next
  headline or the end of the page, becomes an article of its own: its title
  is the lead's first sentence (leading date phrase such as ``11月5日，``
  dropped, at most 36 characters), its author the photographer.
- Text before the first headline (a continuation from another page) becomes
  an article titled the same way. Stray fragments inside an article (page
  leftovers) stay paragraphs of that article.
- Article ids are ``{source}#{n}`` (n counts articles on the page from 1),
  ``lines`` holds each paragraph's 1-based start line.

Ids. txt/md: ``{source}#1``; jsonl records without ``id``:
``{source}:{lineno}``; text read from stdin: ``stdin:{sha1(text)[:12]}#{n}``;
stdin jsonl records without ``id``: ``stdin:{sha1(line)[:12]}``.

Errors (exact texts; ``NAME`` is the absolute POSIX path or ``<stdin>``):

- ``ReaderError("no such file or directory: PATH")`` (PATH as given)
- ``ReaderError("PATH: cannot list directory (REASON)")``
- ``UnreadableFileError("NAME: cannot read (REASON)")``
- ``UnreadableFileError("NAME: is a directory")``
- ``UnreadableFileError("NAME: file too large (limit M bytes)")``
- ``UnreadableFileError("NAME: binary file, not text")``
- ``UnreadableFileError("NAME: cannot decode (not UTF-8, UTF-16, GB18030 or Big5)")``
- ``UnreadableFileError("NAME: JSONL must be UTF-8, not UTF-16")``
- ``UnreadableFileError("NAME:LINENO: invalid UTF-8 at byte N")``
- ``UnreadableFileError("NAME:LINENO: invalid JSON: MSG at column N")``
- ``UnreadableFileError("NAME:LINENO: record is not a JSON object")``
- ``UnreadableFileError('NAME:LINENO: missing "title"')``
- ``UnreadableFileError('NAME:LINENO: "title" must be a string')``
- ``UnreadableFileError('NAME:LINENO: record has neither "paragraphs" nor "text"')``
- ``UnreadableFileError('NAME:LINENO: "paragraphs" must be a list of strings')``
- ``UnreadableFileError('NAME:LINENO: "text" must be a string')``
- ``UnreadableFileError('NAME:LINENO: "id" must be a non-empty string or an integer')``
- ``UnreadableFileError('NAME:LINENO: "FIELD" must be a string')`` (source, date, author)
- ``EmptySourceError("NAME: empty file, skipped")``

``ValueError`` (a programming error, not a ReaderError) for an unknown format.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import IO, BinaryIO, cast

from .documents import Article, parse_date
from .documents import join_pieces as _join_pieces
from .documents import line_blocks as _blocks
from .documents import normalize_newlines as _normalize_newlines
from .errors import EmptySourceError, ReaderError, RecordError, UnreadableFileError

__all__ = [
    "FORMATS",
    "Source",
    "decode_bytes",
    "iter_paths",
    "looks_like_newspaper",
    "open_source",
    "parse_newspaper",
    "read_lines",
    "read_stream",
]

FORMATS = ("auto", "txt", "md", "jsonl", "newspaper")

STDIN_NAME = "<stdin>"
# Text formats are decoded whole; this bounds memory for a single file.
MAX_TEXT_BYTES = 256 * 1024 * 1024
_CHUNK = 1 << 20
_FOLDER_SUFFIXES = frozenset({".txt", ".md", ".jsonl"})
_MD_SUFFIXES = frozenset({".md", ".markdown"})
_MAX_TITLE_LINE = 100
_DERIVED_TITLE_MAX = 36

_CANNOT_DECODE = "cannot decode (not UTF-8, UTF-16, GB18030 or Big5)"

# ~1000 most frequent hanzi (character frequencies summed over jieba's
# dictionary) plus their traditional forms (OpenCC s2t); used only to tell
# a right GB18030/Big5 decoding from a wrong one.
_COMMON_HANZI = (
    "一是人了不在有大中国和为这上他个地年来我会以到时要出的生学说道民家子也成行下们于后就发自之对得主长可过天作分方用多你着部"
    "能市等业全里工公经本都而高政法面门动日进区事代那去心小同北定开产前其军还然起种所如现理机体表力好外与文当两实重新三么只山"
    "水关明从化平建又制南内西没此将员名手最东头者月间无安看见各城十相但已些正口通想度加第她合院物性战由位常点海意场武使次二向"
    "治因立数样身情入原问把路被并利石老教万知级量任江及应省资委务元美特期世湖回系比气汉总展电科金先声提品设或义王社很统处四首"
    "共马形己儿司太目基领队直计别女权话少流命至报米给打变果书清活几州华解议更称程今决张导术府才保交放管结师便走达族反再题色五"
    "京河接条规式县白它改风光运信受什组听布百济党指论强做取技黄神选记斯真却职号界件花类何眼兵传带空干农边据集联古广完质阳难增"
    "历史专官每住商即步认车台林必死游举线言皇土团收考求德叫近备研争非具李众连调感转笑革该持始英克士尔让拉思根格造较际亲单朝红"
    "型价校约器字段周亚深候则功属积快图火千准究往极育装许参半令吃观鱼精办像帝八复影告远群包整构料随划算象容示投势热值夫网望源"
    "息语股铁断派速怎需片爱律纪支早况病境证编越局推满且列觉服双未居除乐企引标确织初青志率项飞球节察龙响药站施均消客失轻存低甚"
    "般击曾防请离落显罗营足素视护副食创余照兴占巴虽洲村费易试星木黑左宝置跟央识维采六底宫房音环案批切斗富乡另倒若按查故突责严"
    "桥模仅胜杀围席态破承招杨负层须父供续状域似依银范修找九致密终血旅钱赛独细效玉冲获习医演毛尽脸弹楼艺航陆右协七攻镇检写苏宗"
    "章注阿抗弟坐验封紧劳户优财养适陈喜卫排射哥油刻留急降念云微伤例景拿绝阶座刘刚害印亿沙母酒助闻超审待压升送监策略限竟香配藏"
    "敌呢差仍兰温园树征善波哪词岛止预怕继皮执味份角草男普答益谁船惊核街夏宣掌田久著画辑奇尼剑吧谈背免孩礼材愿洋春架筑括晚乱乎"
    "讲尚良友临激刀夜室既敢邦挥昌板胡欧福港叶简苦担句岁荆贵娘守辖威宜衣帮块堂额错剧充欢够孙班呼阵销坚练脚退读测吴希宁换版异某"
    "顾曲楚典朱毒菜判救宋茶洪含顺啊鲜败货矿端兄归冷忙买险康评肉吗厂永哈沉散遗停笔假输牛洞松渐顶训录否述毕督控丰献姑忽爷互亮纳"
    "襄登咱钟伯臣雄季脑介鄂召饭暗扩祖齐短烈赶牌恩诉移诗础露届蒙静喝盘卖植授伊湾博痛减穿逐秘庭陵固禁票灵杂姓泽吸侧庆妈遇追甲馆"
    "补唐炮沿殿刺怪彩俄旧警索岸轮妇载靠附毫怀软骨探雷旁罪枪牙迎序慢盛雨墙恶谷顿危稳熟國爲這個來會時學說們於後發對長過業裏經門"
    "動進區開產軍還種現機體與當兩實麼關從內沒將員東頭間無見戰點場數樣問並萬級應資務氣漢總電聲設義統處馬兒領隊計別權話報給變書"
    "幾華議稱決張導術結師達題條規縣風運組聽濟黨論強黃選記卻職號類傳帶幹農邊據聯廣質陽難歷專認車臺遊舉線團備爭衆連調轉該爾讓較"
    "際親單紅價約亞則屬積圖準極裝許參喫觀魚辦復遠羣構隨勢熱網語鐵斷愛紀況證編滿覺雙樂標確織項飛節龍響藥輕擊請離顯羅營視護創餘"
    "興佔雖費試寶識維採宮環鬥鄉責嚴橋僅勝殺圍態楊負層須續狀銀範緻終錢賽獨細衝獲習醫盡臉彈樓藝陸協鎮檢寫蘇驗緊勞戶優財養適陳衛"
    "雲傷絕階劉剛億聞審壓監敵蘭溫園樹徵詞島預繼執誰驚畫輯劍談禮願築亂講臨揮歐葉簡擔歲荊貴轄幫塊額錯劇歡夠孫陣銷堅練腳讀測吳寧"
    "換異顧順鮮敗貨礦歸買險評嗎廠遺筆輸漸頂訓錄畢豐獻爺納鍾腦飯擴齊趕訴詩礎屆靜盤賣灣減祕靈雜澤側慶媽館補舊輪婦載懷軟槍牆惡頓"
    "穩"
)


# --------------------------------------------------------------------------
# Source


def _no_articles() -> Iterator[Article]:
    return iter(())


@dataclass
class Source:
    """One readable input: its identity, how it was decoded, and its articles."""

    name: str
    content_hash: str
    encoding: str
    format: str
    _produce: Callable[[Callable[[RecordError], None] | None], Iterator[Article]] = field(
        default=lambda bad: _no_articles(), repr=False, compare=False
    )

    def articles(self, bad: Callable[[RecordError], None] | None = None) -> Iterator[Article]:
        """Yield the articles lazily.

        A bad JSONL record raises :class:`RecordError` when reached; with
        ``bad``, it is handed to ``bad`` instead and the records after it are
        read on.
        """
        return self._produce(bad)


# --------------------------------------------------------------------------
# Paths


def iter_paths(
    paths: Sequence[str | Path],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    missing: list[str] | None = None,
) -> Iterator[Path]:
    """Yield the files to read: files as given, folders walked recursively.

    Folder walks keep ``*.txt``, ``*.md`` and ``*.jsonl`` (any case), skip
    names starting with ``.``, and visit entries sorted by name (files and
    folders interleaved). ``include``/``exclude`` are case-sensitive fnmatch
    globs tried on the path relative to the folder given (POSIX form) and on
    the bare name; for a file given directly, on the path as given and its
    name. Folders matching ``exclude`` are not entered. Every path is checked
    to exist before anything is yielded: a missing one raises
    :class:`ReaderError`, or with ``missing`` is added to it and left out.
    Each file is yielded once.
    """
    given = []
    for original in paths:
        if os.path.exists(original):
            given.append(original)
        elif missing is None:
            raise ReaderError(f"no such file or directory: {os.fspath(original)}")
        else:
            missing.append(os.fspath(original))
    seen: set[str] = set()
    for original in given:
        path = Path(original)
        if path.is_dir():
            visited: set[tuple[int, int]] = set()
            for found in _walk(path, "", include, exclude, visited):
                key = os.path.realpath(found)
                if key not in seen:
                    seen.add(key)
                    yield found
        elif _wanted(path.as_posix(), path.name, include, exclude):
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                yield path


def _matches(rel: str, name: str, globs: Sequence[str]) -> bool:
    return any(fnmatchcase(rel, g) or fnmatchcase(name, g) for g in globs)


def _wanted(rel: str, name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not _matches(rel, name, include):
        return False
    return not _matches(rel, name, exclude)


def _walk(
    folder: Path,
    prefix: str,
    include: Sequence[str],
    exclude: Sequence[str],
    visited: set[tuple[int, int]],
) -> Iterator[Path]:
    try:
        info = folder.stat()
        # Symlinked folders are followed, but a loop is walked only once.
        if (info.st_dev, info.st_ino) in visited:
            return
        visited.add((info.st_dev, info.st_ino))
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        raise ReaderError(f"{folder}: cannot list directory ({exc.strerror or exc})") from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        rel = prefix + entry.name
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError:
            continue
        if is_dir:
            if not _matches(rel, entry.name, exclude):
                yield from _walk(folder / entry.name, rel + "/", include, exclude, visited)
        elif is_file and os.path.splitext(entry.name)[1].lower() in _FOLDER_SUFFIXES:
            if _wanted(rel, entry.name, include, exclude):
                yield folder / entry.name


# --------------------------------------------------------------------------
# Decoding


# Control bytes other than \t \n \v \f \r and ESC.
_CONTROL_BYTES = bytes([*range(0, 9), 14, *range(15, 27), *range(28, 32), 127])
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def _binary_bytes(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    return controls * 10 > len(data)


def _binary_text(text: str) -> bool:
    if "\x00" in text:
        return True
    return len(_CONTROL_CHARS.findall(text)) * 10 > len(text)


def _bomless_utf16(data: bytes) -> str | None:
    """Name the UTF-16 byte order if the NULs of ASCII-heavy text show it."""
    if len(data) < 4 or len(data) % 2:
        return None
    half = len(data) // 2
    even_nuls = data[0::2].count(0)
    odd_nuls = data[1::2].count(0)
    if odd_nuls * 10 >= half * 3 and even_nuls * 50 <= half:
        return "utf-16-le"
    if even_nuls * 10 >= half * 3 and odd_nuls * 50 <= half:
        return "utf-16-be"
    return None


@cache
def _common_hanzi() -> frozenset[str]:
    return frozenset(_COMMON_HANZI)


_ODD_CHARS = re.compile("[\ue000-\uf8ff\u3040-\u30ff\uff66-\uff9f]")


def _cjk_score(text: str) -> int:
    common = _common_hanzi()
    hits = sum(1 for ch in text if ch in common)
    # Wrong decodings of Big5 as GB18030 land in private-use areas and kana.
    return hits - 2 * len(_ODD_CHARS.findall(text))


def _normalizer_guess(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional helper only
        return None
    best = from_bytes(data[:65536]).best()
    if best is None:
        return None
    guess = best.encoding.lower().replace("-", "_")
    if guess in ("gb18030", "gbk", "gb2312", "hz"):
        return "gb18030"
    if guess in ("big5", "cp950", "big5hkscs"):
        return "big5"
    return None


def decode_bytes(data: bytes, name: str) -> tuple[str, str]:
    """Decode a file's bytes; return ``(text, encoding)`` with ``\\n`` newlines.

    Raises :class:`UnreadableFileError` for binary or undecodable data.
    """
    bom_encoding = None
    if data.startswith(codecs.BOM_UTF8):
        bom_encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        bom_encoding = "utf-16"
    else:
        bom_encoding = _bomless_utf16(data)
    if bom_encoding is not None:
        try:
            text = data.decode(bom_encoding)
        except UnicodeDecodeError:
            raise UnreadableFileError(f"{name}: {_CANNOT_DECODE}") from None
        if _binary_text(text):
            raise UnreadableFileError(f"{name}: binary file, not text")
        return _normalize_newlines(text), bom_encoding
    if _binary_bytes(data):
        raise UnreadableFileError(f"{name}: binary file, not text")
    try:
        return _normalize_newlines(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates: list[tuple[int, str, str]] = []
    for encoding in ("gb18030", "big5", "cp950"):
        if encoding == "cp950" and any(c[1] == "big5" for c in candidates):
            continue  # cp950 only rescues Big5 files with Microsoft extensions
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        candidates.append((_cjk_score(text), encoding, text))
    if not candidates:
        raise UnreadableFileError(f"{name}: {_CANNOT_DECODE}")
    best = max(c[0] for c in candidates)
    tied = [c for c in candidates if c[0] == best]
    chosen = tied[0]
    if len(tied) > 1:
        guess = _normalizer_guess(data)
        for candidate in tied:
            if candidate[1] == guess:
                chosen = candidate
    if _binary_text(chosen[2]):
        raise UnreadableFileError(f"{name}: binary file, not text")
    return _normalize_newlines(chosen[2]), chosen[1]


# --------------------------------------------------------------------------
# Joining lines and sentences

_SENTENCE_END = frozenset("。！？；…：!?;:.")
_CLOSERS = "”’」』）)】》\"'"


def _ends_sentence(text: str) -> bool:
    stripped = text.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _SENTENCE_END


# --------------------------------------------------------------------------
# Plain text and Markdown

_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")


def _parse_plain(
    text: str, *, markdown: bool, source: str | None, article_id: str, stem: str
) -> Article:
    lines = text.split("\n")
    title: str | None = None
    title_line = 0
    if markdown:
        # Headings are blocks of their own, whatever surrounds them.
        split: list[str] = []
        numbered: list[int] = []  # real line number of each line in split
        fenced = False
        for number, line in enumerate(lines, 1):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            match = None if fenced else _MD_HEADING.match(line)
            if match:
                heading = (match.group(2) or "").strip()
                if title is None and len(match.group(1)) == 1 and heading:
                    title, title_line = heading, number
                split.extend(["", heading, ""])
                numbered.extend([number, number, number])
            else:
                split.append(line)
                numbered.append(number)
        blocks = [(numbered[start - 1], block) for start, block in _blocks(split)]
    else:
        blocks = _blocks(lines)
        if blocks and len(blocks[0][1][0]) <= _MAX_TITLE_LINE:
            title, title_line = blocks[0][1][0], blocks[0][0]
    paragraphs: list[str] = []
    starts: list[int] = []
    for start, block in blocks:
        if title is not None and start == title_line:
            block, start = block[1:], start + 1
            if not block:
                continue
        paragraphs.append(_join_pieces(block))
        starts.append(start)
    return Article(
        title=title if title is not None else stem,
        paragraphs=paragraphs,
        id=article_id,
        source=source,
        lines=starts,
    )


# --------------------------------------------------------------------------
# Newspaper pages

_BYLINE, _CREDIT, _CAPTION, _HEAD, _LOOSE, _BODY = range(6)

_ROLE = re.compile(r"(?:本报)?(?:特约|见习|实习)?(?:记者|通讯员|实习生)(.*)")
_NAME = re.compile(r"[\u4e00-\u9fff·・]{2,8}")
_PRESS = r"(?:本报|新华社|中新社|中新网|人民网|新华网|央视网|[\u4e00-\u9fff]{2,6}(?:日报|晚报))"
_DATELINE = re.compile(
    _PRESS + r"[\u4e00-\u9fff\d]{0,16}?(?:电|讯)\s*[（(]([^（）()]{1,40})[）)]\s*(.*)"
)
_CAPTION_START = re.compile(r"(?:图为|[上下左右]?图[：:])")
_DECORATION = "■□●○◆◇▲△★☆"
_HEAD_FORBIDDEN = frozenset("。！？；，、：,;:!?…")
_LOOSE_FORBIDDEN = frozenset("。！？；!?;…")
_HEAD_MAX = 30
_DASHES = ("——", "—", "－－", "--", "－")
_LEAD_TIME = re.compile(r"^[^，。！？]{0,8}(?:日|前|来|天|晚|晨|午|间)，")
# How a news report opens: ``本报讯``, a dateline set off by a space or a
# bracket (``本报日喀则12月10日电 ``, ``新华社拉萨12月10日电 ``; one naming
# its reporter in brackets is a byline anyway) or a time phrase (``近日，``).
_REPORT_OPENING = re.compile(
    r"[【\[]?(?:本报讯|" + _PRESS + r"[\u4e00-\u9fff\d]{0,16}?(?:电|讯)(?=[\s\u3000（(】\]]))"
    r"|(?:近日|日前|近期|连日来|昨日|昨天)，"
)


def _byline_names(tokens: Sequence[str]) -> list[str] | None:
    """Names from byline tokens, or None unless every token is a role or name."""
    names: list[str] = []
    saw_role = False
    for token in tokens:
        role = _ROLE.fullmatch(token)
        if role:
            saw_role = True
            token = role.group(1)
            if not token:
                continue
        if not _NAME.fullmatch(token):
            return None
        names.append(token)
    return names if saw_role and names else None


def _parse_byline(text: str) -> tuple[list[str], str] | None:
    """Return (names, text after the byline) if the line is a byline."""
    text = text.strip(_DECORATION + " ")
    dateline = _DATELINE.fullmatch(text)
    if dateline:
        names = _byline_names(re.split(r"[\s、，,]+", dateline.group(1).strip()))
        if names:
            return names, dateline.group(2).strip()
        return None
    if len(text) > 50 or not _ROLE.match(text):
        return None
    names = _byline_names(re.split(r"[\s、，,]+", text))
    return (names, "") if names else None


def _credit_names(text: str) -> list[str] | None:
    """Names from a photographer line ``本报记者 X 摄``, or None if it is not one."""
    text = text.strip("（）() " + _DECORATION)
    if len(text) > 40 or not text.endswith("摄") or any(c in text for c in "。！？，"):
        return None
    body = text[:-1].rstrip(" /／")
    glued = body == text[:-1]
    if not body or (glued and "记者" not in body and "通讯员" not in body):
        return None  # "...摄" without a space counts only with a role word
    names = [t for t in re.split(r"[\s、，,/／]+", body) if t]
    found: list[str] = []
    for token in names:
        role = _ROLE.fullmatch(token)
        token = role.group(1) if role else token
        if token and _NAME.fullmatch(token):
            found.append(token)
    return found


def _has_hanzi_or_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _classify(text: str) -> int:
    if _credit_names(text) is not None:
        return _CREDIT
    if _CAPTION_START.match(text):
        return _CAPTION
    if _parse_byline(text) is not None:
        return _BYLINE
    if len(text) <= _HEAD_MAX and _has_hanzi_or_letter(text):
        if not any(ch in _HEAD_FORBIDDEN for ch in text):
            return _HEAD
        if not any(ch in _LOOSE_FORBIDDEN for ch in text) and text[-1] not in "，、,：:":
            return _LOOSE
    return _BODY


@dataclass
class _Unit:
    line: int  # 1-based line in the file
    text: str
    gap: bool  # a blank line precedes it
    kind: int


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    gap = True
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped:
            gap = True
            continue
        units.append(_Unit(number, stripped, gap, _classify(stripped)))
        gap = False
    return units


def looks_like_newspaper(text: str) -> bool:
    """True if some byline line sits right below a short headline line."""
    previous_head = False
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            continue
        kind = _classify(stripped)
        if kind == _BYLINE and previous_head:
            return True
        previous_head = kind in (_HEAD, _LOOSE)
    return False


@dataclass
class _Header:
    start: int  # index of the first headline unit
    end: int  # index after the last header unit (headlines and bylines)
    heads: list[_Unit]
    names: list[str]
    lead: _Unit | None  # text after a dateline, as a body unit
    photo_item: bool = False  # a one-line headline of a report closed by a photo


def _find_headers(units: Sequence[_Unit]) -> list[_Header]:
    headers: list[_Header] = []
    count = len(units)
    index = 0
    while index < count:
        kind = units[index].kind
        if kind in (_HEAD, _LOOSE, _BYLINE):
            stop = index
            while stop < count and units[stop].kind in (_HEAD, _LOOSE) and stop - index < 4:
                stop += 1
            if stop < count and units[stop].kind == _BYLINE:
                headers.append(_byline_header(units, index, stop))
                index = headers[-1].end
                continue
            run = units[index:stop]
            if len(run) >= 2 and stop < count and all(u.kind == _HEAD for u in run):
                headers.append(_Header(index, stop, list(run), [], None))
                index = stop
                continue
        index += 1
    return headers


def _find_photo_items(units: Sequence[_Unit], headers: Sequence[_Header]) -> list[_Header]:
    """Headers for one-line headlines of report items closed by a photo.

    Such an item sits at the end of a stretch between two headers (or at the
    end of the page), or just above the photo blocks that end the stretch
    (those become articles of their own later), so stretches are searched
    from their end; several items in a row are found one after another.
    """
    found: list[_Header] = []
    # (first body unit, stop) per stretch; the text before the first header
    # is a stretch whose first unit may itself be an item's headline.
    stretches = [(0, headers[0].start if headers else len(units))]
    for number, header in enumerate(headers):
        stop = headers[number + 1].start if number + 1 < len(headers) else len(units)
        stretches.append((header.end, stop))
    for first, stop in stretches:
        items: list[_Header] = []
        ends = [stop, *_photo_block_starts(units, first, stop)]
        head = stop - 1
        while head >= first:
            if any(_is_photo_item(units, first, head, end) for end in ends if end > head):
                items.insert(0, _Header(head, head + 1, [units[head]], [], None, True))
                ends = [head, *_photo_block_starts(units, first, head)]
            head -= 1
        found.extend(items)
    return found


def _photo_block_starts(units: Sequence[_Unit], first: int, stop: int) -> list[int]:
    """Starts of the photo blocks ending ``units[first:stop]``, last block first."""
    starts: list[int] = []
    while stop > first:
        start = stop - 1
        while start > first and not units[start].gap:
            start -= 1
        if not _is_photo_news(units[start:stop]):
            break
        starts.append(start)
        stop = start
    return starts


def _is_photo_item(units: Sequence[_Unit], first: int, head: int, stop: int) -> bool:
    """Does ``units[head]`` head a report item running to ``stop``?

    The headline is one headline-like line that starts the page or follows
    a finished paragraph (a sentence end or a photographer line); the next
    line opens a report (``_REPORT_OPENING``); text paragraphs follow, then
    the item closes with a caption and its photographer line. A subhead
    inside an article fails: its text does not open like a report, or the
    article goes on after it without ending in a photo.
    """
    if units[head].kind not in (_HEAD, _LOOSE):
        return False
    if head > first:
        before = units[head - 1]
        if before.kind != _CREDIT and not _ends_sentence(before.text):
            return False
    elif head > 0:
        return False  # a line right below a header is not another article
    if stop - head < 4 or units[stop - 1].kind != _CREDIT:
        return False
    opening = units[head + 1]
    if opening.kind not in (_BODY, _LOOSE) or not _REPORT_OPENING.match(opening.text):
        return False
    # Report text up to the first caption; from there on captions, their
    # continuation lines and photographer lines only (no report text after
    # a finished photo). One pass, stopping at the first misfit.
    captioned = False
    for index in range(head + 2, stop):
        previous, unit = units[index - 1], units[index]
        if unit.kind == _CAPTION:
            captioned = True
        elif unit.kind == _CREDIT:
            if not captioned:
                return False
        elif unit.kind not in (_BODY, _LOOSE) or previous.kind == _CREDIT:
            return False
    if not captioned:
        return False
    # A photo block of its own (lead, caption, photographer; see
    # _is_photo_news) after further report text closes no item: it is cut
    # off as its own article and the headline stays a subhead.
    block = max((i for i in range(head + 1, stop) if units[i].gap), default=head + 1)
    return block == head + 1 or not _is_photo_news(units[block:stop])


def _byline_header(units: Sequence[_Unit], start: int, byline: int) -> _Header:
    names: list[str] = []
    lead: _Unit | None = None
    end = byline
    # Consecutive bylines (记者 on one line, 通讯员 on the next) share a header.
    while end < len(units) and units[end].kind == _BYLINE and lead is None:
        parsed = _parse_byline(units[end].text)
        if parsed is None:  # unreachable: kind says it parses
            break
        found, rest = parsed
        names.extend(n for n in found if n not in names)
        if rest:
            lead = _Unit(units[end].line, rest, True, _BODY)
        end += 1
    return _Header(start, end, list(units[start:byline]), names, lead)


def _title_parts(heads: Sequence[str]) -> tuple[str, str | None]:
    subtitles: list[str] = []
    mains: list[str] = []
    for head in heads:
        if head.startswith(_DASHES):
            subtitles.append(head.lstrip("—－- "))
        else:
            mains.append(head)
    if not mains:
        return subtitles[0], " ".join(subtitles[1:]) or None
    return mains[-1], " ".join(mains[:-1] + subtitles) or None


def _derive_title(text: str) -> str:
    """A title from running text: its first sentence, date phrase dropped."""
    text = _CAPTION_START.sub("", text, count=1) if _CAPTION_START.match(text) else text
    sentence = re.split(r"[。！？!?；;]", text, maxsplit=1)[0].strip()
    shorter = _LEAD_TIME.sub("", sentence, count=1)
    if len(shorter) >= 6:
        sentence = shorter
    sentence = sentence.strip(" ，,、：:" + _CLOSERS)
    if len(sentence) > _DERIVED_TITLE_MAX:
        sentence = sentence[: _DERIVED_TITLE_MAX - 1] + "…"
    return sentence or text[:_DERIVED_TITLE_MAX]


def _is_photo_news(block: Sequence[_Unit]) -> bool:
    """Lead text, then a 图为 caption, then a photographer line, no blank lines."""
    if len(block) < 3 or block[-1].kind != _CREDIT:
        return False
    captions = [i for i, u in enumerate(block) if u.kind == _CAPTION]
    return bool(captions) and captions[0] > 0 and all(
        u.kind in (_BODY, _LOOSE, _HEAD) for u in block[: captions[0]]
    )


def _split_photo_news(
    body: list[_Unit], keep_one: bool
) -> tuple[list[_Unit], list[list[_Unit]]]:
    """Cut standalone photo blocks off the end of an article's units."""
    photos: list[list[_Unit]] = []
    while body:
        start = len(body) - 1
        while start > 0 and not body[start].gap:
            start -= 1
        block = body[start:]
        rest = body[:start]
        if not _is_photo_news(block):
            break
        if keep_one and not any(u.kind != _CREDIT for u in rest):
            break  # the block is the article's only content
        photos.insert(0, block)
        body = rest
    return body, photos


def _build_paragraphs(body: Sequence[_Unit]) -> tuple[list[str], list[int]]:
    paragraphs: list[str] = []
    starts: list[int] = []
    kinds: list[str] = []  # "body", "head" or "caption" per paragraph
    count = len(body)
    index = 0
    while index < count:
        unit = body[index]
        if unit.kind == _CAPTION:
            text = unit.text
            if index + 1 < count and body[index + 1].kind == _CREDIT:
                index += 1
                text = f"{text} {body[index].text}"
            paragraphs.append(text)
            starts.append(unit.line)
            kinds.append("caption")
        elif (
            unit.kind == _CREDIT
            and kinds
            and kinds[-1] == "caption"
            and not paragraphs[-1].endswith("摄")
        ):
            # A photographer line set apart from its caption by a blank line.
            paragraphs[-1] = f"{paragraphs[-1]} {unit.text}"
        elif unit.kind == _HEAD:
            paragraphs.append(unit.text)
            starts.append(unit.line)
            kinds.append("head")
        else:
            text = unit.text
            # Layout broke the paragraph: re-join until a sentence ends.
            while index + 1 < count and _is_broken(text) and _continues(body, index + 1):
                index += 1
                text = _join_pieces([text, body[index].text])
            paragraphs.append(text)
            starts.append(unit.line)
            kinds.append("caption" if unit.kind == _CREDIT else "body")
        index += 1
    return paragraphs, starts


def _is_broken(text: str) -> bool:
    if _ends_sentence(text):
        return False
    return len(text) > _HEAD_MAX or any(ch in _HEAD_FORBIDDEN for ch in text)


def _continues(body: Sequence[_Unit], index: int) -> bool:
    kind = body[index].kind
    if kind in (_BODY, _LOOSE):
        return True
    # A short unpunctuated fragment is a continuation only when nothing
    # follows it that would make it a subhead.
    return kind == _HEAD and (index + 1 == len(body) or body[index + 1].kind in (_CAPTION, _CREDIT))


def _newspaper_articles(text: str, source: str | None, id_prefix: str) -> list[Article]:
    units = _units(text)
    headers = _find_headers(units)
    items = _find_photo_items(units, headers)
    if items:
        headers = sorted([*headers, *items], key=lambda header: header.start)
    # (header or None, body units) per article, in page order.
    pieces: list[tuple[_Header | None, list[_Unit]]] = []
    first = headers[0].start if headers else len(units)
    if first:
        pieces.append((None, list(units[:first])))
    for number, header in enumerate(headers):
        stop = headers[number + 1].start if number + 1 < len(headers) else len(units)
        body = list(units[header.end : stop])
        if header.lead is not None:
            body.insert(0, header.lead)
        pieces.append((header, body))
    articles: list[Article] = []
    for header, body in pieces:
        body, photos = _split_photo_news(body, keep_one=header is not None)
        if header is not None or body:
            articles.append(_make_article(header, body, source))
        for photo in photos:
            articles.append(_make_article(None, photo, source))
    for number, article in enumerate(articles, 1):
        article.id = f"{id_prefix}#{number}"
    return articles


def _make_article(header: _Header | None, body: Sequence[_Unit], source: str | None) -> Article:
    paragraphs, starts = _build_paragraphs(body)
    author: str | None = None
    subtitle: str | None = None
    if header is not None and header.heads:
        title, subtitle = _title_parts([u.text for u in header.heads])
    else:
        lead = next((p for p in paragraphs), "")
        title = _derive_title(lead) if lead else "untitled"
    if header is not None and not header.photo_item:
        author = " ".join(header.names) or None
    else:  # photo blocks and photo items: the photographer
        credits = [u for u in body if u.kind == _CREDIT]
        names = _credit_names(credits[-1].text) if credits else None
        author = " ".join(names) if names else None
    return Article(
        title=title,
        paragraphs=paragraphs,
        subtitle=subtitle,
        source=source,
        author=author,
        lines=starts,
    )


def parse_newspaper(text: str, source: str | None = None) -> list[Article]:
    """Split a newspaper page into articles (see the module docstring).

    Ids are ``{source}#{n}``; without a source, ``stdin:{sha1(text)[:12]}#{n}``.
    """
    text = _normalize_newlines(text)
    prefix = source if source is not None else _stdin_prefix(text)
    return _newspaper_articles(text, source, prefix)


def _stdin_prefix(text: str) -> str:
    return "stdin:" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


# --------------------------------------------------------------------------
# JSONL


def _jsonl_articles(
    opener: Callable[[], AbstractContextManager[IO[bytes]]],
    name: str,
    stdin: bool,
    bad: Callable[[RecordError], None] | None,
) -> Iterator[Article]:
    with opener() as stream:
        for lineno, raw in enumerate(stream, 1):
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            if not raw.strip():
                continue
            try:
                article = _jsonl_record(raw, lineno, name, stdin)
            except RecordError as error:
                if bad is None:
                    raise
                bad(error)
                continue
            yield article


def _jsonl_record(raw: bytes, lineno: int, name: str, stdin: bool) -> Article:
    where = f"{name}:{lineno}"
    try:
        line = raw.decode("utf-8").rstrip("\r\n")  # so columns count within the line
    except UnicodeDecodeError as exc:
        raise RecordError(f"{where}: invalid UTF-8 at byte {exc.start + 1}") from None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{where}: invalid JSON: {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # e.g. huge integers, deep nesting
        reason = str(exc).split("\n", 1)[0] or type(exc).__name__
        raise RecordError(f"{where}: invalid JSON: {reason}") from None
    default_id = "stdin:" + hashlib.sha1(raw.strip()).hexdigest()[:12] if stdin else where
    article = Article.from_dict(record, where=where, default_id=default_id)
    article.lines = [lineno] * len(article.paragraphs)
    return article


# --------------------------------------------------------------------------
# Opening files and streams


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _sniff_jsonl(head: bytes) -> bool:
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    return head.lstrip().startswith(b"{")


def _text_source(
    data: bytes, name: str, fmt: str, suffix: str, content_hash: str
) -> Source:
    """Decode a text-format input and bind its parser to a Source."""
    if not data.strip():
        raise EmptySourceError(f"{name}: empty file, skipped")
    text, encoding = decode_bytes(data, name)
    if text.startswith("\ufeff"):  # a BOM left by a BOM-less UTF-16 guess
        text = text[1:]
    if not text.strip():
        raise EmptySourceError(f"{name}: empty file, skipped")
    if fmt == "auto":
        if suffix in _MD_SUFFIXES:
            fmt = "md"
        elif looks_like_newspaper(text):
            fmt = "newspaper"
        elif suffix not in (".txt",) and _MD_HEADING.match(text.lstrip("\n").split("\n", 1)[0]):
            fmt = "md"  # stdin or an unknown extension starting with "# "
        else:
            fmt = "txt"
    stdin = name == STDIN_NAME
    prefix = _stdin_prefix(text) if stdin else name
    stem = "stdin" if stdin else Path(name).stem
    resolved = fmt

    def produce(_bad: Callable[[RecordError], None] | None) -> Iterator[Article]:
        if resolved == "newspaper":
            date = page_date(text, "" if stdin else Path(name).name)
            for article in _newspaper_articles(text, None, prefix):  # the file is the article's path, not its source
                if date and not article.date:
                    article.date = date
                yield article
        else:
            yield _parse_plain(
                text,
                markdown=resolved == "md",
                source=None,
                article_id=f"{prefix}#1",
                stem=stem,
            )

    return Source(name, content_hash, encoding, resolved, produce)


_NAME_DATE = re.compile(r"(?<!\d)((?:1[89]|20)\d\d)[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")
_TEXT_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_DATE_LINES = 5  # a page's date line (报头: 2023年12月10日 星期日) sits above its first article


def page_date(text: str, file_name: str = "") -> str | None:
    """The date a newspaper page carries, as ISO: a date line among its first lines
    (``2023年12月10日 星期日``), else one in its file name (``2023-12-10_p3.txt``,
    ``20231210.txt``); None when neither holds one (none is made up)."""
    head = [line for line in text.split("\n") if line.strip()][:_DATE_LINES]
    for line in head:
        found = _TEXT_DATE.search(line)
        if found and len(line.strip()) <= 30:  # a date line, not a sentence that mentions a date
            return parse_date("-".join(found.groups()))
    found = _NAME_DATE.search(file_name)
    return parse_date("-".join(found.groups())) if found else None


def _jsonl_encoding(head: bytes, name: str) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableFileError(f"{name}: JSONL must be UTF-8, not UTF-16")
    if b"\x00" in head:
        raise UnreadableFileError(f"{name}: binary file, not text")
    return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"


def _too_large(name: str) -> str:
    return f"{name}: file too large (limit {MAX_TEXT_BYTES} bytes)"


def display_name(path: Path) -> str:
    """How a file is named in the index: its absolute path, in POSIX form."""
    return Path(os.path.abspath(path)).as_posix()


def open_source(path: Path, fmt: str = "auto") -> Source:
    """Open a file as a Source; decoding happens now, parsing lazily.

    Raises UnreadableFileError (unreadable, binary, undecodable) or
    EmptySourceError (nothing but whitespace).
    """
    _check_format(fmt)
    path = Path(path)
    name = display_name(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise UnreadableFileError(f"{name}: is a directory")
    try:
        with open(path, "rb") as handle:
            head = handle.read(_CHUNK)
            if fmt == "auto" and suffix == ".jsonl" or fmt == "jsonl":
                use_jsonl = True
            elif fmt == "auto" and suffix not in _MD_SUFFIXES and suffix != ".txt":
                use_jsonl = _sniff_jsonl(head)
            else:
                use_jsonl = False
            if use_jsonl:
                return _open_jsonl_file(path, name, handle, head)
            if os.fstat(handle.fileno()).st_size > MAX_TEXT_BYTES:
                raise UnreadableFileError(_too_large(name))
            data = head + handle.read() if len(head) == _CHUNK else head
    except OSError as exc:
        raise UnreadableFileError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_TEXT_BYTES:  # a pipe or device has no size up front
        raise UnreadableFileError(_too_large(name))
    digest = hashlib.sha256(data).hexdigest()
    return _text_source(data, name, fmt, suffix, digest)


def _open_jsonl_file(path: Path, name: str, handle: IO[bytes], head: bytes) -> Source:
    """Hash and check a JSONL file in chunks; articles re-open it to stream."""
    digest = hashlib.sha256()
    chunk = head
    has_text = False
    while chunk:
        digest.update(chunk)
        has_text = has_text or bool(chunk.strip())
        chunk = handle.read(_CHUNK)
    if not has_text or head.strip() == codecs.BOM_UTF8:
        raise EmptySourceError(f"{name}: empty file, skipped")
    encoding = _jsonl_encoding(head, name)

    def opener() -> IO[bytes]:
        try:
            return open(path, "rb")
        except OSError as exc:
            raise UnreadableFileError(f"{name}: cannot read ({exc.strerror or exc})") from None

    return Source(
        name,
        digest.hexdigest(),
        encoding,
        "jsonl",
        lambda bad: _jsonl_articles(opener, name, False, bad),
    )


def read_stream(stream: BinaryIO, fmt: str = "auto", name: str = STDIN_NAME) -> Source:
    """Read a binary stream (stdin) as a Source.

    JSONL is spooled to a temporary file (in memory up to 8 MB) so that
    articles can stream and be iterated more than once; text formats are
    read whole.
    """
    _check_format(fmt)
    try:
        head = stream.read(_CHUNK) or b""
        use_jsonl = fmt == "jsonl" or (fmt == "auto" and _sniff_jsonl(head))
        if not use_jsonl:
            parts = [head]
            total = len(head)
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_TEXT_BYTES:
                    raise UnreadableFileError(_too_large(name))
                parts.append(chunk)
            data = b"".join(parts)
            return _text_source(data, name, fmt, "", hashlib.sha256(data).hexdigest())
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        digest = hashlib.sha256()
        has_text = False
        chunk = head
        while chunk:
            digest.update(chunk)
            spool.write(chunk)
            has_text = has_text or bool(chunk.strip())
            chunk = stream.read(_CHUNK)
    except OSError as exc:
        raise UnreadableFileError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not has_text or head.strip() == codecs.BOM_UTF8:
        spool.close()
        raise EmptySourceError(f"{name}: empty file, skipped")
    encoding = _jsonl_encoding(head, name)
    stdin = name == STDIN_NAME

    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        spool.seek(0)
        yield cast("IO[bytes]", spool)

    return Source(
        name,
        digest.hexdigest(),
        encoding,
        "jsonl",
        lambda bad: _jsonl_articles(opener, name, stdin, bad),
    )


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """A list file's lines (UTF-8, GB18030 or Big5); :class:`ReaderError` naming it if it cannot be read."""
    name = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReaderError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    text, _encoding = decode_bytes(data, name)
    return text.split("\n")
