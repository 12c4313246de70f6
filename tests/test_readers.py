from __future__ import annotations

import codecs
import hashlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchkit import SearchIndex
from searchkit.errors import EmptySourceError, ReaderError, RecordError, UnreadableFileError
from searchkit.readers import (
    FORMATS,
    decode_bytes,
    iter_paths,
    looks_like_newspaper,
    open_source,
    parse_newspaper,
    read_stream,
)

SEED = Path(__file__).parent.parent / "seeds" / "000_235373325ccc2d0f.txt"

ESSAY = (
    "秋天的回忆\n"
    "\n"
    "那年秋天，我们在山里走了很久。树叶黄了，\n"
    "风也凉了。\n"
    "\n"
    "后来我常常想起那条小路。\n"
)


def posix(path: Path) -> str:
    return path.absolute().as_posix()


# --------------------------------------------------------------------------
# Newspaper page


@pytest.fixture(scope="module")
def seed_articles():
    return list(open_source(SEED).articles())


def test_seed_is_read_as_newspaper():
    source = open_source(SEED)
    assert source.format == "newspaper"
    assert source.encoding == "utf-8"
    assert source.name == SEED.resolve().as_posix()
    assert source.content_hash == hashlib.sha256(SEED.read_bytes()).hexdigest()


def test_seed_article_headers(seed_articles):
    got = [(a.title, a.subtitle, a.author, len(a.paragraphs)) for a in seed_articles]
    assert got == [
        ("让民族团结之花绚丽绽放", "桑珠孜区民族团结进步创建工作亮点频现", "扎西顿珠", 17),
        ("日喀则市开展“九项行动” 深化主题教育", "学思想 强党性 重实践 建新功", "杨子彦", 6),
        ("演绎乡音乡情 宣讲入脑入心", None, "汪纯 旦增嘎瓦", 2),
        ("培训乡镇医保专干和医保工作人员", "昂仁县医保局", "旦增嘎瓦", 3),
        ("对辖区重点场所开展消防安全大检查", "仲巴县公安局", "旦增嘎瓦", 3),
        ("日喀则市应急管理局在日喀则市第三高级中学开展安全宣传进校园活动", None, "旦增嘎瓦", 2),
        ("踔厉奋发担使命 倾情服务暖民心", "日喀则边境管理支队", "汪纯 贺烈烈", 10),
    ]


def test_seed_ids_sources_and_lines(seed_articles):
    name = SEED.resolve().as_posix()
    assert [a.id for a in seed_articles] == [f"{name}#{n}" for n in range(1, 8)]
    assert all(a.source is None for a in seed_articles)  # the file is the article's path; the page names no publication
    assert all(len(a.lines) == len(a.paragraphs) for a in seed_articles)
    assert seed_articles[0].lines[:3] == [9, 11, 13]
    assert seed_articles[6].lines == [110, 112, 114, 118, 120, 124, 128, 130, 132, 134]


def test_seed_first_article_keeps_leftover_and_subheads(seed_articles):
    first = seed_articles[0]
    # The stray fragment after the byline belongs elsewhere on the page; kept.
    assert first.paragraphs[0] == "10余次。"
    subheads = [
        "文化引领有力度 凝民族团结之心",
        "创建落实有高度 筑民族团结之根",
        "改善民生有温度 塑民族团结之魂",
        "家园共建有深度 绘民族团结之景",
    ]
    assert [p for p in first.paragraphs if p in subheads] == subheads
    assert "同时，桑珠孜区紧盯“四大工程”“六项行动”，多措并举，" in first.paragraphs[11]
    assert first.paragraphs[11].startswith("同时，桑珠孜区紧盯“四大工程”“六项行动”")
    assert first.lines[11] == 33


def test_seed_dateline_text_is_first_paragraph(seed_articles):
    second = seed_articles[1]
    assert second.paragraphs[0].startswith("自第二批主题教育启动以来，日喀则市牢牢把握")
    assert second.lines[0] == 51
    assert not any("本报" in p and "电（" in p for p in second.paragraphs)
    assert "大力发展绿色生态产业、清洁高效能产业，不断推动" in second.paragraphs[2]


def test_seed_broken_paragraphs_rejoined(seed_articles):
    border = seed_articles[6]
    assert any("打造快速通关“绿色通道”" in p for p in border.paragraphs)
    assert any("这个检查站是最有爱、最有温度的" in p for p in border.paragraphs)
    assert border.paragraphs[5].endswith("形成了“警爱民、民拥警，警民一家亲”的生动局面。")
    medical = seed_articles[3]
    assert medical.paragraphs[1].startswith(
        "此次培训邀请了创智公司信息技术人员，就城乡居民基本医疗保险政策、城镇职工基本医疗保险政策"
    )
    fire = seed_articles[4]
    assert "安全出口是否畅通、燃料存放是否规范" in fire.paragraphs[1]


