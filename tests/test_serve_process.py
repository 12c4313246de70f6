"""`searchkit serve` as real processes: it starts, says where, serves, and stops cleanly on SIGTERM;
with `--workers 2`, two worker processes share the port, each sees the other's writes, a worker
that dies is replaced, and none outlives the server."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")

from searchkit import SearchIndex
from searchkit import server as server_module
from searchkit.errors import SearchkitError
from tests.live_server import CLI, LiveServer

KEY = "process-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def start(tmp_path: Path) -> Any:
    """``LiveServer(...)``, each one killed at the end if a failed test left it running."""
    started: list[LiveServer] = []

    def starting(*args: Any, **kwargs: Any) -> LiveServer:
        started.append(LiveServer(*args, **kwargs))
        return started[-1]

    yield starting
    for server in started:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.communicate()


linux_only = pytest.mark.skipif(not Path("/proc/net/tcp").exists() or not hasattr(os, "fork"),
                                reason="finds the worker processes and their connections in /proc")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_starts_serves_and_stops_on_sigterm_finishing_the_write_in_flight(start: Any, tmp_path: Path, workers: int) -> None:
    ix = tmp_path / "ix"
    server = start(ix, "--workers", str(workers), options=["--lock-timeout", "60"], api_key=KEY)
    processes = "2 worker processes; " if workers == 2 else ""
    assert server.lines == [f"note: created an empty index at {ix}",
                            f"searchkit: serving {ix} at {server.url}/ ({processes}Ctrl-C stops)"]
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


def test_without_a_key_it_says_writes_are_off_and_warns_off_loopback(start: Any, tmp_path: Path) -> None:
    loopback = start(tmp_path / "ix")
    assert loopback.lines[1:-1] == ["note: writes are disabled: no API key (--api-key or SEARCHKIT_API_KEY)"]
    assert loopback.stop()[0] == 0
    public = start(tmp_path / "ix", "--host", "0.0.0.0")
    assert public.lines[:-1] == [
        "note: writes are disabled: no API key (--api-key or SEARCHKIT_API_KEY)",
        "warning: listening on 0.0.0.0 without an API key: anyone who can reach it can search this index",
    ]
    assert public.stop()[0] == 0
    keyed = start(tmp_path / "ix", "--host", "0.0.0.0", api_key=KEY)
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


# --------------------------------------------------------------------------
# --workers


def _children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended (its new parent may not reap it)


def _owner(connection: http.client.HTTPConnection, pids: set[int]) -> int:
    """The worker process holding the server's end of ``connection`` (from /proc/net/tcp)."""
    client_port = connection.sock.getsockname()[1]
    server_port = connection.sock.getpeername()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            inode = fields[9]
    assert inode is not None
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds the connection from port {client_port}")


