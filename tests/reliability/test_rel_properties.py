"""Property-based tests (issue 5): random bytes into every reader and random text, overrides and
nested values into the config parser give a valid result or the project's own error, never a
traceback from somewhere else."""

from __future__ import annotations

import dataclasses
import gzip
import io
import itertools
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from gankit import config as C
from gankit.data import DataError, cifar, folder, idx
from gankit.io import checkpoint as ck

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


_BASE: list[Path] = []
_COUNT = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _examples_dir(tmp_path_factory):
    _BASE[:] = [tmp_path_factory.mktemp("examples")]


def _tmp() -> Path:
    """A fresh folder per example (hypothesis runs many examples per test function)."""
    path = _BASE[0] / str(next(_COUNT))
    path.mkdir()
    return path


# ---------------------------------------------------------------------------
# IDX


def _idx_like(draw_bytes: bytes, magic: int, dims: list[int]) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + draw_bytes


idx_files = st.one_of(
    st.binary(max_size=300),
    st.builds(_idx_like, st.binary(max_size=200), st.sampled_from([0x803, 0x801, 0x80D, 0]),
              st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 12), min_size=0, max_size=4)),
)


@SETTINGS
@given(data=idx_files, gz=st.booleans(), labels=st.booleans())
@example(data=_idx_like(bytes(16), 0x803, [1, 4, 4]), gz=False, labels=False)
@example(data=_idx_like(b"", 0x803, [2**32 - 1] * 3), gz=True, labels=False)
def test_idx_reader_random_bytes(data, gz, labels):
    path = _tmp() / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(data) if gz and len(data) % 3 else data)  # some .gz are not gzip at all
    read = idx.read_labels if labels else idx.read_images
    try:
        out = read(path)
    except DataError as e:
        assert str(path) in str(e)
        return
    assert out.dtype == (torch.int64 if labels else torch.uint8)


# ---------------------------------------------------------------------------
# CIFAR-10


@pytest.fixture(autouse=True)
def _small_cifar(monkeypatch):
    monkeypatch.setattr(cifar, "RECORDS", 2)


@SETTINGS
@given(data=st.binary(max_size=3 * 3073 + 2)
       | st.builds(lambda n, b: b * n, st.integers(0, 3), st.binary(min_size=3073, max_size=3073)))
def test_cifar_binary_random_bytes(data):
    try:
        x, y = cifar.parse_binary(data, "batch.bin")
    except DataError as e:
        assert "batch.bin" in str(e)
        return
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.uint8 and y.max() < 10


leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.binary(max_size=20),
                   st.text(max_size=10), st.builds(lambda n: np.zeros((n, 3072), np.uint8), st.integers(0, 3)),
                   st.builds(lambda n: np.arange(n), st.integers(0, 4)))
pickled = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                       | st.dictionaries(st.sampled_from([b"data", b"labels", "data", "labels", b"x"]), inner,
                                         max_size=3), max_leaves=10)


