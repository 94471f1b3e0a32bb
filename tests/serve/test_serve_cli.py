"""`gankit serve` on the command line: its help, one-line refusals, a real process that serves and stops,
and an upload that never arrives."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn, python-multipart) is not installed")

from gankit.cli import main  # noqa: E402


def test_help_names_every_endpoint_and_limit(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for needle in ("/api/sample", "/api/interpolate", "/api/score", "/api/translate", "/api/health", "/api/model",
                   "/openapi.json", "--max-n", "--max-upload-mb", "--queue", "Retry-After", "413", "415", "422",
                   "--host", "--port"):
        assert needle in text, needle


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("gankit: error: "), err
    return err


def test_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope"), "--port", "0"]) == 1
    assert "no such run" in _one_line(capsys)


def test_a_taken_port_is_one_line(runs, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", str(runs["plain"]), "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in _one_line(capsys)


def test_a_missing_extra_is_one_line_naming_it(runs, capsys, monkeypatch):
    import gankit.extras
    real = gankit.extras.importlib.util.find_spec
    monkeypatch.setattr(gankit.extras.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("fastapi", "python_multipart") else real(name, *a))
    assert main(["serve", str(runs["plain"])]) == 1
    assert _one_line(capsys) == ("gankit: error: gankit serve needs the optional extra 'serve' (fastapi, "
                                 "python-multipart not installed): pip install 'gankit[serve]'")


@pytest.mark.parametrize("argv, needle", [(["--port", "70000"], "--port"), (["--max-n", "0"], "--max-n"),
                                          (["--queue", "-1"], "--queue"), (["--timeout", "nan"], "--timeout"),
                                          (["--threads", "100000"], "--threads")])
def test_bad_options_are_refused_by_argparse(runs, capsys, argv, needle):
    with pytest.raises(SystemExit) as e:
        main(["serve", str(runs["plain"]), *argv])
    assert e.value.code == 2 and needle in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter imports torch and FastAPI: ~6 s here
def test_a_real_process_serves_until_interrupted(runs):
    """A run's generator/ folder alone: served, with a note that score needs the checkpoints."""
    import httpx
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "serve", str(runs["plain"] / "generator"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"serving {runs['plain'] / 'generator'} on http://127.0.0.1:"), line + proc.stderr.read()
        base = line.split(" on ")[1].split("/ ")[0]
        assert httpx.get(f"{base}/api/health", timeout=30).json()["status"] == "ok"
        r = httpx.get(f"{base}/api/sample", params={"n": 4}, timeout=30)
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read()
        assert "Traceback" not in err and err.strip().splitlines()[-1] == "gankit: stopped serving", err
        assert err.startswith("note: /api/score is off: no discriminator to ask: "), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _read_answer(s: socket.socket) -> str:
    """The whole HTTP answer on s: its headers, then Content-Length bytes of body (the server may
    send them in separate packets, so one recv can stop after the headers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return data.decode("latin-1")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    while length is not None and len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_an_upload_that_does_not_arrive_in_time_is_408(served, live_server):
    from gankit.serve import Limits, create_app
    with live_server(create_app(served["plain"], Limits(timeout_s=0.5))) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"POST /api/score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      b"Content-Length: 100000\r\n\r\n--b\r\n")  # ... and then nothing
            start = time.monotonic()
            answer = _read_answer(s)
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "did not arrive within 0.5 s" in answer and time.monotonic() - start < 25


def test_uploads_being_received_are_bounded_too(served, live_server, png_bytes):
    """An upload is read before it reaches the work queue: at most workers + queue at once, then 503."""
    import httpx

    from gankit.serve import Limits, create_app
    with live_server(create_app(served["plain"], Limits(workers=1, queue=0, timeout_s=20))) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as stalled:
            stalled.sendall(b"POST /api/score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                            b"boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n")
            deadline = time.monotonic() + 20
            while True:  # until the stalled upload holds the one place
                r = httpx.post(f"{base}/api/score", files=[("images", ("x.png", png_bytes(), "image/png"))],
                               timeout=30)
                if r.status_code == 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert r.status_code == 503 and "upload place" in r.json()["detail"] and r.headers["retry-after"]
        deadline = time.monotonic() + 20
        while True:  # the stalled connection closed: its place is free again
            r = httpx.post(f"{base}/api/score", files=[("images", ("x.png", png_bytes(), "image/png"))], timeout=30)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.status_code == 200
