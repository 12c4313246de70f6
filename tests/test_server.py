"""`searchkit serve`'s API through an in-process client: every endpoint, every error status, the key."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the [serve] extra is not installed")

from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from searchkit import SearchIndex
from searchkit.server import ServiceSettings, create_app
from tests.conftest import index_records, search_json

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
RECORDS = [
    {"id": "n1", "title": "冬季旅游升温", "paragraphs": ["冬季西藏旅游火热。", "游客增多。"], "source": "新华社",
     "date": "2023-12-10", "author": "卓玛"},
    {"id": "n2", "title": "冬季取暖", "text": "各地保障冬季取暖。", "source": "聯合報", "date": "2024/01/05",
     "author": ["次仁", "卓玛"], "tags": ["民生"]},
    {"id": "n3", "title": "珠峰", "text": "珠峰冬季景色。\n\n冬季登山季结束。", "source": "人民日报", "date": "2023年12月"},
    {"id": "docs/a#1", "title": "没有日期", "text": "冬季的一篇旧闻。", "source": "新华社"},
]


@pytest.fixture()
def index_dir(tmp_path: Path) -> Path:
    return index_records(tmp_path, RECORDS)


def client_for(index_dir: Path, **settings: object) -> TestClient:
    return TestClient(create_app(SearchIndex(index_dir, lock_timeout=0.5), ServiceSettings(**settings)),
                      raise_server_exceptions=False)


@pytest.fixture(params=[None, 0], ids=["search-threads", "searches-on-the-loop"])
def client(index_dir: Path, request: pytest.FixtureRequest):
    """The app as a single process serves it (searches on threads), and as each worker process
    of ``--workers N`` does (searches on the event loop's thread)."""
    with client_for(index_dir, api_key=KEY, search_threads=request.param) as test_client:
        yield test_client


def test_search_answers_the_clis_json(client: TestClient, index_dir: Path) -> None:
    response = client.get("/search", params={"q": "冬季", "facets": "source,year", "limit": 2, "offset": 1})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == search_json(index_dir, "冬季", "--facets", "source,year", "--limit", "2", "--offset", "1")
    assert response.json()["total"] == 4


def test_post_search_takes_the_same_fields_as_a_json_body(client: TestClient, index_dir: Path) -> None:
    body = {"q": "冬季", "source": ["联合报", "人民日报"], "sort": "-date", "facets": ["author"], "level": "article"}
    response = client.post("/search", json=body)
    assert response.status_code == 200
    expected = search_json(index_dir, "冬季", "--source", "联合报", "--source", "人民日报", "--sort", "-date", "--facets", "author")
    assert response.json() == expected
    assert [hit["article_id"] for hit in expected["hits"]] == ["n2", "n3"]
    get = client.get("/search", params=[("q", "冬季"), ("source", "联合报"), ("source", "人民日报"), ("sort", "-date"),
                                        ("facets", "author")])
    assert get.json() == expected


def test_filters_dates_and_levels(client: TestClient) -> None:
    found = client.get("/search", params={"q": "冬季", "from": "2023-12", "to": "2023-12-31", "author": "卓玛"}).json()
    assert [hit["article_id"] for hit in found["hits"]] == ["n1"]
    paragraphs = client.get("/search", params={"q": "冬季", "level": "paragraph", "limit": 50}).json()
    assert paragraphs["total"] == 5
    assert {(hit["article_id"], hit["paragraph"]) for hit in paragraphs["hits"]} == {
        ("n1", 0), ("n2", 0), ("n3", 0), ("n3", 1), ("docs/a#1", 0)}


def test_highlights_are_character_offsets_into_the_returned_text(client: TestClient) -> None:
    hit = client.get("/search", params={"q": "珠峰"}).json()["hits"][0]
    assert hit["title_highlights"] == [[0, 2]]
    text = hit["snippet"]["text"]
    assert [text[start:end] for start, end in hit["snippet"]["highlights"]] == ["珠峰"]


@pytest.mark.parametrize(("params", "message"), [
    ({}, "q is required: the query to search for"),
    ({"q": "  "}, "q is required: the query to search for"),
    ({"q": "冬季", "limit": "0"}, "limit must be a whole number from 1 to 1000, not 0"),
    ({"q": "冬季", "limit": "1001"}, "limit must be a whole number from 1 to 1000, not 1001"),
    ({"q": "冬季", "offset": "x"}, "offset must be a whole number from 0 to 10000, not x"),
    ({"q": "冬季", "level": "page"}, "unknown level 'page': use paragraph or article"),
    ({"q": "冬季", "sort": "title"}, "unknown sort 'title': use relevance, date or -date"),
    ({"q": "冬季", "facets": "color"}, "unknown facet 'color': use source, author, tag, year, month"),
    ({"q": "冬季", "from": "2023-13"}, None),
    ({"q": "冬季", "limt": "5"}, "unknown field 'limt': use author, facets, from, level, limit, offset, q, sort, source, tag, to"),
    ({"q": "冬" * 2001}, "query is too long: 2001 characters (at most 2000)"),
    ({"q": "-冬季"}, "a query needs at least one keyword that is not excluded with -"),
])
def test_bad_searches_are_400_with_one_line(client: TestClient, params: dict, message: str | None) -> None:
    response = client.get("/search", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "\n" not in error
    if message is not None:
        assert error == message
    else:
        assert "2023-13" in error


@pytest.mark.parametrize(("body", "message"), [
    (b"{", "invalid JSON body"),
    (b"[1]", "the body must be a JSON object of search fields (q, limit, ...)"),
    (b'{"q": 5}', "q is required: the query to search for"),
    (b'{"q": "x", "limit": 2.5}', "limit must be a whole number from 1 to 1000, not 2.5"),
    (b'{"q": "x", "source": [1]}', "source must be a string or a list of strings"),
    (b'{"q": "x", "level": ["article"]}', "level must be a string"),
])
def test_bad_search_bodies_are_400(client: TestClient, body: bytes, message: str) -> None:
    response = client.post("/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_a_body_over_the_limit_is_413(index_dir: Path) -> None:
    with client_for(index_dir, api_key=KEY, max_body_bytes=100) as small:
        response = small.post("/search", json={"q": "冬季" * 60})
        assert (response.status_code, response.json()) == (413, {"error": "the body is over 100 bytes"})
        response = small.post("/articles", content=b"[" + b" " * 200 + b"]", headers=AUTH)
        assert response.status_code == 413


def test_articles_one_and_a_page(client: TestClient) -> None:
    article = client.get("/articles/n3").json()
    assert article["paragraphs"] == ["珠峰冬季景色。", "冬季登山季结束。"]
    assert (article["title"], article["date"], article["source"]) == ("珠峰", "2023-12", "人民日报")
    assert "highlights" not in article
    marked = client.get("/articles/n3", params={"q": "冬季 title:珠峰"}).json()["highlights"]
    assert marked == {"title": [[0, 2]], "paragraphs": [[[2, 4]], [[0, 2]]]}
    assert client.get("/articles/docs%2Fa%231").json()["title"] == "没有日期"  # an id with / and #
    missing = client.get("/articles/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "no article with id 'nope'"})
    page = client.get("/articles", params={"offset": 1, "limit": 2}).json()
    assert page["total"] == 4
    assert [a["article_id"] for a in page["articles"]] == ["n1", "n2"]
    assert page["articles"][0]["paragraphs"] == 2
    assert client.get("/articles", params={"limit": 1001}).status_code == 400


def test_writes_need_the_key(client: TestClient) -> None:
    new = [{"id": "w1", "title": "新闻", "text": "雪豹出现在珠峰。"}]
    no_key = client.post("/articles", json=new)
    assert no_key.status_code == 401
    assert no_key.headers["www-authenticate"] == 'Bearer realm="searchkit"'
    assert no_key.json() == {"error": "this needs the API key: send Authorization: Bearer KEY"}
    wrong = client.post("/articles", json=new, headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()) == (403, {"error": "wrong API key"})
    assert client.delete("/articles/n1").status_code == 401
    assert client.get("/search", params={"q": "雪豹"}).json()["total"] == 0
    assert client.get("/articles/n1").status_code == 200


def test_without_a_key_writes_are_refused(index_dir: Path) -> None:
    with client_for(index_dir) as keyless:
        response = keyless.post("/articles", json=[{"title": "x", "text": "y"}], headers=AUTH)
        assert response.status_code == 403
        assert response.json() == {
            "error": "writes are disabled: start the server with --api-key KEY (or SEARCHKIT_API_KEY)"}
        assert keyless.get("/search", params={"q": "冬季"}).status_code == 200  # search stays open


def test_post_articles_adds_and_replaces_and_search_sees_it_at_once(client: TestClient) -> None:
    added = client.post("/articles", json=[
        {"id": "w1", "title": "新闻", "text": "雪豹出现在珠峰。", "source": "新华社", "date": "2024-02-01"},
        {"id": "n1", "title": "冬季旅游降温", "text": "游客减少。"},
    ], headers=AUTH)
    assert added.status_code == 200
    assert added.json() == {"articles": 2, "paragraphs": 2, "warnings": []}
    assert [h["article_id"] for h in client.get("/search", params={"q": "雪豹"}).json()["hits"]] == ["w1"]
    assert client.get("/articles/n1").json()["paragraphs"] == ["游客减少。"]
    ndjson = '{"id": "w2", "title": "雪豹", "text": "又见雪豹。"}\n\n{"id": "w3", "title": "雪豹三", "text": "雪豹。"}\n'
    response = client.post("/articles", content=ndjson.encode(), headers={**AUTH, "Content-Type": "application/x-ndjson"})
    assert response.json()["articles"] == 2
    assert client.get("/search", params={"q": "雪豹"}).json()["total"] == 3
    deleted = client.delete("/articles/w1", headers=AUTH)
    assert (deleted.status_code, deleted.json()) == (200, {"deleted": "w1"})
    assert client.get("/articles/w1").status_code == 404
    assert client.delete("/articles/w1", headers=AUTH).status_code == 404
    assert client.get("/stats").json()["articles"] == 6


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    (b"[", "application/json", 400, "invalid JSON: Expecting value (line 1, column 2)"),
    (b'{"title": "x"}', "application/json", 400,
     "the body must be a JSON array of articles (or JSON lines as application/x-ndjson)"),
    (b"[]", "application/json", 400, "no articles in the body"),
    (b'[{"title": "ok", "text": "fine"}, {"text": "no title"}]', "application/json", 400, 'record 2: missing "title"'),
    (b'[{"title": "ok", "text": "fine"}, {"title": "x", "text": "y", "date": "someday"}]', "application/json", 400,
     None),
    (b'{"title": "ok", "text": "a"}\n{"title": ', "application/x-ndjson", 400,
     "line 2: invalid JSON: Expecting value (column 11)"),
    (b"\xff\xfe", "application/json", 400, "the body is not UTF-8 (byte 0)"),
    (b"title,text", "text/csv", 415, "unsupported content type 'text/csv': send application/json or application/x-ndjson"),
])
def test_bad_article_bodies_name_the_record_and_write_nothing(client: TestClient, body: bytes, content_type: str,
                                                              status: int, message: str | None) -> None:
    before = client.get("/stats").json()["articles"]
    response = client.post("/articles", content=body, headers={**AUTH, "Content-Type": content_type})
    assert response.status_code == status
    error = response.json()["error"]
    if message is None:
        assert error.startswith("record 2: ") and "someday" in error
    else:
        assert error == message
    assert client.get("/stats").json()["articles"] == before


def test_a_held_lock_is_503_and_nothing_is_lost(client: TestClient, index_dir: Path) -> None:
    holder = SearchIndex(index_dir).store.writer(30.0)  # holds the write lock, as another `searchkit index` would
    try:
        response = client.post("/articles", json=[{"id": "w9", "title": "锁", "text": "等待。"}], headers=AUTH)
        assert response.status_code == 503
        assert response.json() == {"error": f"index at {index_dir} is locked by another writer; gave up after 0.5 s "
                                            "(raise --lock-timeout or try again)"}
        assert client.get("/search", params={"q": "冬季"}).json()["total"] == 4  # searches go on
    finally:
        holder.cancel()
    assert client.post("/articles", json=[{"id": "w9", "title": "锁", "text": "等待。"}], headers=AUTH).status_code == 200


def test_unknown_endpoints_methods_and_bugs_answer_json(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.get("/nope").json() == {"error": "no such endpoint: see /openapi.json"}
    assert client.put("/search").status_code == 405
    assert client.put("/search").json() == {"error": "method not allowed here: see /openapi.json"}

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(SearchIndex, "search", broken)
    response = client.get("/search", params={"q": "冬季"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error (RuntimeError): please report it"}


def test_health_stats_and_the_page(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    stats = client.get("/stats").json()
    assert (stats["articles"], stats["paragraphs"]) == (4, 6)
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200


def test_openapi_describes_every_route_and_method(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    routes = {}
    for route in client.app.routes:
        if isinstance(route, Route):
            path = route.path.replace(":path}", "}")
            routes[path] = {m.lower() for m in route.methods if m != "HEAD"}
        else:
            assert isinstance(route, Mount) and route.path == "/static"
    described = {path: {m for m in item if m != "parameters"} for path, item in spec["paths"].items()}
    assert described == routes


def test_cors_is_off_unless_an_origin_is_allowed(index_dir: Path) -> None:
    origin = {"Origin": "https://news.example"}
    with client_for(index_dir) as closed:
        assert "access-control-allow-origin" not in closed.get("/search", params={"q": "冬季"}, headers=origin).headers
    with client_for(index_dir, cors_origins=["https://news.example"]) as open_:
        allowed = open_.get("/search", params={"q": "冬季"}, headers=origin)
        assert allowed.headers["access-control-allow-origin"] == "https://news.example"
        other = open_.get("/search", params={"q": "冬季"}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = open_.options("/articles", headers={**origin, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200


def test_searches_run_alongside_a_write_and_see_only_commits(client: TestClient) -> None:
    batch = [{"id": f"b{i}", "title": f"批次{i}", "text": "青稞丰收。" * 20} for i in range(300)]
    totals: list[int] = []
    errors: list[int] = []
    done = threading.Event()

    def write() -> None:
        try:
            assert client.post("/articles", json=batch, headers=AUTH).status_code == 200
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        response = client.get("/search", params={"q": "青稞"})
        (totals if response.status_code == 200 else errors).append(response.json().get("total", response.status_code))
    writer.join()
    assert errors == []
    assert set(totals) <= {0, 300}  # nothing half-written is ever seen
    assert client.get("/search", params={"q": "青稞"}).json()["total"] == 300


@pytest.mark.parametrize(("search_threads", "on_the_loop"), [(None, False), (2, False), (0, True)])
def test_searches_run_on_search_threads_or_on_the_loops_thread(index_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                              search_threads: int | None, on_the_loop: bool) -> None:
    seen: list[str] = []
    search = SearchIndex.search

    def recording(self: SearchIndex, *args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return search(self, *args, **kwargs)

    monkeypatch.setattr(SearchIndex, "search", recording)
    with client_for(index_dir, search_threads=search_threads) as test_client:
        loop_thread = test_client.portal.call(threading.current_thread).name  # type: ignore[union-attr]
        assert test_client.get("/search", params={"q": "冬季"}).json()["total"] == 4
    assert seen == [loop_thread] if on_the_loop else len(seen) == 1 and seen[0].startswith("searchkit-search")
