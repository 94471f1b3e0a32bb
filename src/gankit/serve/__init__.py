"""`gankit serve`: an HTTP service and a web page for a trained generator (FastAPI + uvicorn).

    from gankit.serve import Limits, create_app
    app = create_app("runs/demo", Limits(max_n=16, workers=2, queue=8))
    # uvicorn.run(app, host="127.0.0.1", port=8000)

Needs the optional extra 'serve' (fastapi, uvicorn, python-multipart): `create_app` says so in one
line when it is missing. Layout: `limits` (what a request may ask), `work` (the bounded queue),
`uploads` (in-memory multipart and image checks), `model` (the work itself, tensors and bytes),
`app` (routes and errors), `static/` (the page).
"""

from __future__ import annotations

from gankit.serve.limits import Limits

__all__ = ["Limits", "create_app"]


def create_app(run, limits: Limits | None = None, device: str = "cpu"):
    """The FastAPI app serving `run` (a run, generator or checkpoint folder); see gankit.serve.app."""
    from gankit.extras import require
    require("serve")
    from gankit.serve.app import create_app as _create
    return _create(run, limits, device)