@SETTINGS
@given(obj=pickled, protocol=st.integers(2, 5), cut=st.integers(0, 3))
def test_cifar_python_random_pickles_and_bytes(obj, protocol, cut):
    data = pickle.dumps(obj, protocol=protocol)
    data = data[: len(data) * cut // 3] if cut < 3 else data
    try:
        x, y = cifar.parse_python(data, "data_batch_1")
    except DataError as e:
        assert "data_batch_1" in str(e)
        return
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.uint8 and len(y) == 2


@SETTINGS
@given(data=st.binary(max_size=400))
def test_cifar_python_random_bytes(data):
    try:
        cifar.parse_python(data, "test_batch")
    except DataError:
        pass


# ---------------------------------------------------------------------------
# image folders


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


SEEDS = {".png": _encoded("PNG"), ".jpg": _encoded("JPEG"), ".bmp": _encoded("BMP"), ".webp": _encoded("WEBP")}


@st.composite
def image_files(draw):
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    how = draw(st.sampled_from(["random", "mutate", "cut"]))
    if how == "random":
        return suffix, draw(st.binary(max_size=200))
    data = bytearray(SEEDS[suffix])
    if how == "cut":
        return suffix, bytes(data[:draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(1, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return suffix, bytes(data)


@SETTINGS
@given(file=image_files(), skip=st.booleans())
def test_image_folder_random_files(file, skip):
    suffix, data = file
    root = _tmp()
    (root / f"img{suffix}").write_bytes(data)
    (root / "good.png").write_bytes(SEEDS[".png"])
    try:
        out = folder.load_folder(root, 3, 8, skip_bad=skip, max_bad_fraction=0.5)
    except DataError as e:
        assert str(root) in str(e) and "img" in str(e)
        return
    assert out.x.shape[1:] == (3, 8, 8) and len(out) in (1, 2)


# ---------------------------------------------------------------------------
# the config parser

toml_pieces = st.sampled_from(["[data]", "[train]", "[model]", "[", "]", "=", "\n", '"', "'", "name", "width",
                               "kimg", "1", "-3", "1e400", "nan", "inf", "true", "[[", "{", "}", ",", ".",
                               "out", "9" * 30, "x = [[[[", "\\u0000", "#"])
toml_text = st.lists(toml_pieces | st.text(max_size=6), max_size=30).map(" ".join)


def _clean(call):
    try:
        cfg = call()
    except C.ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return None
    assert isinstance(cfg, C.Config)
    C.validate(cfg)
    cfg.dumps()  # a valid config can always be written back
    return cfg


@SETTINGS
@given(text=toml_text)
@example(text="a = " + "[" * 5000)
@example(text="[train]\nkimg = " + "9" * 40)
@example(text='[train]\nkimg = nan')
def test_config_files_random_text(text):
    path = _tmp() / "c.toml"
    path.write_text(text)
    _clean(lambda: C.resolve(file=path))


@SETTINGS
@given(overrides=st.lists(st.text(max_size=25) | st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
    ["model.width", "train.kimg", "data", "data.name", "optim.lr_g", "out", "train", "a.b.c", ".", "train.kimg."]),
    toml_text), max_size=4))
@example(overrides=["train.kimg=" + "9" * 400])
@example(overrides=["train.kimg=" + "[" * 3000])
@example(overrides=["train.kimg=inf"])
def test_config_overrides_random_strings(overrides):
    _clean(lambda: C.resolve(preset="toy-ring", overrides=overrides))


values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(), st.text(max_size=8)),
                      lambda inner: (st.lists(inner, max_size=3)
                                     | st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
section_keys = {f.name: [g.name for g in dataclasses.fields(f.default_factory)]
                for f in dataclasses.fields(C.Config) if dataclasses.is_dataclass(f.default_factory)}
nested = st.dictionaries(
    st.sampled_from([*section_keys, "out", "bogus"]),
    st.one_of(values, st.builds(dict, st.lists(st.tuples(st.sampled_from(sorted({k for ks in section_keys.values()
                                                                                 for k in ks})), values),
                                               max_size=4))),
    max_size=4)


@SETTINGS
@given(tree=nested)
@example(tree={"train": {"kimg": 10**400}})
@example(tree={"data": {"resolution": 2**64}})
@example(tree={"optim": {"lr_g": float("inf")}})
def test_config_from_random_nested_dicts(tree):
    def build():
        cfg = C.from_dict(tree)
        C.validate(cfg)
        return cfg
    _clean(build)


# ---------------------------------------------------------------------------
# checkpoints: a random manifest or state never escapes as anything but CheckpointError


@SETTINGS
@given(manifest=st.one_of(st.binary(max_size=80), values.map(lambda v: repr(v).encode()),
                          st.dictionaries(st.sampled_from(["format", "version", "files", "step"]), values).map(
                              lambda d: json.dumps({"format": "gankit-checkpoint", "version": 1, **d},
                                                   default=str).encode())),
       state=st.binary(max_size=100))
def test_checkpoint_random_manifest_and_state(manifest, state):
    path = _tmp() / "step_000000001"
    path.mkdir()
    (path / "COMPLETE").write_bytes(b"")
    (path / "manifest.json").write_bytes(manifest)
    (path / "state.pt").write_bytes(state)
    with pytest.raises(ck.CheckpointError):
        ck.load_checkpoint(path)
    try:  # random bytes may happen to be a tiny valid pickle (e.g. of an int): a value, or a clean refusal
        ck.load_state_bytes(state, path / "state.pt")
    except ck.CheckpointError:
        pass