def test_seed_captions_are_paragraphs(seed_articles):
    assert seed_articles[2].paragraphs[-1] == (
        "图为小品节目《新时代文明实践趣事》演出现场。 本报记者 汪纯 旦增嘎瓦 摄"
    )
    assert seed_articles[2].lines[-1] == 69
    photo = seed_articles[5]
    assert photo.paragraphs == [
        "11月5日，日喀则市应急管理局在日喀则市第三高级中学开展安全宣传进校园活动。",
        "图为工作人员向学生讲解应急知识并发放宣传册。 本报记者 旦增嘎瓦 摄",
    ]
    assert photo.lines == [100, 101]
    # No byline or photographer line is left as a paragraph of its own.
    for article in seed_articles:
        for paragraph in article.paragraphs:
            assert not paragraph.startswith("本报记者")


def test_seed_photo_item_is_its_own_article(seed_articles):
    # Line 65: a one-line headline right after the end of the article above,
    # over a 近日， report closed by a caption and its 摄 line, no byline.
    item = seed_articles[2]
    assert item.id == f"{SEED.resolve().as_posix()}#3"
    assert (item.title, item.subtitle, item.author) == ("演绎乡音乡情 宣讲入脑入心", None, "汪纯 旦增嘎瓦")
    assert item.paragraphs == [
        "近日，以“永远跟党走 建功新时代”为主题的日喀则市第二届“珠峰百姓名嘴”选拔大赛成果展示活动"
        "圆满举行。此次比赛设理论类、故事类、文艺类三个比赛类别，基层党员干部、各类先锋模范、基层"
        "宣讲员和广大群众积极参与其中，通过层层逐级比赛，77位参赛选手挺进决赛，他们通过讲故事、"
        "文艺表演等形式，以深入学习宣传贯彻党的二十大精神为主线，紧密结合自己身边发生的故事和家乡"
        "的发展变化，用生动的语言讲述了社会主义新西藏的发展进步和巨大变化，激励各族群众听党话、"
        "感党恩、跟党走。",
        "图为小品节目《新时代文明实践趣事》演出现场。 本报记者 汪纯 旦增嘎瓦 摄",
    ]
    assert item.lines == [67, 69]


def test_seed_article_above_the_photo_item_ends_at_its_last_paragraph(seed_articles):
    second = seed_articles[1]
    assert second.title == "日喀则市开展“九项行动” 深化主题教育"
    assert len(second.paragraphs) == 6
    assert second.paragraphs[-1].startswith("日喀则市大力践行“四敢”要求")
    assert second.paragraphs[-1].endswith("为大众创业、万众创新注入动能。")
    assert second.lines == [51, 53, 55, 59, 61, 63]
    assert not any("珠峰百姓名嘴" in p or "演绎乡音乡情" in p for p in second.paragraphs)


def test_seed_subheads_stay_in_their_article(seed_articles):
    # Subheads over text that does not open like a report stay paragraphs.
    subheads = {
        "文化引领有力度 凝民族团结之心",
        "创建落实有高度 筑民族团结之根",
        "改善民生有温度 塑民族团结之魂",
        "家园共建有深度 绘民族团结之景",
    }
    titles = {a.title for a in seed_articles}
    assert not subheads & titles
    assert [p for p in seed_articles[0].paragraphs if p in subheads] == [
        "文化引领有力度 凝民族团结之心",
        "创建落实有高度 筑民族团结之根",
        "改善民生有温度 塑民族团结之魂",
        "家园共建有深度 绘民族团结之景",
    ]
    assert len(seed_articles[0].paragraphs) == 17


def test_seed_photo_item_found_at_article_level(tmp_path):
    ix = SearchIndex.create(tmp_path / "ix")
    report = ix.add_files([SEED.parent], workers=1)
    assert (report.articles, report.paragraphs) == (7, 43)
    result = ix.search("珠峰百姓名嘴", level="article")
    assert result.total == 1
    [hit] = result.hits
    assert (hit.article_id, hit.title, hit.paragraph) == (
        f"{SEED.resolve().as_posix()}#3", "演绎乡音乡情 宣讲入脑入心", 0
    )
    article = ix.get_article(hit.article_id)
    assert len(article.paragraphs) == 2


PAGES = Path(__file__).parent / "data" / "pages"


def page_articles(name: str) -> list:
    path = PAGES / name
    source = open_source(path)
    assert source.format == "newspaper"
    return list(source.articles())


