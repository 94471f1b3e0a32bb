"""The FID Inception-v3 plumbing on a randomly initialised network (the real weights are not shipped)."""

from __future__ import annotations

import pytest
import safetensors.torch
import torch

from gankit.evaluation.features import extract
from gankit.evaluation.inception import FIDInceptionV3, load_inception
from gankit.io.files import FileError


@pytest.fixture(scope="module")
def net_and_out():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the tests (conftest), so that outputs compare bitwise
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = FIDInceptionV3().eval()
        for m in net.modules():  # He init keeps activations O(1) through 90+ layers (PyTorch's default fades)
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        images = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)  # grey, small: repeated and resized
    out = extract(net, images)
    torch.set_num_threads(before)
    return net, images, out


def test_gives_2048_features_deterministically(net_and_out):
    net, images, out = net_and_out
    assert out.shape == (2, 2048) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert out.std() > 1e-3 and (out[0] - out[1]).abs().max() > 1e-3
    assert torch.equal(extract(net, images), out)


def test_state_dict_round_trips_through_torch_save_and_safetensors(net_and_out, tmp_path):
    net, images, out = net_and_out
    torch.save(net.state_dict(), tmp_path / "w.pth")
    loaded = load_inception(tmp_path / "w.pth")
    assert torch.equal(extract(loaded, images), out)
    assert loaded.cache_key.startswith("inception:")
    safetensors.torch.save_file({k: v.contiguous() for k, v in net.state_dict().items()},
                                str(tmp_path / "w.safetensors"))
    again = load_inception(tmp_path / "w.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), net.state_dict().values()))


def test_pytorch_fid_wrapper_names_load(net_and_out, tmp_path):
    """pytorch-fid's InceptionV3 keeps the layers under blocks.<i>.<j> and has no fc."""
    net, _, _ = net_and_out
    names = {"Conv2d_1a_3x3": "blocks.0.0", "Conv2d_2a_3x3": "blocks.0.1", "Conv2d_2b_3x3": "blocks.0.2",
             "Conv2d_3b_1x1": "blocks.1.0", "Conv2d_4a_3x3": "blocks.1.1", "Mixed_5b": "blocks.2.0",
             "Mixed_5c": "blocks.2.1", "Mixed_5d": "blocks.2.2", "Mixed_6a": "blocks.2.3", "Mixed_6b": "blocks.2.4",
             "Mixed_6c": "blocks.2.5", "Mixed_6d": "blocks.2.6", "Mixed_6e": "blocks.2.7", "Mixed_7a": "blocks.3.0",
             "Mixed_7b": "blocks.3.1", "Mixed_7c": "blocks.3.2"}
    wrapped = {}
    for k, v in net.state_dict().items():
        head, rest = k.split(".", 1)
        if head != "fc" and not k.endswith("num_batches_tracked"):
            wrapped[f"{names[head]}.{rest}"] = v
    torch.save(wrapped, tmp_path / "wrapped.pth")
    loaded = load_inception(tmp_path / "wrapped.pth")
    own = net.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in loaded.state_dict().items()
               if not k.startswith("fc.") and not k.endswith("num_batches_tracked"))


def test_missing_or_wrong_weights_are_one_line_errors(tmp_path):
    with pytest.raises(FileError, match="no such file.*does not ship or download"):
        load_inception(tmp_path / "nope.pth")
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(FileError, match="is not the FID Inception-v3: missing Conv2d_1a_3x3") as e:
        load_inception(tmp_path / "other.pth")
    assert "\n" not in str(e.value)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(FileError, match="weights_only=True"):
        load_inception(tmp_path / "junk.pth")