def _ask(connection: http.client.HTTPConnection, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    connection.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _one_connection_per_worker(server: LiveServer, workers: set[int]) -> dict[int, http.client.HTTPConnection]:
    """Keep-alive connections, one held by each worker (a new connection goes to the one holding fewest)."""
    host, port = urllib.parse.urlparse(server.url).netloc.split(":")
    held: dict[int, http.client.HTTPConnection] = {}
    extra = []
    for _ in range(40):
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        assert _ask(connection, "GET", "/health") == (200, {"status": "ok"})
        owner = _owner(connection, workers)
        if owner in held:
            extra.append(connection)
        else:
            held[owner] = connection
        if len(held) == len(workers):
            break
    for connection in extra:
        connection.close()
    assert set(held) == workers
    return held


@linux_only
def test_a_write_through_one_worker_is_seen_by_the_other_at_once(start: Any, tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    server = start(ix, "--workers", "2", api_key=KEY)
    workers = _children(server.process.pid)
    assert len(workers) == 2
    (a, to_a), (b, to_b) = _one_connection_per_worker(server, workers).items()
    search = "/search?q=" + urllib.parse.quote("雪豹")
    # Both have a searcher open before the write: they must see that the index changed.
    assert _ask(to_a, "GET", search)[1]["total"] == 0
    assert _ask(to_b, "GET", search)[1]["total"] == 0
    assert _ask(to_a, "POST", "/articles", [{"id": "p1", "title": "高原", "text": "雪豹在珠峰出没。"}], AUTH)[0] == 200
    assert _ask(to_b, "GET", search)[1]["total"] == 1
    assert _ask(to_a, "GET", search)[1]["total"] == 1
    assert _ask(to_b, "DELETE", "/articles/p1", headers=AUTH) == (200, {"deleted": "p1"})
    assert _ask(to_a, "GET", search)[1]["total"] == 0
    assert _ask(to_a, "GET", "/stats")[1]["articles"] == _ask(to_b, "GET", "/stats")[1]["articles"] == 0
    # And a write by another process (`searchkit index`'s way) is seen by both.
    SearchIndex(ix).add_articles([{"id": "p2", "title": "雪豹", "text": "雪豹。"}])
    assert _ask(to_a, "GET", search)[1]["total"] == _ask(to_b, "GET", search)[1]["total"] == 1
    assert {_owner(to_a, workers), _owner(to_b, workers)} == {a, b}  # still the same two connections
    to_a.close()
    to_b.close()
    assert server.stop() == (0, "searchkit: stopped\n", "")


@linux_only
def test_sigterm_stops_every_worker_and_releases_the_lock(start: Any, tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    server = start(ix, "--workers", "2", api_key=KEY)
    workers = _children(server.process.pid)
    assert len(workers) == 2
    connections = _one_connection_per_worker(server, workers)
    assert all(_ask(c, "POST", "/articles", [{"id": f"w{pid}", "title": "雪豹", "text": "雪豹。"}], AUTH)[0] == 200
               for pid, c in connections.items())
    code, out, err = server.stop()
    assert (code, out, err) == (0, "searchkit: stopped\n", "")
    assert not any(_alive(pid) for pid in workers)
    with SearchIndex(ix, lock_timeout=0).writer() as writer:  # no worker holds the lock
        writer.delete_article(f"w{min(workers)}")
    assert SearchIndex(ix).search("雪豹").total == 1


@linux_only
def test_a_worker_that_dies_is_replaced_and_said_so(start: Any, tmp_path: Path) -> None:
    server = start(tmp_path / "ix", "--workers", "2", api_key=KEY)
    workers = _children(server.process.pid)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    line = server.process.stdout.readline()  # type: ignore[union-attr]
    prefix = f"searchkit: worker process {victim} was ended by SIGKILL; started process "
    assert line.startswith(prefix) and line.endswith(" instead\n")
    replacement = int(line[len(prefix):].split()[0])
    assert _children(server.process.pid) == workers - {victim} | {replacement}
    connections = _one_connection_per_worker(server, workers - {victim} | {replacement})
    assert all(_ask(c, "GET", "/health") == (200, {"status": "ok"}) for c in connections.values())
    for connection in connections.values():
        connection.close()
    assert server.stop() == (0, "searchkit: stopped\n", "")
    assert not _alive(replacement)


@linux_only
def test_no_worker_outlives_a_killed_server(start: Any, tmp_path: Path) -> None:
    server = start(tmp_path / "ix", "--workers", "2")
    workers = _children(server.process.pid)
    assert len(workers) == 2
    server.process.kill()  # no chance to stop them: the kernel sends each SIGTERM (PR_SET_PDEATHSIG)
    server.process.communicate(timeout=60)
    for pid in workers:
        for _ in range(600):
            if not _alive(pid):
                break
            time.sleep(0.1)
        assert not _alive(pid)


@linux_only
def test_a_worker_that_fails_before_serving_stops_the_service_in_one_line(tmp_path: Path, monkeypatch: Any,
                                                                          capfd: Any) -> None:
    index = SearchIndex.create(tmp_path / "ix")

    def fail(self: Any, parent: int, slot: int) -> int:
        raise SearchkitError("cannot start")

    monkeypatch.setattr(server_module._Workers, "_work", fail)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)}
    lines: list[str] = []
    with pytest.raises(server_module.WorkerError) as raised:
        server_module.serve(index, port=0, workers=2, announce=lines.append)
    assert str(raised.value) == "a worker process exited with code 1 before it could serve: stopped"
    assert raised.value.exit_code == 1
    assert lines == ["note: writes are disabled: no API key (--api-key or SEARCHKIT_API_KEY)"]  # never the URL
    err = capfd.readouterr().err.splitlines()
    assert err and all(line.startswith("Error: worker process ") and line.endswith(": cannot start") for line in err)
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers  # given back


@linux_only
def test_workers_that_keep_ending_stop_the_service(tmp_path: Path, monkeypatch: Any) -> None:
    index = SearchIndex.create(tmp_path / "ix")

    def serve_then_end(self: Any, parent: int, slot: int) -> int:
        os.write(self.ready_write, server_module._PID.pack(os.getpid()))
        return 0

    monkeypatch.setattr(server_module._Workers, "_work", serve_then_end)
    lines: list[str] = []
    with pytest.raises(server_module.WorkerError, match=r"^worker processes keep ending \(11 in a minute, the last "
                                                         r"one exited with code 0\): stopped$"):
        server_module.serve(index, port=0, workers=2, announce=lines.append)
    replaced = [line for line in lines if " exited with code 0; started process " in line]
    assert len(replaced) == server_module.RESTARTS_PER_MINUTE


def test_workers_must_be_at_least_one(tmp_path: Path) -> None:
    result = subprocess.run([*CLI, "--index", str(tmp_path / "ix"), "serve", "--workers", "0"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "Invalid value for '--workers': 0 is not in the range 1<=x<=256." in result.stderr
    assert not (tmp_path / "ix").exists()


def test_a_searcher_opened_while_another_process_commits_reads_the_new_state(tmp_path: Path, monkeypatch: Any) -> None:
    # Each worker opens new searchers after every commit of the others; a commit that removes the
    # files it was opening (merged segments, the old table of contents) must not fail the search.
    index = SearchIndex.create(tmp_path / "ix")
    index.add_articles([{"id": "a", "title": "雪豹", "text": "雪豹。"}])
    index.close()
    opened = index.store._ix.searcher
    failures = iter([FileNotFoundError("_MAIN_1.toc"), FileNotFoundError("MAIN_x.seg")])

    def racing() -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return opened()

    monkeypatch.setattr(index.store._ix, "searcher", racing)
    assert index.search("雪豹").total == 1