def test_page_opening_with_a_photo_item():
    articles = page_articles("photo_item_first.txt")
    got = [(a.title, a.subtitle, a.author, len(a.paragraphs)) for a in articles]
    assert got == [
        ("雪后年楚河畔银装素裹", None, "索朗次仁", 2),
        ("青稞种出“致富经”", "产业振兴看江孜", "李明 扎西平措", 8),
    ]
    item, article = articles
    assert item.paragraphs == [
        "近日，日喀则市迎来今冬首场降雪，市区及周边县区普降小到中雪。雪后的年楚河畔银装素裹，"
        "远山近水相映成趣，吸引了不少市民和游客前来拍照留念，感受高原冬日的独特魅力。",
        "图为雪后的年楚河畔。 本报记者 索朗次仁 摄",
    ]
    assert item.lines == [5, 9]
    # Both subheads stay, and so does the closing photo: its section opens
    # 今年以来， (not a report), so its subhead is no headline.
    assert article.paragraphs[2] == "种得好 更要卖得好"
    assert article.paragraphs[4] == "抱团发展 共享红利"
    assert article.paragraphs[0].endswith("平均亩产较去年增长8%，青稞产业已成为当地群众增收致富的重要支柱。")
    assert article.paragraphs[-1] == "图为格桑（左）在合作社领取分红。 本报记者 李明 摄"
    assert article.lines == [20, 24, 26, 28, 32, 34, 36, 38]


def test_page_ending_with_a_report_item():
    articles = page_articles("report_item_last.txt")
    got = [(a.title, a.subtitle, a.author, len(a.paragraphs)) for a in articles]
    assert got == [
        ("“暖心食堂”让老人吃上热乎饭", "城关区推进我为群众办实事", "次仁央宗", 9),
        ("开展冬季森林防火安全培训", "堆龙德庆区", None, 1),
        ("冰雪运动进校园 课堂乐趣多", None, "格桑旺堆", 3),
    ]
    first, training, item = articles
    # A subhead over a 近日， paragraph stays when the article goes on after
    # its photo: the photo does not close an item.
    assert first.paragraphs[2] == "吃得放心 子女安心"
    assert first.paragraphs[5] == "多方参与 持续运转"
    assert first.paragraphs[6].startswith("近日，城关区民政局联合辖区12家爱心企业")
    assert first.paragraphs[7] == "图为老人们在吉日社区暖心食堂就餐。 本报记者 次仁央宗 摄"
    assert first.paragraphs[8].startswith("下一步，城关区将在总结经验的基础上")
    assert training.paragraphs[0].startswith("本报讯 日前，堆龙德庆区林业和草原局")
    assert training.paragraphs[0].endswith("等知识，并进行了灭火器使用实操演练。全区共有300余名护林员参加培训。")
    assert item.paragraphs == [
        "本报日喀则12月10日电 近日，日喀则市第一中学的冰场上热闹非凡，学生们穿上冰鞋，"
        "在教练的指导下练习滑行和转弯，一招一式有模有样。",
        "今年以来，日喀则市已有14所中小学开设冰雪运动课程，参与学生达8000余人次。",
        "图为学生们在冰场上练习滑冰。 本报通讯员 格桑旺堆 摄",
    ]
    assert item.lines == [38, 40, 42]


@pytest.mark.parametrize("opening", ["近日，", "日前，", "本报讯 ", "本报日喀则12月10日电 ", "新华社拉萨12月10日电 "])
def test_photo_item_openings(opening):
    page = (
        "上文的最后一段到此结束。\n\n"
        "小标题或新标题\n\n"
        f"{opening}某地举行了一场活动，吸引众多群众参加。\n\n"
        "图为活动现场。\n本报记者 王五 摄\n"
    )
    articles = parse_newspaper(page, source="p")
    assert [(a.title, a.author, len(a.paragraphs)) for a in articles] == [
        ("上文的最后一段到此结束", None, 1),
        ("小标题或新标题", "王五", 2),
    ]


@pytest.mark.parametrize(
    "middle",
    [
        # not a report opening
        "今年以来，某地举行了一场活动。\n\n图为活动现场。\n本报记者 王五 摄\n",
        # no photo at the end
        "近日，某地举行了一场活动。\n\n据悉，活动持续三天。\n",
        # the article goes on after the photo
        "近日，某地举行了一场活动。\n\n图为活动现场。\n本报记者 王五 摄\n\n活动还将继续。\n",
        # a second subhead inside
        "近日，某地举行了一场活动。\n\n另一个小标题\n\n活动还将继续。\n\n图为活动现场。\n本报记者 王五 摄\n",
    ],
)
def test_subhead_over_text_that_is_no_photo_item_stays(middle):
    page = "标题一\n\n本报记者 张三\n\n正文第一段结束。\n\n小标题\n\n" + middle
    [article] = parse_newspaper(page, source="p")
    assert (article.title, article.author) == ("标题一", "张三")
    assert article.paragraphs[1] == "小标题"


def test_subhead_after_an_unfinished_paragraph_stays():
    # The line above does not end a sentence: the short line is no headline.
    page = (
        "标题一\n\n本报记者 张三\n\n正文第一段还没有结束，\n\n小标题\n\n"
        "近日，某地举行了一场活动。\n\n图为活动现场。\n本报记者 王五 摄\n"
    )
    assert [a.title for a in parse_newspaper(page, source="p")] == ["标题一"]


