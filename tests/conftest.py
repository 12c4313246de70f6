from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Article, SearchIndex
from searchkit.analysis import AnalyzerSettings
from searchkit.cli import cli
from searchkit.engine.codec import make_codec

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_235373325ccc2d0f.txt"

# Small handmade corpus: simplified and traditional script, full-width forms,
# words jieba cuts differently in different contexts.
CORPUS = [
    Article(
        id="a1",
        title="民族团结之花",
        paragraphs=[
            "让民族团结之花绚丽绽放。各族群众共建美好家园。",
            "桑珠孜区开展民族团结进步创建工作，累计完成投资8.77亿元。",
        ],
    ),
    Article(
        id="a2",
        title="日喀則邊境管理支隊",
        paragraphs=[
            "作為G318國道進入珠峰必經之地，檢查站打造快速通關綠色通道。",
            "ＧＰＳ定位與５Ｇ網絡覆蓋珠峰大本營。",
        ],
    ),
    Article(
        id="a3",
        title="冬游西藏",
        paragraphs=[
            "第六轮“冬游西藏”免费游览景区名录发布。",
            "和平民族团体在此聚会。",
        ],
    ),
]


@pytest.fixture(params=[2, 1], ids=["bigrams", "characters"])
def index(request: pytest.FixtureRequest) -> SearchIndex:
    """The corpus, indexed with character bigrams (the default) and, as indexes made before them, without."""
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=request.param))
    ix.add_articles(CORPUS)
    return ix


def postings_codec(segid=None, **_settings):
    """The codec of a searchkit before schema version 3: characters' postings, no suffix arrays of its own
    (patched over ``searchkit.engine.store.make_codec`` to write such segments)."""
    return make_codec(segid, char_streams=False)


def index_records(folder: Path, records: list[dict], *more: Path) -> Path:
    """``folder/ix``: the records (JSONL form), and any further files, indexed through the CLI."""
    data = folder / "news.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--index", str(folder / "ix"), "index", "--workers", "1", *map(str, more), str(data)])
    assert result.exit_code == 0, result.output
    return folder / "ix"


def search_json(index: Path, *args: str) -> dict:
    """``searchkit --index INDEX search ARGS --json``, parsed."""
    result = CliRunner().invoke(cli, ["--index", str(index), "search", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
