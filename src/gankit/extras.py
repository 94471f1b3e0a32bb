"""Optional extras: the packages a feature needs beyond gankit's core dependencies.

    require("onnx")      # raises MissingExtra (one line naming the pip command) if onnx/onnxruntime are absent

Each extra here is an ``[project.optional-dependencies]`` entry of pyproject.toml.
"""

from __future__ import annotations

import importlib.util

EXTRAS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx", "onnxruntime"),
    "serve": ("fastapi", "uvicorn", "python_multipart"),
}
"""Extra name -> the modules it provides (import names, which may differ from package names)."""

PACKAGES = {"python_multipart": "python-multipart"}
"""Import names whose pip package is spelled differently."""

PURPOSE = {"onnx": "ONNX export", "serve": "gankit serve"}


class MissingExtra(ValueError):
    """A feature's optional extra is not installed; the message is one line saying what to install.

    A ValueError so that the CLI's error boundary prints it as one line, like any other bad request."""


def missing(extra: str) -> list[str]:
    """The pip packages of `extra` that cannot be imported here ([] when all are)."""
    return [PACKAGES.get(m, m) for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require(extra: str) -> None:
    """Raise MissingExtra unless every module of `extra` is importable."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(f"{PURPOSE[extra]} needs the optional extra '{extra}' ({', '.join(absent)} "
                           f"not installed): pip install 'gankit[{extra}]'")