def test_photo_block_after_report_text_is_its_own_article_and_subhead_stays():
    page = (
        "标题一\n\n本报记者 张三\n\n正文结束。\n\n小标题\n\n近日，某地举行活动。\n\n"
        "据悉，活动持续三天。\n\n11月5日，另一活动举行。\n图为学生。\n本报记者 赵六 摄\n"
    )
    articles = parse_newspaper(page, source="p")
    assert [(a.title, a.author, a.paragraphs) for a in articles] == [
        ("标题一", "张三", ["正文结束。", "小标题", "近日，某地举行活动。", "据悉，活动持续三天。"]),
        ("另一活动举行", "赵六", ["11月5日，另一活动举行。", "图为学生。 本报记者 赵六 摄"]),
    ]


def test_consecutive_photo_items_and_a_photo_block():
    page = (
        "标题一\n\n本报记者 张三\n\n正文结束。\n\n"
        "甲项标题\n\n近日，甲地举行活动。\n图为甲地现场。\n本报记者 王五 摄\n\n"
        "乙项标题\n\n日前，乙地举行活动。\n\n图为乙地现场。\n本报记者 赵六 摄\n\n"
        "11月5日，丙地举行活动。\n图为丙地现场。\n本报记者 孙七 摄\n"
    )
    articles = parse_newspaper(page, source="p")
    assert [(a.id, a.title, a.author, len(a.paragraphs)) for a in articles] == [
        ("p#1", "标题一", "张三", 1),
        ("p#2", "甲项标题", "王五", 2),
        ("p#3", "乙项标题", "赵六", 2),
        ("p#4", "丙地举行活动", "孙七", 2),
    ]


def test_looks_like_newspaper():
    assert looks_like_newspaper(SEED.read_text(encoding="utf-8"))
    assert not looks_like_newspaper(ESSAY)
    assert not looks_like_newspaper("")


def test_essay_txt_is_plain(tmp_path):
    path = tmp_path / "essay.txt"
    path.write_text(ESSAY, encoding="utf-8")
    source = open_source(path)
    assert source.format == "txt"
    [article] = list(source.articles())
    assert article.title == "秋天的回忆"
    assert article.paragraphs == [
        "那年秋天，我们在山里走了很久。树叶黄了，风也凉了。",
        "后来我常常想起那条小路。",
    ]
    assert article.lines == [3, 6]
    assert article.id == f"{posix(path)}#1"
    assert article.source is None  # a source is a publication, never the file


def test_parse_newspaper_small_page():
    page = (
        "西部新闻\n"
        "\n"
        "——一个副标题\n"
        "\n"
        "本报记者 张三 李四\n"
        "\n"
        "今天举行了会议，会议强调要把工作落到实处并且持续推进各项\n"
        "\n"
        "改革任务。\n"
        "\n"
        "第二个标题\n"
        "本报北京电（记者 王五）会议于昨日闭幕。\n"
    )
    articles = parse_newspaper(page, source="page.txt")
    assert [(a.id, a.title, a.subtitle, a.author) for a in articles] == [
        ("page.txt#1", "西部新闻", "一个副标题", "张三 李四"),
        ("page.txt#2", "第二个标题", None, "王五"),
    ]
    assert articles[0].paragraphs == [
        "今天举行了会议，会议强调要把工作落到实处并且持续推进各项改革任务。"
    ]
    assert articles[0].lines == [7]
    assert articles[1].paragraphs == ["会议于昨日闭幕。"]
    assert articles[1].lines == [12]


def test_parse_newspaper_without_source_uses_text_hash():
    page = "标题一\n\n本报记者 张三\n\n正文。\n"
    digest = hashlib.sha1(page.encode("utf-8")).hexdigest()[:12]
    [article] = parse_newspaper(page)
    assert article.id == f"stdin:{digest}#1"
    assert article.source is None


def test_newspaper_text_before_first_headline_is_an_article():
    page = "上接第一版的内容，到此结束。\n\n新标题\n\n本报记者 张三\n\n正文。\n"
    articles = parse_newspaper(page, source="p")
    assert [a.title for a in articles] == ["上接第一版的内容，到此结束", "新标题"]
    assert articles[0].author is None


def test_forced_newspaper_format(tmp_path):
    path = tmp_path / "page.md"
    path.write_bytes(SEED.read_bytes())
    source = open_source(path, "newspaper")
    assert source.format == "newspaper"
    assert len(list(source.articles())) == 7


# --------------------------------------------------------------------------
# Encodings

