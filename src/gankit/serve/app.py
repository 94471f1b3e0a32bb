"""The FastAPI application: routes, parameter validation, limits, and the web page.

    app = create_app("runs/demo", Limits(max_n=16))     # then uvicorn.run(app) or TestClient(app)

Routes (the schema is at /openapi.json):

    GET  /                     the web page (static/index.html, app.js, style.css; nothing from the internet)
    GET  /api/health           {"status": "ok", ...}
    GET  /api/model            the model card: kind, shape, classes, what is offered, the limits, README.md
    GET  /api/sample           seed, n, class, truncation, format=png|json -> a PNG grid or base64 PNGs
    GET  /api/interpolate      seeds, steps, slerp, class, format=gif|png|json -> a GIF, PNG strips or frames
    POST /api/score            multipart 'images' -> the discriminator's verdict on each
    POST /api/translate        multipart 'images' (+ 'masks' for inpainting) -> the translated images at
                               their own size x scale (image-to-image runs only); unpaired runs take
                               direction=a2b|b2a, munit ones a 'style' image or a seed for a random style

Errors are JSON ``{"detail": "<param>: <what is wrong>"}``: 422 for a bad value (an unknown or
repeated parameter too), 413 for a quantity over its limit, 415 for an upload that is not an image,
409 for what this run cannot do, 503 + Retry-After when the work queue is full, 504 past the time
limit, 408 for an upload that does not arrive in time.
"""

from __future__ import annotations

import asyncio
import math
from importlib import resources
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from gankit import __version__
from gankit.serve.limits import Limits
from gankit.serve.model import Served, load, not_translator
from gankit.serve.uploads import UploadError, decode, decode_own_size, files, read_parts
from gankit.serve.work import QueueFull, TimedOut, WorkQueue

SEED_LIMIT = 2**32
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
# The page may talk to this service only: no script, style, image or connection from anywhere else.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


class ParamError(Exception):
    """A refused request parameter: `status` and a message that starts with the parameter's name."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    """'<param>: <pydantic's message> (got <value>)' for each refused parameter, joined by '; '."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path")]
        name = ".".join(loc) or "request"
        got = err.get("input")
        shown = f" (got {got!r})" if isinstance(got, (str, int, float)) else ""
        parts.append(f"{name}: {err.get('msg', 'invalid')}{shown}")
    return "; ".join(parts)


def _only(request: Request, allowed: tuple[str, ...]) -> None:
    """Refuse a query parameter the endpoint does not take (a typo would otherwise be ignored) or one given twice."""
    for key in request.query_params.keys():
        if key not in allowed:
            raise ParamError(422, f"{key}: unknown parameter (this endpoint takes {', '.join(allowed) or 'none'})")
        if len(request.query_params.getlist(key)) > 1:
            raise ParamError(422, f"{key}: given more than once")


def _static(name: str) -> bytes:
    return (resources.files("gankit.serve") / "static" / name).read_bytes()


