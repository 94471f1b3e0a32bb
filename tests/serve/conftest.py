"""Shared fixtures for the service's tests: tiny trained runs (GANs, image-to-image, unpaired), clients,
a live uvicorn server."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

import gankit
from helpers import tiny_config

@pytest.fixture(scope="session")
def runs(tmp_path_factory, tiny_idx_dir):
    """{"plain": an unconditional DCGAN run, "cond": a class-conditional (ac) one}, a few steps each."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("serve-runs")
    out = {"plain": gankit.train(tiny_config(root / "plain", tiny_idx_dir)),
           "cond": gankit.train(tiny_config(root / "cond", tiny_idx_dir, {"model": {"conditional": "ac"}}))}
    torch.set_num_threads(before)
    return out


@pytest.fixture(scope="session")
def i2i_runs(tmp_path_factory, tiny_idx_dir):
    """{"superres": a x2 super-resolution U-Net run, "inpaint": an inpainting one, "denoise": a denoising
    one}, a couple of steps each (untrained U-Nets start at the classical baseline, so they already work)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("serve-i2i-runs")
    out = {task: gankit.train(tiny_config(root / task, tiny_idx_dir, "model.arch=unet", f"data.task={task}",
                                          "data.scale=2", "train.kimg=0.032"), progress=False)
           for task in ("superres", "inpaint", "denoise")}
    torch.set_num_threads(before)
    return out


@pytest.fixture(scope="session")
def unpaired_runs(tmp_path_factory):
    """{"cyclegan": a CycleGAN, "munit": an example-guided style translator}: squares <-> circles at 16 px,
    a couple of steps each (helpers.train_unpaired_runs, as tests/apps/test_apps_unpaired.py trains them)."""
    from helpers import train_unpaired_runs
    return train_unpaired_runs(tmp_path_factory.mktemp("serve-unpaired-runs"))


def _png_bytes(size=(28, 28), mode="L", value=90, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    Image.fromarray(np.full((size[1], size[0], *channels), value, np.uint8), mode).save(buf, fmt)
    return buf.getvalue()


def _decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return np.array(img)


@pytest.fixture(scope="session")
def served(runs):
    from gankit.serve.model import load
    return {name: load(path) for name, path in runs.items()}


@pytest.fixture
def client_of():
    """client_of(run_or_served, **limits) -> a TestClient (closed at the end of the test)."""
    from fastapi.testclient import TestClient

    from gankit.serve import Limits, create_app
    opened = []

    def make(run, **limits):
        client = TestClient(create_app(run, Limits(**limits)))
        client.__enter__()
        opened.append(client)
        return client
    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def png_bytes():
    """png_bytes(size=(w, h), mode="L", value=90) -> the bytes of a flat PNG."""
    return _png_bytes


@pytest.fixture
def decode_png():
    """decode_png(bytes) -> the PNG's pixels as a numpy array (asserting it is a PNG)."""
    return _decode_png


@pytest.fixture
def live_server():
    """live_server(app): a context manager serving app with uvicorn on a free loopback port (yields its URL)."""
    return _live_server


@contextlib.contextmanager
def _live_server(app):
    """Serve `app` with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