SIMPLIFIED = "日喀则边境管理支队打造快速通关绿色通道。\n各族群众共建美好家园。\n"
TRADITIONAL = "日喀則邊境管理支隊打造快速通關綠色通道。\n這是繁體中文的句子。\n"


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (SIMPLIFIED.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + SIMPLIFIED.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + SIMPLIFIED.encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + SIMPLIFIED.encode("utf-16-be"), "utf-16"),
        (SIMPLIFIED.encode("gbk"), "gb18030"),
        (SIMPLIFIED.encode("gb18030"), "gb18030"),
        (TRADITIONAL.encode("gbk"), "gb18030"),
        (TRADITIONAL.encode("big5"), "big5"),
    ],
    ids=["utf8", "utf8-bom", "utf16le", "utf16be", "gbk", "gb18030", "gbk-traditional", "big5"],
)
def test_decode_bytes_encodings(raw, encoding):
    expected = SIMPLIFIED if "绿" in raw.decode(encoding, "ignore") else TRADITIONAL
    assert decode_bytes(raw, "x.txt") == (expected, encoding)


@pytest.mark.parametrize(
    ("sentence", "codec", "encoding"),
    [
        ("今天天气很好。", "gbk", "gb18030"),
        ("今天天气很好。", "big5", "big5"),
        ("這是繁體中文的句子。", "gbk", "gb18030"),
        ("這是繁體中文的句子。", "big5", "big5"),
        ("台灣的天氣很好", "big5", "big5"),
        ("中文", "gbk", "gb18030"),
        ("中文", "big5", "big5"),
    ],
)
def test_decode_short_chinese(sentence, codec, encoding):
    assert decode_bytes(sentence.encode(codec), "s.txt") == (sentence, encoding)


def test_decode_bomless_utf16():
    raw = "hello, world 你好\n".encode("utf-16-le")
    assert decode_bytes(raw, "u.txt") == ("hello, world 你好\n", "utf-16-le")


def test_decode_normalizes_newlines():
    assert decode_bytes(b"a\r\nb\rc\n", "n.txt") == ("a\nb\nc\n", "utf-8")


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "gbk", "big5"])
def test_open_source_encodings(tmp_path, codec):
    text = "秋天的回憶\r\n\r\n那年秋天，我們在山裡走了很久。\r\n"
    path = tmp_path / "enc.txt"
    path.write_bytes(text.encode(codec))
    source = open_source(path)
    assert source.encoding == {"gbk": "gb18030"}.get(codec, codec)
    [article] = list(source.articles())
    assert (article.title, article.paragraphs) == ("秋天的回憶", ["那年秋天，我們在山裡走了很久。"])


