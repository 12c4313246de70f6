"""`searchkit serve` as a real process: it starts, says where, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import socket
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")

from searchkit import SearchIndex
from tests.live_server import CLI, LiveServer

KEY = "process-key"


def test_serve_starts_serves_and_stops_on_sigterm_finishing_the_write_in_flight(tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    server = LiveServer(ix, options=["--lock-timeout", "60"], api_key=KEY)
    assert server.lines == [f"note: created an empty index at {ix}", f"searchkit: serving {ix} at {server.url}/ (Ctrl-C stops)"]
    assert server.url.startswith("http://127.0.0.1:")
    assert server.request("GET", "/health") == (200, {"status": "ok"})
    auth = {"Authorization": f"Bearer {KEY}"}
    assert server.request("POST", "/articles", [{"id": "a", "title": "珠峰", "text": "登顶珠峰。"}], auth)[0] == 200
    assert server.request("GET", "/search?q=" + urllib.parse.quote("珠峰"))[1]["total"] == 1

    # A write waits for the lock that another writer holds; SIGTERM comes meanwhile.
    holder = SearchIndex(ix).store.writer(30.0)
    answer: list[tuple[int, object]] = []
    batch = [{"id": f"b{i}", "title": "雪豹", "text": "雪豹在珠峰出没。"} for i in range(50)]
    poster = threading.Thread(target=lambda: answer.append(server.request("POST", "/articles", batch, auth)))
    poster.start()
    try:
        assert _in_flight(server, poster)
        server.process.send_signal(15)
        poster.join(timeout=1)
        assert poster.is_alive()  # still waiting for the lock: the server has not dropped it
    finally:
        holder.cancel()
    poster.join(timeout=60)
    code, out, err = server.stop()
    assert answer == [(200, {"articles": 50, "paragraphs": 50, "warnings": []})]
    assert (code, out, err) == (0, "searchkit: stopped\n", "")
    with SearchIndex(ix, lock_timeout=0).writer() as writer:  # the lock was released
        writer.delete_article("a")
    assert SearchIndex(ix).search("雪豹").total == 50


def _in_flight(server: LiveServer, poster: threading.Thread) -> bool:
    """Whether the POST reached the server (it then waits for the lock): another request is answered after it."""
    for _ in range(200):
        if not poster.is_alive():
            return False
        status, _body = server.request("GET", "/health")
        if status == 200:
            poster.join(timeout=0.05)
            return poster.is_alive()
    return False


def test_a_busy_port_is_one_line_and_exit_5(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*CLI, "--index", str(tmp_path / "ix"), "serve", "--port", str(port)],
                                capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 5
    assert result.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_without_a_key_it_says_writes_are_off_and_warns_off_loopback(tmp_path: Path) -> None:
    loopback = LiveServer(tmp_path / "ix")
    assert loopback.lines[1:-1] == ["note: writes are disabled: no API key (--api-key or SEARCHKIT_API_KEY)"]
    assert loopback.stop()[0] == 0
    public = LiveServer(tmp_path / "ix", "--host", "0.0.0.0")
    assert public.lines[:-1] == [
        "note: writes are disabled: no API key (--api-key or SEARCHKIT_API_KEY)",
        "warning: listening on 0.0.0.0 without an API key: anyone who can reach it can search this index",
    ]
    assert public.stop()[0] == 0
    keyed = LiveServer(tmp_path / "ix", "--host", "0.0.0.0", api_key=KEY)
    assert keyed.lines[:-1] == []
    assert keyed.stop()[0] == 0


def test_the_listening_socket_is_tcp_so_answers_are_not_held_back() -> None:
    # asyncio disables Nagle's algorithm only on sockets that name IPPROTO_TCP; without it every
    # keep-alive answer waited for the client's delayed ACK (40 ms).
    from searchkit.server import _listen

    sock = _listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