def create_app(run: str | Path | Served, limits: Limits | None = None, device: str = "cpu") -> FastAPI:
    """The service for `run` (a run, generator or checkpoint folder, or a loaded `Served`)."""
    limits = limits or Limits()
    served = run if isinstance(run, Served) else load(run, device=device)
    queue = WorkQueue(limits.workers, limits.queue, limits.timeout_s)
    pages = {name: _static(name) for name in STATIC}  # read once: no request path ever reaches the disk
    app = FastAPI(title="gankit", version=__version__, docs_url=None, redoc_url=None,
                  description="Samples, interpolations and the discriminator's verdict from a trained gankit GAN.")
    app.state.served, app.state.limits, app.state.queue = served, limits, queue
    app.router.on_shutdown.append(queue.shutdown)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc):
        return _error(422, _validation_message(exc))

    @app.exception_handler(ParamError)
    async def _param(request, exc):
        return _error(exc.status, str(exc))

    @app.exception_handler(UploadError)
    async def _upload(request, exc):
        return _error(exc.status, str(exc))

    @app.exception_handler(QueueFull)
    async def _busy(request, exc):
        return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(TimedOut)
    async def _slow(request, exc):
        return _error(504, str(exc))

    @app.middleware("http")
    async def _headers(request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # -- the page ---------------------------------------------------------------------------------

    def page(name: str) -> Response:
        return Response(pages[name], media_type=STATIC[name], headers={"Content-Security-Policy": CSP})

    @app.get("/", include_in_schema=False)
    async def index():
        return page("index.html")

    @app.get("/static/app.js", include_in_schema=False)
    async def script():
        return page("app.js")

    @app.get("/static/style.css", include_in_schema=False)
    async def style():
        return page("style.css")

    # -- the API ----------------------------------------------------------------------------------

    def label_of(name: str | None) -> int | None:
        if name is None:
            return None
        from gankit.apps.sample import resolve_class
        try:
            return resolve_class(served.G, name)
        except ValueError as e:
            raise ParamError(422, str(e).replace("--class", "class")) from None

    def check_truncation(psi: float) -> None:
        if not math.isfinite(psi):
            raise ParamError(422, f"truncation: expected a finite number, got {psi!r}")
        if psi != 1.0 and not served.truncation:
            raise ParamError(422, "truncation: this generator does not take a truncation; use 1 (no truncation)")

    async def work(fn, *args):
        return await queue.run(fn, *args)

    async def drawn(fn, *args):
        """Work that passes the request's values to G.sample, which may still refuse one (ValueError)."""
        try:
            return await queue.run(fn, *args)
        except ValueError as e:
            raise ParamError(422, str(e).replace("sample: ", "", 1)) from None

    @app.get("/api/health", summary="Whether the service is up, and how busy")
    async def health():
        return {"status": "ok", "kind": served.kind, "in_flight": queue.in_flight, "capacity": queue.capacity,
                "workers": queue.workers}

    @app.get("/api/model", summary="The model card: what the generator makes, what the service offers, the limits")
    async def model():
        return served.card(limits)

    @app.get("/api/sample", summary="Samples 0..n-1 of a seed, as one PNG grid or as base64 PNGs",
             responses={200: {"content": {"image/png": {}, "application/json": {}}}})
    async def sample(request: Request,
                     seed: int = Query(0, ge=0, lt=SEED_LIMIT, description="latent seed in [0, 2**32)"),
                     n: int = Query(16, ge=1, description=f"number of samples, at most {limits.max_n} (413 above)"),
                     class_: str | None = Query(None, alias="class",
                                                description="conditional runs: a class name or index"),
                     truncation: float = Query(1.0, ge=0, le=1, description="the truncation trick's psi in "
                                               "[0, 1]: 1 = none, smaller = more typical, less varied samples"),
                     format: Literal["png", "json"] = Query("png", description="png: one grid; json: base64 PNGs")):
        _only(request, ("seed", "n", "class", "truncation", "format"))
        if served.kind == "translator":
            raise ParamError(409, "sample: this run translates images; use /api/translate")
        if n > limits.max_n:
            raise ParamError(413, f"n: at most {limits.max_n} samples per request, got {n}")
        check_truncation(truncation)
        label = label_of(class_)
        if format == "json":
            return await drawn(served.sample_json, n, seed, label, truncation)
        return Response(await drawn(served.sample_png, n, seed, label, truncation), media_type="image/png")

    @app.get("/api/interpolate", summary="Walk between the latents of seeds: a looping GIF, PNG strips or frames",
             responses={200: {"content": {"image/gif": {}, "image/png": {}, "application/json": {}}}})
    async def interpolate(request: Request,
                          seeds: str = Query("1,2", description=f"2 to {limits.max_seeds} comma-separated seeds"),
                          steps: int = Query(8, ge=2, description=f"frames per pair, ends included, at most "
                                                                  f"{limits.max_steps}"),
                          slerp: bool = Query(False, description="spherical instead of linear interpolation"),
                          class_: str | None = Query(None, alias="class",
                                                     description="conditional runs: the class held fixed "
                                                                 "(default: the first)"),
                          format: Literal["gif", "png", "json"] = Query("gif")):
        _only(request, ("seeds", "steps", "slerp", "class", "format"))
        if served.kind == "translator" or not served.is_image:
            raise ParamError(409, "interpolate: " + ("this run translates images; use /api/translate"
                                                     if served.kind == "translator"
                                                     else "this run makes toy points, not images"))
        values = _seeds(seeds, limits.max_seeds)
        if steps > limits.max_steps:
            raise ParamError(413, f"steps: at most {limits.max_steps} frames per pair, got {steps}")
        label = label_of(class_)
        result = await work(served.interpolate, values, steps, slerp, label, format)
        if format == "json":
            return result
        return Response(result, media_type=f"image/{format}")

    upload_body = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["images"],
        "properties": {"images": {"type": "array", "items": {"type": "string", "format": "binary"},
                                  "description": f"1 to {limits.max_images} PNG, JPEG, BMP or WebP images, "
                                                 f"{limits.max_upload_bytes:,} bytes in all, "
                                                 f"{limits.max_pixels:,} pixels each"}}}}}}}

    receiving = [0]  # uploads being read now (event-loop state: no lock needed)

    async def received(request: Request) -> list:
        # Uploads are read in the event loop, before they reach the work queue: as many at once as
        # the queue has places, so the memory they take is bounded too (places x max_upload_bytes).
        if receiving[0] >= queue.capacity:
            raise QueueFull(queue.retry_after(), "every upload place taken")
        receiving[0] += 1
        try:
            parts = await asyncio.wait_for(read_parts(request, limits.max_upload_bytes, limits.max_images + 1),
                                           limits.timeout_s)
        except asyncio.TimeoutError:
            raise UploadError(408, f"body: the upload did not arrive within {limits.timeout_s:g} s") from None
        finally:
            receiving[0] -= 1
        return parts

    async def images_of(request: Request, shape: tuple) -> list:
        chosen = files(await received(request), "images", limits.max_images)
        c, h, _ = shape

        def decode_all():
            return [decode(p, f"images[{i}]", c, h, limits.max_pixels) for i, p in enumerate(chosen)]
        return chosen, await work(decode_all)

    @app.post("/api/score", summary="The discriminator's verdict on uploaded images", openapi_extra=upload_body)
    async def score(request: Request):
        _only(request, ())
        if served.score_problem is not None:
            raise ParamError(409, f"score: {served.score_problem}")
        from gankit.apps.score import reading
        how = reading(served.cfg.loss.name)
        chosen, decoded = await images_of(request, served.G.out_shape)
        verdicts = await work(served.score, [arr for arr, _ in decoded])
        return {"loss": served.cfg.loss.name, "reading": how.text, "probability": how.probability,
                "verdicts": [{"index": i, "name": p.filename, **v, "note": note}
                             for i, (p, (_, note), v) in enumerate(zip(chosen, decoded, verdicts))]}

    translate_body = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["images"],
        "properties": {**upload_body["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"],
                       "masks": {"type": "array", "items": {"type": "string", "format": "binary"},
                                 "description": "inpainting runs: one hole mask per image, in the same order and "
                                                "of the same size (nonzero = hole; send PNG or BMP, since JPEG "
                                                "noise makes pixels nonzero); not with degrade=true"},
                       "style": {"type": "string", "format": "binary",
                                 "description": "example-guided unpaired runs (munit): one example image of the "
                                                "target domain, whose style every output takes (else a random "
                                                "style of `seed`); the same formats and limits as the images"}}}}}}}

    @app.post("/api/translate", summary="Translate uploaded images at their own size (image-to-image runs only)",
              openapi_extra=translate_body,
              responses={200: {"content": {"image/png": {}, "application/json": {}}}})
    async def translate(request: Request,
                        format: Literal["png", "json"] = Query("png", description="png: the output image (a grid "
                                                               "for several of one size); json: base64 PNGs"),
                        degrade: bool = Query(False, description="the uploads are clean images: apply the run's "
                                                                 "degradation first (as gankit translate --degrade)"),
                        convert: bool = Query(False, description="convert uploads to the run's channels "
                                                                 "(else another channel count is refused)"),
                        direction: str | None = Query(None, description="unpaired runs: a2b (the default) "
                                                      "translates domain A to B, b2a the reverse"),
                        seed: int | None = Query(None, ge=0, lt=SEED_LIMIT, description="example-guided runs "
                                                 "(munit) without a style image: the seed of the random style "
                                                 "(default 0; style 0 of a seed is always the same)")):
        _only(request, ("format", "degrade", "convert", "direction", "seed"))
        if served.kind != "translator":
            raise ParamError(409, f"translate: {not_translator(served.kind)}")
        t = served.translator
        arch = served.cfg.model.arch if served.cfg is not None else None
        if served.unpaired:
            if direction is not None and direction not in served.directions:
                a2b, b2a = (f"{d} ({u.source} -> {u.target})" for d, u in served.directions.items())
                raise ParamError(422, f"direction: must be {a2b} or {b2a}, got {direction[:40]!r}")
            if degrade:
                raise ParamError(422, "degrade: an unpaired run translates between two domains; it has no degradation")
            if seed is not None and not served.guided:
                raise ParamError(422, f"seed: this run is a CycleGAN (model.arch = {arch}): one output per input, "
                                      f"no random style to seed; random styles need a model.arch = munit run")
            t = served.directions[direction or t.direction]
        else:
            if direction is not None:
                raise ParamError(422, f"direction: only unpaired runs (data.task = unpaired) have two directions; "
                                      f"this run is a {t.task} run")
            if seed is not None:
                raise ParamError(422, f"seed: only example-guided unpaired runs (model.arch = munit) draw random "
                                      f"styles; this run is a {t.task} run")
            if degrade and t.task == "paired":
                raise ParamError(422, "degrade: a paired run has no degradation (its inputs are the user's A images)")
        wants_masks = not served.unpaired and bool(t.shape.mask_input) and not degrade
        parts = await received(request)
        style_parts = [p for p in parts if p.name == "style"]
        if style_parts and not served.guided:
            raise ParamError(422, "style: " + (
                f"this run is a CycleGAN (model.arch = {arch}), which has no style input; an example style image "
                f"needs a model.arch = munit run" if served.unpaired else
                f"only example-guided unpaired runs (model.arch = munit) take a style image; this run is a "
                f"{t.task} run"))
        if len(style_parts) > 1:
            raise ParamError(422, f"style: one style image per request, got {len(style_parts)}")
        if style_parts and seed is not None:
            raise ParamError(422, "seed: picks a random style, and a style image was sent too; send one or the other")
        also = ("masks",) if wants_masks else ("style",) if served.guided else ()
        chosen = files(parts, "images", limits.max_images, also)
        mask_parts = [p for p in parts if p.name == "masks"]
        if wants_masks and len(mask_parts) != len(chosen):
            raise ParamError(422, f"masks: an inpainting run needs one hole mask per image, in the same order "
                                  f"(nonzero = hole), got {len(mask_parts)} for {len(chosen)} image(s); or send "
                                  f"clean images with degrade=true to have the run make the holes")
        # Super-resolution makes scale x scale as many pixels as it is sent; --degrade first shrinks by scale.
        grow = 1 if degrade else t.scale

        def read(part, where: str, scale: int = 1):
            arr, own = decode_own_size(part, where, limits.max_pixels, t.channels if convert else None, scale)
            if not convert and own != t.channels:
                raise UploadError(422, f"{where} ({part.filename or 'upload'}): has {own} channel(s), the run "
                                       f"translates {t.channels}-channel images; send convert=true to convert it")
            if served.unpaired:
                try:
                    t.to_tensor(arr, where)  # the size it can translate (padded to its stride inside)
                except ValueError as e:
                    raise UploadError(422, str(e)) from None
            return arr

        def prepare():
            images, masks, shown = [], [], []
            style = read(style_parts[0], "style") if style_parts else None
            for i, part in enumerate(chosen):
                where = f"images[{i}]"
                arr = read(part, where, grow)
                mask = None
                if degrade:
                    try:
                        arr, mask = t.degrade(arr, index=i)
                    except ValueError as e:
                        raise UploadError(422, f"{where}: {e}".replace("--degrade: ", "degrade: ")) from None
                    shown.append(_holes_white(arr, mask))
                elif wants_masks:
                    mask, _ = decode_own_size(mask_parts[i], f"masks[{i}]", limits.max_pixels, 1)
                    if mask.shape != arr.shape[:2]:
                        raise UploadError(422, f"masks[{i}]: is {mask.shape[1]}x{mask.shape[0]}, its image "
                                               f"images[{i}] {arr.shape[1]}x{arr.shape[0]}")
                images.append(arr)
                masks.append(mask)
            sizes = {a.shape[:2] for a in images}
            if format == "png" and len(sizes) > 1:
                raise UploadError(422, "format: png answers with one image, or a grid of images of one size; "
                                       "these differ in size: use format=json")
            return (images, (masks if any(m is not None for m in masks) else None), (shown if degrade else None),
                    style)

        images, masks, shown, style = await work(prepare)
        result = await work(served.translate, images, masks, format, shown, direction, style, seed or 0)
        return result if format == "json" else Response(result, media_type="image/png")

    return app


def _holes_white(image, mask):
    """What to show of an inpainting input: its holes white (as gankit translate's strips show them)."""
    if mask is None:
        return image
    shown = image.copy()
    shown[mask > 0] = 255
    return shown


def _seeds(text: str, most: int) -> list[int]:
    parts = text.split(",")
    values = []
    for part in parts:
        try:
            value = int(part.strip())
        except ValueError:
            value = -1
        if not 0 <= value < SEED_LIMIT:
            raise ParamError(422, f"seeds: expected comma-separated seeds (integers in [0, 2**32)) like 1,2,3, "
                                  f"got {text[:80]!r}")
        values.append(value)
    if len(values) < 2:
        raise ParamError(422, f"seeds: expected at least two seeds like 1,2, got {text[:80]!r}")
    if len(values) > most:
        raise ParamError(413, f"seeds: at most {most} seeds per walk, got {len(values)}")
    return values