def test_binary_file(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    with pytest.raises(UnreadableFileError) as info:
        open_source(path)
    assert str(info.value) == f"{posix(path)}: binary file, not text"


def test_control_bytes_are_binary():
    with pytest.raises(UnreadableFileError) as info:
        decode_bytes(b"\x01\x02\x03\x04abc", "c.bin")
    assert str(info.value) == "c.bin: binary file, not text"


def test_undecodable_file(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café crème".encode("latin-1"))
    with pytest.raises(UnreadableFileError) as info:
        open_source(path)
    assert str(info.value) == (
        f"{posix(path)}: cannot decode (not UTF-8, UTF-16, GB18030 or Big5)"
    )


@pytest.mark.parametrize("content", [b"", b"  \n\r\n\t ", codecs.BOM_UTF8 + b"\n"])
@pytest.mark.parametrize("suffix", [".txt", ".md", ".jsonl"])
def test_empty_file(tmp_path, content, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(content)
    with pytest.raises(EmptySourceError) as info:
        open_source(path)
    assert str(info.value) == f"{posix(path)}: empty file, skipped"


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(UnreadableFileError) as info:
        open_source(tmp_path)
    assert str(info.value) == f"{posix(tmp_path)}: is a directory"
    with pytest.raises(UnreadableFileError) as info:
        open_source(tmp_path / "gone.txt")
    assert str(info.value) == (
        f"{posix(tmp_path / 'gone.txt')}: cannot read (No such file or directory)"
    )


def test_unknown_format():
    with pytest.raises(ValueError):
        open_source(SEED, "pdf")
    assert FORMATS == ("auto", "txt", "md", "jsonl", "newspaper")


# --------------------------------------------------------------------------
# txt and md


def test_txt_joins_lines(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_text(
        "  Title line  \n\nThe quick brown\nfox jumps.\n\n中文第一行\n中文第二行。\n\nEnglish\n中文\n",
        encoding="utf-8",
    )
    [article] = list(open_source(path).articles())
    assert article.title == "Title line"
    assert article.paragraphs == ["The quick brown fox jumps.", "中文第一行中文第二行。", "English 中文"]
    assert article.lines == [3, 6, 9]


def test_txt_title_line_followed_by_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("标题\n正文第一行，\n正文第二行。\n", encoding="utf-8")
    [article] = list(open_source(path).articles())
    assert (article.title, article.paragraphs, article.lines) == (
        "标题",
        ["正文第一行，正文第二行。"],
        [2],
    )


def test_txt_long_first_line_is_not_a_title(tmp_path):
    path = tmp_path / "long-essay.txt"
    long_line = "很长的一段话，" * 20
    path.write_text(long_line + "\n", encoding="utf-8")
    [article] = list(open_source(path).articles())
    assert (article.title, article.paragraphs) == ("long-essay", [long_line])


def test_md_title_from_heading(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(
        "Intro line\n\n# 主标题 #\n正文一\n正文二\n\n## 小节\n\n更多内容。\n", encoding="utf-8"
    )
    source = open_source(path)
    assert source.format == "md"
    [article] = list(source.articles())
    assert article.title == "主标题"
    assert article.paragraphs == ["Intro line", "正文一正文二", "小节", "更多内容。"]
    assert article.lines == [1, 4, 7, 9]


def test_md_without_heading_uses_stem(tmp_path):
    path = tmp_path / "plain-notes.MD"
    path.write_text("just text\nmore text\n", encoding="utf-8")
    [article] = list(open_source(path).articles())
    assert (article.title, article.paragraphs) == ("plain-notes", ["just text more text"])


def test_stdin_text_ids():
    data = "标题\n\n正文。\n".encode("utf-8")
    source = read_stream(io.BytesIO(data))
    assert (source.name, source.format, source.encoding) == ("<stdin>", "txt", "utf-8")
    assert source.content_hash == hashlib.sha256(data).hexdigest()
    [article] = list(source.articles())
    digest = hashlib.sha1("标题\n\n正文。\n".encode("utf-8")).hexdigest()[:12]
    assert article.id == f"stdin:{digest}#1"
    assert article.title == "标题"


def test_stdin_newspaper():
    source = read_stream(io.BytesIO(SEED.read_bytes()))
    assert source.format == "newspaper"
    ids = [a.id for a in source.articles()]
    digest = hashlib.sha1(SEED.read_text(encoding="utf-8").encode("utf-8")).hexdigest()[:12]
    assert ids == [f"stdin:{digest}#{n}" for n in range(1, 8)]


def test_stdin_empty():
    with pytest.raises(EmptySourceError) as info:
        read_stream(io.BytesIO(b"\n\n"))
    assert str(info.value) == "<stdin>: empty file, skipped"


# --------------------------------------------------------------------------
# JSONL


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_bytes("\n".join(lines).encode("utf-8") + b"\n")
    return path


def test_jsonl_records(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            json.dumps({"id": "x1", "title": "T1", "paragraphs": ["  leading", "", "b"],
                        "source": "报纸", "date": "2023-11-06", "author": "张三"},
                       ensure_ascii=False),
            "",
            "   ",
            json.dumps({"title": "T2", "text": "第一段\n第一段续。\r\n\r\n第二段\n\n\n"},
                       ensure_ascii=False),
            json.dumps({"id": 7, "title": "T3", "paragraphs": []}),
        ],
    )
    source = open_source(path)
    assert (source.format, source.encoding) == ("jsonl", "utf-8")
    first, second, third = list(source.articles())
    assert first == first.__class__(
        title="T1", paragraphs=["  leading", "", "b"], id="x1", source="报纸",
        date="2023-11-06", author="张三", lines=[1, 1, 1],
    )
    assert first.lines == [1, 1, 1]
    assert (second.id, second.paragraphs, second.lines, second.source) == (
        f"{posix(path)}:4", ["第一段第一段续。", "第二段"], [4, 4], None,
    )
    assert (third.id, third.paragraphs, third.lines) == ("7", [], [])


def test_jsonl_bom_and_crlf(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + b'{"title": "A", "text": "x"}\r\n{"title": "B", "text": "y"}\r\n')
    source = open_source(path)
    assert source.encoding == "utf-8-sig"
    assert [a.title for a in source.articles()] == ["A", "B"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"title": "x", ', "invalid JSON: Expecting property name enclosed in double quotes at column 16"),
        ("[1, 2]", "record is not a JSON object"),
        ('{"text": "x"}', 'missing "title"'),
        ('{"title": 3, "text": "x"}', '"title" must be a string'),
        ('{"title": "x"}', 'record has neither "paragraphs" nor "text"'),
        ('{"title": "x", "paragraphs": ["a", 1]}', '"paragraphs" must be a list of strings'),
        ('{"title": "x", "paragraphs": "a"}', '"paragraphs" must be a list of strings'),
        ('{"title": "x", "text": ["a"]}', '"text" must be a string'),
        ('{"title": "x", "text": "a", "id": true}', '"id" must be a non-empty string or an integer'),
        ('{"title": "x", "text": "a", "date": 2023}', '"date" must be a string'),
        ('{"title": " ", "text": "a"}', '"title" is empty'),
        ('{"title": "x", "text": "a", "date": "12/10/2023"}',
         "\"date\" cannot be read as a date: '12/10/2023' (use 2023-12-10, 2023/12/10, 2023年12月10日, 2023-12 or 2023)"),
        ('{"title": "x", "text": "a", "date": "2023-02-30"}',
         "\"date\" cannot be read as a date: '2023-02-30' (use 2023-12-10, 2023/12/10, 2023年12月10日, 2023-12 or 2023)"),
        ('{"title": "x", "paragraphs": ["ab\\ud800cd"]}', '"paragraphs" holds a lone surrogate U+D800, which is not valid Unicode'),
        ('{"title": "\\udfff", "text": "a"}', '"title" holds a lone surrogate U+DFFF, which is not valid Unicode'),
        ('{"title": "x", "text": "a", "author": "\\ud83d"}', '"author" holds a lone surrogate U+D83D, which is not valid Unicode'),
        ('{"title": "%s", "text": "a"}' % ("长" * 1001), '"title" is too long: 1001 characters (at most 1000)'),
        ('{"title": "x", "text": "a", "source": "%s"}' % ("s" * 5000), '"source" is too long: 5000 characters (at most 1000)'),
    ],
)
def test_jsonl_malformed_line(tmp_path, line, reason):
    path = write_jsonl(tmp_path / "bad.jsonl", ['{"title": "ok", "text": "fine"}', "", line, '{"title": "after", "text": "x"}'])
    source = open_source(path)  # opening succeeds; the bad record raises when reached
    articles = source.articles()
    assert next(articles).title == "ok"
    with pytest.raises(RecordError) as info:
        next(articles)
    assert str(info.value) == f"{posix(path)}:3: {reason}"
    # Handed to ``bad`` instead, it is skipped alone: the records after it are read.
    bad: list[str] = []
    assert [a.title for a in open_source(path).articles(bad=lambda error: bad.append(str(error)))] == ["ok", "after"]
    assert bad == [f"{posix(path)}:3: {reason}"]


def test_jsonl_dates_are_kept_as_iso(tmp_path):
    dates = ["2023-12-10", "2023-12-10T08:30:00+08:00", "2023/12/10", "2023年12月10日", "２０２３年１２月", "2023-1", "2023年"]
    path = write_jsonl(tmp_path / "d.jsonl", [json.dumps({"title": "t", "text": "x", "date": d}, ensure_ascii=False) for d in dates])
    assert [a.date for a in open_source(path).articles()] == [
        "2023-12-10", "2023-12-10", "2023-12-10", "2023-12-10", "2023-12", "2023-01", "2023"]


def test_jsonl_invalid_utf8(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"title": "\xff"}\n')
    with pytest.raises(RecordError) as info:
        list(open_source(path).articles())
    assert str(info.value) == f"{posix(path)}:1: invalid UTF-8 at byte 12"


def test_jsonl_utf16_rejected(tmp_path):
    path = tmp_path / "u16.jsonl"
    path.write_bytes('{"title": "x", "text": "y"}\n'.encode("utf-16"))
    with pytest.raises(UnreadableFileError) as info:
        open_source(path)
    assert str(info.value) == f"{posix(path)}: JSONL must be UTF-8, not UTF-16"


def test_jsonl_streams(tmp_path, monkeypatch):
    path = write_jsonl(
        tmp_path / "many.jsonl",
        [json.dumps({"title": f"t{i}", "text": "x"}) for i in range(1000)],
    )
    source = open_source(path)
    articles = source.articles()
    assert next(articles).title == "t0"
    # Appending after the first record is read shows later lines are read lazily.
    with open(path, "ab") as handle:
        handle.write(b'{"title": "late", "text": "x"}\n')
    assert [a.title for a in articles][-1] == "late"
    # articles() can be iterated again.
    assert sum(1 for _ in source.articles()) == 1001


def test_jsonl_from_stdin():
    line = b'{"title": "A", "text": "x"}'
    source = read_stream(io.BytesIO(b"\n" + line + b"\n" + b'{"id": "k", "title": "B", "text": "y"}\n'))
    assert source.format == "jsonl"
    articles = list(source.articles())
    assert [a.id for a in articles] == ["stdin:" + hashlib.sha1(line).hexdigest()[:12], "k"]
    assert articles[0].lines == [2]
    assert [a.id for a in source.articles()] == [a.id for a in articles]


def test_txt_file_forced_to_jsonl(tmp_path):
    path = tmp_path / "records.txt"
    path.write_text('{"title": "A", "text": "x"}\n', encoding="utf-8")
    assert open_source(path).format == "txt"
    source = open_source(path, "jsonl")
    assert [a.title for a in source.articles()] == ["A"]


# --------------------------------------------------------------------------
# iter_paths


def make_tree(root: Path) -> None:
    for rel in [
        "b.txt",
        "a.md",
        "A2.TXT",
        "c.jsonl",
        "skip.pdf",
        ".hidden.txt",
        ".git/config.txt",
        "sub/z.txt",
        "sub/a.txt",
        "sub/deeper/x.md",
        "drafts/d.txt",
        "m/n.txt",
    ]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")


def rels(paths, root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_iter_paths_walks_sorted(tmp_path):
    make_tree(tmp_path)
    assert rels(iter_paths([tmp_path]), tmp_path) == [
        "A2.TXT",
        "a.md",
        "b.txt",
        "c.jsonl",
        "drafts/d.txt",
        "m/n.txt",
        "sub/a.txt",
        "sub/deeper/x.md",
        "sub/z.txt",
    ]


def test_iter_paths_include_exclude(tmp_path):
    make_tree(tmp_path)
    assert rels(iter_paths([tmp_path], include=["*.txt"]), tmp_path) == [
        "b.txt", "drafts/d.txt", "m/n.txt", "sub/a.txt", "sub/z.txt",
    ]
    assert rels(iter_paths([tmp_path], include=["sub/*"]), tmp_path) == [
        "sub/a.txt", "sub/deeper/x.md", "sub/z.txt",
    ]
    assert rels(iter_paths([tmp_path], exclude=["drafts", "a.*", "sub/deeper/*"]), tmp_path) == [
        "A2.TXT", "b.txt", "c.jsonl", "m/n.txt", "sub/z.txt",
    ]


def test_iter_paths_files_as_given(tmp_path):
    make_tree(tmp_path)
    pdf = tmp_path / "skip.pdf"
    hidden = tmp_path / ".hidden.txt"
    sub = tmp_path / "sub"
    assert list(iter_paths([pdf, str(hidden), sub, sub / "a.txt"])) == [
        pdf, hidden, sub / "a.txt", sub / "deeper" / "x.md", sub / "z.txt",
    ]
    assert list(iter_paths([pdf], exclude=["*.pdf"])) == []


def test_iter_paths_missing(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ReaderError) as info:
        list(iter_paths([SEED, str(missing)]))
    assert str(info.value) == f"no such file or directory: {missing}"


# --------------------------------------------------------------------------
# Robustness


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_decode_bytes_never_crashes(data):
    try:
        text, encoding = decode_bytes(data, "h.bin")
    except UnreadableFileError:
        return
    assert isinstance(text, str) and "\r" not in text
    assert encoding in {"utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "gb18030", "big5", "cp950"}


PAGE_LINES = st.sampled_from([
    "", "", "标题", "——副标题", "本报记者 张三", "本报拉萨电（记者 李四）正文开始，", "正文没有结束",
    "正文结束。", "图为现场。", "本报记者 王五 摄", "同时，紧盯“工程”", "“行动”，多措并举。", "短",
    "近日，举行活动。", "本报讯 日前，", "图为现场，",
])


@given(st.lists(PAGE_LINES, max_size=30))
@settings(max_examples=300, deadline=None)
def test_parse_newspaper_on_random_pages(lines):
    text = "\n".join(lines)
    for article in parse_newspaper(text, source="p"):
        assert article.title
        assert len(article.lines) == len(article.paragraphs)
        assert all(article.paragraphs)


@given(st.binary(max_size=300), st.sampled_from(["auto", "txt", "md", "jsonl", "newspaper"]),
       st.sampled_from([".txt", ".md", ".jsonl", ".dat"]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_readers_raise_only_reader_errors(tmp_path, data, fmt, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    for opener in (lambda: open_source(path, fmt), lambda: read_stream(io.BytesIO(data), fmt)):
        try:
            for article in opener().articles():
                assert isinstance(article.title, str)
                assert len(article.lines) == len(article.paragraphs)
        except ReaderError:
            pass


def test_md_heading_inside_code_fence_is_text(tmp_path):
    path = tmp_path / "code.md"
    path.write_text("```\n# not a title\n```\n\n# Real title\n\nBody.\n", encoding="utf-8")
    [article] = list(open_source(path).articles())
    assert article.title == "Real title"
    assert article.paragraphs == ["``` # not a title ```", "Body."]
    assert article.lines == [1, 7]


def test_a_page_takes_the_date_it_carries_and_none_is_made_up(tmp_path):
    from searchkit.readers import page_date

    text = SEED.read_text(encoding="utf-8")
    assert page_date(text, SEED.name) is None  # the seed page carries none
    assert all(a.date is None for a in open_source(SEED).articles())
    named = tmp_path / "西藏日报_2023-12-10_p3.txt"
    named.write_text(text, encoding="utf-8")
    assert {a.date for a in open_source(named).articles()} == {"2023-12-10"}
    headed = tmp_path / "page.txt"
    headed.write_text("2023年12月9日 星期六\n\n" + text, encoding="utf-8")
    assert {a.date for a in open_source(headed).articles()} == {"2023-12-09"}
    assert page_date("他说2023年12月9日那天，我们一起去了拉萨，看了很多地方。", "20231301.txt") is None
    assert page_date("x", "20231210.txt") == "2023-12-10"
