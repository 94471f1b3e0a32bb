"""Inception-v3 as used for published FIDs, with weights only from a file the user gives.

The network is the TensorFlow FID Inception (inception-2015-12-05, as ported
by pytorch-fid): torchvision's Inception-v3 layout with 1008 classes and the
FID blocks FIDInceptionA/C/E_1/E_2, whose average pools ignore padding and
whose last block max-pools. Features are the 2048-D global average pool.
Parameter names match torchvision/pytorch-fid (``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch1x1.bn.running_mean``, ... ``fc.weight``), so the pytorch-fid
file ``pt_inception-2015-12-05-6726825d.pth`` loads as is; a safetensors copy
of it works too.

gankit does not ship or download these weights: `load_inception` reads the
path it is given (safetensors, or a state_dict file read with
``torch.load(weights_only=True)``, which never runs pickled code).

Input: float (N, C, H, W) in [-1, 1], C in {1, 3}. Grayscale is repeated to
RGB; images are resized to 299x299 bilinearly (as pytorch-fid does).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.io.files import FileError, sha256_file

__all__ = ["FIDInceptionV3", "load_inception", "NOT_SHIPPED"]

NOT_SHIPPED = ("gankit does not ship or download the Inception weights: pass the FID Inception file "
               "(pytorch-fid's pt_inception-2015-12-05-6726825d.pth, or a safetensors copy) "
               "with --inception-weights FILE")

# ------------------------------------------------------------------ building blocks


class BasicConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg3(x: Tensor) -> Tensor:
    # TensorFlow's average pool leaves the zero padding out of the mean.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    def __init__(self, c_in: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(c_in, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg3(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionC(nn.Module):
    def __init__(self, c_in: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(c_in, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    """FIDInceptionE_1 (pool="avg", padding excluded) and FIDInceptionE_2 (pool="max")."""

    def __init__(self, c_in: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(c_in, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(c_in, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        # The FID graph max-pools in its last block (unlike the paper); kept for comparable numbers.
        pooled = _avg3(x) if self.pool == "avg" else F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pooled)], 1)


# ------------------------------------------------------------------ the network


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3: ``forward`` maps float (N, C, H, W) in [-1, 1] to (N, 2048) pool features.

    Built with PyTorch's default initialisation (meaningless features) until
    weights are loaded with `load_inception`.
    """

    feature_dim = 2048

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, pool="avg")
        self.Mixed_7c = FIDInceptionE(2048, pool="max")
        self.fc = nn.Linear(2048, 1008)  # unused for features; present so the published file loads strictly

    @staticmethod
    def prepare(x: Tensor) -> Tensor:
        """[-1, 1] (N, 1 or 3, H, W) -> (N, 3, 299, 299), as pytorch-fid feeds the network."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"Inception input must be (N, 1 or 3, H, W), got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self.prepare(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


# ------------------------------------------------------------------ loading weights

# pytorch-fid's InceptionV3 wrapper stores the same layers as blocks.<i>.<j>; pooling layers hold no weights.
_WRAPPER_NAMES = {
    "blocks.0.0": "Conv2d_1a_3x3", "blocks.0.1": "Conv2d_2a_3x3", "blocks.0.2": "Conv2d_2b_3x3",
    "blocks.1.0": "Conv2d_3b_1x1", "blocks.1.1": "Conv2d_4a_3x3",
    **{f"blocks.2.{i}": name for i, name in enumerate(
        ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"])},
    "blocks.3.0": "Mixed_7a", "blocks.3.1": "Mixed_7b", "blocks.3.2": "Mixed_7c",
}


def _rename(key: str) -> str:
    for prefix in ("module.",):  # saved from DataParallel
        if key.startswith(prefix):
            key = key[len(prefix):]
    parts = key.split(".")
    if len(parts) > 2 and parts[0] == "blocks":
        head = ".".join(parts[:3])
        if head in _WRAPPER_NAMES:
            return ".".join([_WRAPPER_NAMES[head], *parts[3:]])
    return key


def _read_tensors(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        import safetensors.torch
        try:
            return safetensors.torch.load_file(str(path))
        except Exception as e:
            raise FileError(f"--inception-weights: {path} is not a valid safetensors file ({e})") from None
    from gankit.io.checkpoint import CheckpointError, load_torch_file  # io owns every torch.load
    try:
        obj = load_torch_file(path)
    except CheckpointError as e:
        raise FileError(f"--inception-weights: not a safetensors file or a torch state_dict "
                        f"loadable with weights_only=True: {e}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise FileError(f"--inception-weights: {path} does not hold a state_dict of tensors")
    return dict(obj)


def load_inception(path: str | Path, device="cpu") -> FIDInceptionV3:
    """FIDInceptionV3 in eval mode with the weights of `path` (never downloaded).

    Accepts safetensors or a torch state_dict file (torch.load with
    weights_only=True), with torchvision/pytorch-fid parameter names or the
    pytorch-fid InceptionV3 wrapper's ``blocks.*`` names; ``fc`` and BatchNorm's
    ``num_batches_tracked`` may be absent. Every other tensor must be present
    with the right shape (FileError listing the mismatches otherwise).
    The model gets a ``cache_key`` (the file's sha256) for the real-feature cache.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileError(f"--inception-weights: no such file {str(path)!r} ({NOT_SHIPPED})")
    tensors = {_rename(k): v for k, v in _read_tensors(path).items()}
    with torch.device("meta"):  # shapes only: the file supplies every value, so skip the random init
        model = FIDInceptionV3()
    own = model.state_dict()
    optional = {k for k in own if k.endswith("num_batches_tracked") or k.startswith("fc.")}
    missing = sorted(k for k in own.keys() - tensors.keys() if k not in optional)
    unexpected = sorted(k for k in tensors.keys() - own.keys()
                        if not k.endswith("num_batches_tracked") and not k.startswith("AuxLogits."))
    wrong = sorted(f"{k} {tuple(tensors[k].shape)} vs {tuple(own[k].shape)}"
                   for k in own.keys() & tensors.keys() if tensors[k].shape != own[k].shape)
    problems = [f"missing {k}" for k in missing] + [f"unexpected {k}" for k in unexpected] + wrong
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise FileError(f"--inception-weights: {path} is not the FID Inception-v3: {shown}")
    # Absent optional entries: an unused classifier layer (zeros) and batch-norm step counters.
    full = {k: tensors[k].to(own[k].dtype) if k in tensors else torch.zeros(own[k].shape, dtype=own[k].dtype)
            for k in own}
    model.load_state_dict(full, assign=True)
    model.cache_key = f"inception:{sha256_file(path)}"
    return model.to(device).eval()
