"""The search page in a real headless Chromium (Debian's), against a live `searchkit serve` on the seed page.

Skipped, with the reason pytest prints, where no Chromium or Playwright is
found; ``SEARCHKIT_REQUIRE_BROWSER=1`` (set by CI) makes that a failure.
The screenshots go to ``SEARCHKIT_ARTIFACTS`` (default: ``test-artifacts/``).
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SEED, index_records
from tests.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("SEARCHKIT_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = os.environ.get("SEARCHKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = "<img src=x onerror=alert(1)>"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM:
        return "no Chromium found (apt-get install chromium, or set SEARCHKIT_CHROMIUM)"
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        return "the [serve] extra is not installed"
    return None


if _missing():
    if os.environ.get("SEARCHKIT_REQUIRE_BROWSER"):
        raise RuntimeError(f"SEARCHKIT_REQUIRE_BROWSER is set, but {_missing()}")
    pytest.skip(_missing(), allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright

NEWS = [
    {"id": f"n{i:02d}", "title": f"雪莲新闻第{i}篇", "paragraphs": [f"雪莲脚下的第{i}个故事。", "登山季结束。"],
     "source": "新华社" if i % 3 else "人民日报", "author": "卓玛" if i % 2 else "次仁", "date": f"{2020 + i % 4}-0{1 + i % 9}-15"}
    for i in range(1, 25)
] + [{"id": "evil", "title": HOSTILE, "text": "雪莲的恶意标题测试。<script>alert(2)</script>", "source": "<b>来源</b>"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(index_records(tmp_path_factory.mktemp("browser"), NEWS, SEED))
    yield live
    assert live.stop()[0] == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN")
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs  # type: ignore[attr-defined]
    yield opened
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_typing_a_query_shows_articles_with_the_keyword_marked(server: LiveServer, page: Page) -> None:
    page.goto(server.url + "/")
    page.get_by_label("关键词").fill("民族团结")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("找到 3 篇文章")
    assert page.url == server.url + "/?q=" + urllib.parse.quote("民族团结")
    marks = page.locator(".hit .snippet mark")
    assert set(marks.all_text_contents()) == {"民族团结"}
    expect(page.locator(".hit h2 mark").first).to_have_text("民族团结")  # in the title too
    assert page.locator(".hit h2").first.text_content() == "让民族团结之花绚丽绽放"
    shot(page, "search-page.png")


def test_facets_filter_paging_and_the_article_view(server: LiveServer, page: Page) -> None:
    page.goto(server.url + "/?q=" + urllib.parse.quote("雪莲"))
    expect(page.locator("#status")).to_have_text("找到 25 篇文章")
    facet = page.locator(".facet", has_text="作者").get_by_role("link", name="卓玛")
    expect(facet).to_be_visible()
    facet.click()
    expect(page.locator("#status")).to_have_text("找到 12 篇文章")
    assert urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["author"] == ["卓玛"]
    expect(page.locator(".chip")).to_have_text("作者：卓玛 ×")
    page.get_by_role("link", name="下一页").click()
    expect(page.locator(".pager span")).to_have_text(" 第 11–12 篇，共 12 篇 ")
    expect(page.locator(".hit")).to_have_count(2)
    first_title = page.locator(".hit h2").first.text_content()
    page.locator(".hit h2 a").first.click()
    expect(page.locator("#article h1")).to_have_text(first_title or "")
    paragraphs = page.locator("#article .paragraph")
    expect(paragraphs).to_have_count(2)
    assert paragraphs.first.locator("mark").all_text_contents() == ["雪莲"]
    shot(page, "article-view.png")
    page.get_by_role("link", name="← 返回搜索结果").click()
    expect(page.locator(".pager span")).to_have_text(" 第 11–12 篇，共 12 篇 ")


def test_sorting_and_a_date_range_from_the_page(server: LiveServer, page: Page) -> None:
    page.goto(server.url + "/?q=" + urllib.parse.quote("雪莲"))
    expect(page.locator("#status")).to_have_text("找到 25 篇文章")
    page.locator("#sort").select_option("-date")
    expect(page).to_have_url(server.url + "/?q=" + urllib.parse.quote("雪莲") + "&sort=-date")
    dates = page.locator(".hit .meta").all_text_contents()
    assert [d.split(" · ")[0] for d in dates[:3]] == ["2023-08-15", "2023-07-15", "2023-06-15"]
    page.locator("#from").fill("2021")
    page.locator("#to").fill("2021")
    page.locator("#to").press("Enter")
    expect(page.locator("#status")).to_have_text("找到 6 篇文章")
    assert all(d.startswith("2021-") for d in page.locator(".hit .meta").all_text_contents())


def test_a_hostile_title_shows_as_text(server: LiveServer, page: Page) -> None:
    page.goto(server.url + "/?q=" + urllib.parse.quote("恶意标题"))
    expect(page.locator("#status")).to_have_text("找到 1 篇文章")
    expect(page.locator(".hit h2")).to_have_text(HOSTILE)
    assert page.locator("img").count() == 0 and page.locator("#results b").count() == 0
    page.locator(".hit h2 a").click()
    expect(page.locator("#article h1")).to_have_text(HOSTILE)
    expect(page.locator("#article .paragraph")).to_have_text("雪莲的恶意标题测试。<script>alert(2)</script>")
    assert page.locator("#article script").count() == 0
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_keyboard_only_on_a_phone_width_screen(server: LiveServer, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, locale="zh-CN")
    phone = context.new_page()
    phone.goto(server.url + "/")
    expect(phone.locator("#q")).to_be_focused()
    phone.keyboard.type("民族团结")
    phone.keyboard.press("Enter")
    expect(phone.locator("#status")).to_have_text("找到 3 篇文章")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the screen
    for _ in range(10):  # from the search box, past its button, to the first result
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement.closest('.hit') !== null"):
            break
    assert phone.evaluate("document.activeElement.textContent") == "让民族团结之花绚丽绽放"
    phone.keyboard.press("Enter")
    expect(phone.locator("#article h1")).to_be_focused()
    shot(phone, "phone-article.png")
    context.close()


def test_an_api_error_shows_its_message(server: LiveServer, page: Page) -> None:
    page.goto(server.url + "/?q=" + urllib.parse.quote("冬季") + "&from=2023-13")
    expect(page.locator("#error")).to_contain_text("2023-13")
