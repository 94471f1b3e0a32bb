"""The HTTP API (issue 14, item 3) through FastAPI's test client: every endpoint, every limit and error path."""

from __future__ import annotations

import base64
import io
import json
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn, python-multipart) is not installed")

from gankit.data import to_uint8  # noqa: E402
from gankit.serve.model import Served  # noqa: E402


def _detail(r) -> str:
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    return detail


def _upload(*datas, field="images", name="x.png"):
    return [(field, (name, d, "image/png")) for d in datas]


# -- health, model card, schema, page -------------------------------------------------------------

def test_health_and_model_card(client_of, runs, served):
    c = client_of(served["plain"])
    assert c.get("/api/health").json()["status"] == "ok"
    card = c.get("/api/model").json()
    assert card["kind"] == "unconditional" and card["shape"] == [1, 28, 28] and card["z_dim"] == 8
    assert card["value_range"] == [-1, 1] and card["classes"] == [] and card["arch"] == "dcgan"
    assert card["score"]["available"] and not card["translate"]["available"]
    assert "not image-to-image" in card["translate"]["reason"]
    assert card["limits"]["max_n"] == 64 and "# gankit generator" in card["readme"]
    cond = client_of(served["cond"]).get("/api/model").json()
    assert cond["kind"] == "conditional" and len(cond["classes"]) == 10 and cond["conditional"] == "ac"


def test_openapi_schema_lists_every_endpoint_and_parameter(client_of, served):
    schema = client_of(served["plain"]).get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/health", "/api/model", "/api/sample", "/api/interpolate", "/api/score", "/api/translate"} <= set(paths)
    assert {p["name"] for p in paths["/api/sample"]["get"]["parameters"]} == {"seed", "n", "class", "truncation",
                                                                             "format"}
    assert {p["name"] for p in paths["/api/interpolate"]["get"]["parameters"]} == {"seeds", "steps", "slerp", "class",
                                                                                  "format"}
    assert "multipart/form-data" in paths["/api/score"]["post"]["requestBody"]["content"]


def test_page_and_its_files_are_served_with_a_policy_that_forbids_the_internet(client_of, served):
    c = client_of(served["plain"])
    for url, kind in (("/", "text/html"), ("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")):
        r = c.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert "http://" not in r.text and "https://" not in r.text  # nothing fetched from elsewhere
    assert c.get("/static/../app.py").status_code == 404
    assert c.get("/docs").status_code == 404  # Swagger UI would load its scripts from a CDN


# -- sample ---------------------------------------------------------------------------------------

def test_sample_json_is_exactly_what_G_sample_draws(client_of, served, decode_png):
    c = client_of(served["plain"])
    r = c.get("/api/sample", params={"seed": 7, "n": 5, "format": "json"})
    assert r.status_code == 200
    images = [decode_png(base64.b64decode(s)) for s in r.json()["images"]]
    want = to_uint8(served["plain"].G.sample(5, seed=7))[:, 0].numpy()
    assert np.array_equal(np.stack(images), want)


def test_sample_png_is_a_grid_and_depends_on_the_seed(client_of, served, decode_png):
    c = client_of(served["plain"])
    a, b = (c.get("/api/sample", params={"seed": s, "n": 4}) for s in (1, 2))
    assert a.headers["content-type"] == "image/png"
    grid = decode_png(a.content)
    assert grid.shape == (2 * (2 * 28 + 3 * 2), 2 * (2 * 28 + 3 * 2))  # 2x2 tiles, 2 px padding, enlarged 2x
    assert a.content == c.get("/api/sample", params={"seed": 1, "n": 4}).content and a.content != b.content


def test_sample_of_a_class_by_name_or_index(client_of, served, decode_png):
    s = served["cond"]
    c = client_of(s)
    name = s.classes[3]
    by_name = c.get("/api/sample", params={"seed": 0, "n": 3, "class": name, "format": "json"}).json()
    by_index = c.get("/api/sample", params={"seed": 0, "n": 3, "class": "3", "format": "json"}).json()
    assert by_name["class"] == by_index["class"] == 3 and by_name["images"] == by_index["images"]
    want = to_uint8(s.G.sample(3, seed=0, labels=3))[:, 0].numpy()
    got = np.stack([decode_png(base64.b64decode(x)) for x in by_name["images"]])
    assert np.array_equal(got, want)
    r = c.get("/api/sample", params={"class": "Nope"})
    assert r.status_code == 422 and _detail(r).startswith("class: unknown class 'Nope'") and name in _detail(r)


@pytest.mark.parametrize("params, status, start", [
    ({"n": 0}, 422, "n: "), ({"n": "abc"}, 422, "n: "), ({"n": 65}, 413, "n: at most 64"),
    ({"n": 10**30}, 413, "n: at most 64"),
    ({"seed": -1}, 422, "seed: "), ({"seed": 2**32}, 422, "seed: "), ({"seed": "1e3"}, 422, "seed: "),
    ({"truncation": -0.1}, 422, "truncation: "), ({"truncation": 1.01}, 422, "truncation: "),
    ({"truncation": "nan"}, 422, "truncation: "), ({"truncation": "inf"}, 422, "truncation: "),
    ({"truncation": "x"}, 422, "truncation: "),
    ({"format": "jpg"}, 422, "format: "), ({"num": 3}, 422, "num: unknown parameter"),
    ({"class": "Shirt"}, 422, "class: this generator is unconditional"),
])
def test_sample_refuses_every_bad_parameter_by_name(client_of, served, params, status, start):
    r = client_of(served["plain"]).get("/api/sample", params=params)
    assert r.status_code == status and _detail(r).startswith(start), r.text


def test_a_parameter_given_twice_is_refused(client_of, served):
    r = client_of(served["plain"]).get("/api/sample?n=1&n=2")
    assert r.status_code == 422 and _detail(r) == "n: given more than once"


def test_truncation_is_the_generators_own(client_of, served, decode_png):
    s = served["cond"]
    assert s.truncation  # G.sample(..., truncation=psi)
    c = client_of(s)
    got = c.get("/api/sample", params={"seed": 4, "n": 3, "class": "1", "truncation": 0.5, "format": "json"}).json()
    want = to_uint8(s.G.sample(3, seed=4, labels=1, truncation=0.5))[:, 0].numpy()
    assert np.array_equal(np.stack([decode_png(base64.b64decode(x)) for x in got["images"]]), want)
    plain = c.get("/api/sample", params={"seed": 4, "n": 3, "class": "1", "format": "json"}).json()
    assert plain["images"] != got["images"] and got["truncation"] == 0.5
    assert c.get("/api/sample", params={"truncation": 0}).status_code == 200  # psi 0: the mean latent
    r = c.get("/api/sample", params={"truncation": 1.5})
    assert r.status_code == 422 and _detail(r).startswith("truncation: Input should be less than or equal to 1")


def test_truncation_is_refused_for_a_generator_that_takes_none(client_of, served):
    s = Served(served["plain"].G, cfg=served["plain"].cfg)
    own = s.G.sample
    s.G.sample = lambda n, seed=0, labels=None: own(n, seed=seed, labels=labels)  # an older generator's API
    c = client_of(s)
    assert c.get("/api/model").json()["truncation"] is False
    r = c.get("/api/sample", params={"truncation": 0.5})
    assert r.status_code == 422 and _detail(r) == "truncation: this generator does not take a truncation; use 1 " \
                                                  "(no truncation)"
    assert c.get("/api/sample", params={"truncation": 1}).status_code == 200


def test_max_n_is_configurable(client_of, served):
    c = client_of(served["plain"], max_n=2)
    assert c.get("/api/sample", params={"n": 2}).status_code == 200
    r = c.get("/api/sample", params={"n": 3})
    assert r.status_code == 413 and _detail(r) == "n: at most 2 samples per request, got 3"


def test_a_toy_run_serves_points(client_of, decode_png):
    from gankit.config import ModelConfig
    from gankit.models import build
    G, _ = build(ModelConfig(arch="mlp", z_dim=2, width=8, depth=1), (2,), seed=0)
    c = client_of(Served(G))
    points = c.get("/api/sample", params={"n": 5, "seed": 1, "format": "json"}).json()["points"]
    assert np.allclose(np.array(points), G.sample(5, seed=1).numpy())
    assert decode_png(c.get("/api/sample", params={"n": 50}).content).shape == (256, 256, 3)  # a scatter plot
    r = c.get("/api/interpolate")
    assert r.status_code == 409 and _detail(r) == "interpolate: this run makes toy points, not images"
    assert c.get("/api/model").json()["interpolate"]["available"] is False


# -- interpolate ----------------------------------------------------------------------------------

def test_interpolation_frames_gif_and_strips(client_of, served, decode_png):
    c = client_of(served["plain"])
    frames = c.get("/api/interpolate", params={"seeds": "1,2,3", "steps": 4, "format": "json"}).json()["frames"]
    assert len(frames) == 2 * 3 + 1  # each pair's last frame is the next pair's first
    first = decode_png(base64.b64decode(frames[0])).astype(int)
    sample0 = to_uint8(served["plain"].G.sample(1, seed=1))[0, 0].numpy().astype(int)
    assert np.abs(first - sample0).max() <= 1  # the walk starts at sample 0 of the first seed (batch rounding aside)
    gif = c.get("/api/interpolate", params={"seeds": "1,2", "steps": 5})
    assert gif.headers["content-type"] == "image/gif"
    with Image.open(io.BytesIO(gif.content)) as img:
        assert img.n_frames == 5 + 3  # there and back again
    strip = decode_png(c.get("/api/interpolate", params={"seeds": "1,2,3", "steps": 4, "format": "png"}).content)
    assert strip.shape == (2 * (2 * 28 + 3 * 2), 2 * (4 * 28 + 5 * 2))


def test_interpolation_of_a_conditional_run_holds_the_class(client_of, served):
    c = client_of(served["cond"])
    a = c.get("/api/interpolate", params={"seeds": "1,2", "steps": 3, "class": "2", "format": "json"}).json()
    b = c.get("/api/interpolate", params={"seeds": "1,2", "steps": 3, "class": "5", "format": "json"}).json()
    assert a["class"] == 2 and b["class"] == 5 and a["frames"] != b["frames"]


@pytest.mark.parametrize("params, status, start", [
    ({"seeds": "1"}, 422, "seeds: expected at least two"), ({"seeds": "1,x"}, 422, "seeds: expected comma"),
    ({"seeds": "1,-2"}, 422, "seeds: "), ({"seeds": ",".join(["1"] * 9)}, 413, "seeds: at most 8"),
    ({"seeds": f"1,{2**32}"}, 422, "seeds: "), ({"steps": 1}, 422, "steps: "), ({"steps": 33}, 413, "steps: at most 32"),
    ({"slerp": "maybe"}, 422, "slerp: "), ({"format": "mp4"}, 422, "format: "), ({"frames": 3}, 422, "frames: unknown"),
])
def test_interpolate_refuses_every_bad_parameter_by_name(client_of, served, params, status, start):
    r = client_of(served["plain"]).get("/api/interpolate", params=params)
    assert r.status_code == status and _detail(r).startswith(start), r.text


# -- score ----------------------------------------------------------------------------------------

def test_score_gives_the_discriminators_verdict(client_of, served, runs, tmp_path, png_bytes):
    from gankit.apps.score import score_files
    from gankit.io.generator import load_discriminator
    c = client_of(served["plain"])
    a, b = png_bytes(value=30), png_bytes((56, 40), "RGB", 200)
    r = c.post("/api/score", files=_upload(a, b))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["loss"] == "nonsaturating" and body["probability"] is True
    (tmp_path / "a.png").write_bytes(a)
    (tmp_path / "b.png").write_bytes(b)
    D, cfg = load_discriminator(runs["plain"])
    want = score_files(D, cfg, [tmp_path / "a.png", tmp_path / "b.png"])
    for got, v in zip(body["verdicts"], want):
        assert got["score"] == pytest.approx(v.score, abs=1e-6) and got["probability"] == pytest.approx(v.probability)
        assert got["kind"] == "logit" and got["note"] == v.note
    assert body["verdicts"][1]["note"] == "resized from 56x40 to 28x28, converted from RGB to grayscale"


def _noise_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels, with a few bytes of image data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_uploads_that_are_not_images_or_too_large_are_refused_before_decoding(client_of, served, png_bytes):
    c = client_of(served["plain"], max_pixels=100 * 100, max_upload_bytes=200_000, max_images=3)
    cases = [
        (_upload(b"hello, not an image", name="x.png"), 415, "images[0] (x.png): not a PNG, JPEG"),
        (_upload(b"GIF89a" + b"\0" * 40), 415, "images[0] (x.png): not a PNG"),
        (_upload(_noise_png()[:400]), 422, "images[0] (x.png): unreadable image"),  # truncated
        (_upload(_bomb_png(101, 100)), 413, "images[0] (x.png): 101x100 pixels, more than the 10,000"),
        (_upload(_bomb_png(60000, 60000)), 413, "images[0] (x.png): "),  # a decompression bomb
        (_upload(png_bytes(), png_bytes(), png_bytes(), png_bytes()), 413, "images: 4 images, more than the 3"),
        (_upload(b"\x89PNG" + b"\0" * 250_000), 413, "body: "),
        (_upload(png_bytes(), field="file"), 422, "file: unknown form field"),
        ([], 415, "body: send multipart/form-data"),
    ]
    for files, status, start in cases:
        r = c.post("/api/score", files=files) if files else c.post("/api/score", content=b"{}")
        assert r.status_code == status and _detail(r).startswith(start), (start, r.text)
    r = c.post("/api/score", data={"note": "x"})
    assert r.status_code == 415  # a urlencoded form is not an upload
    r = c.post("/api/score", content=b"--xx\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=xx"})
    assert r.status_code in (400, 422) and _detail(r).startswith(("body: ", "images: "))
    r = c.post("/api/score?n=3", files=_upload(png_bytes()))
    assert r.status_code == 422 and _detail(r).startswith("n: unknown parameter")


def test_an_upload_without_content_length_is_cut_off_at_the_limit(client_of, served):
    c = client_of(served["plain"], max_upload_bytes=50_000)
    boundary = "b0undary"
    seen = []

    def body():  # streamed: no Content-Length to refuse it by
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"x.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode()
        yield head + b"\x89PNG"
        for _ in range(100):
            seen.append(1)
            yield b"\0" * 10_000
    r = c.post("/api/score", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and _detail(r) == "body: more than the 50,000 bytes an upload may have"


def test_uploads_never_touch_the_disk(client_of, served, tmp_path, monkeypatch, png_bytes):
    import tempfile
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.chdir(tmp_path)
    big = png_bytes((1500, 1500), "RGB", 7)  # over the 1 MB at which Starlette's own parser spools to a file
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    assert len(buf.getvalue()) > 2**20
    r = client_of(served["plain"]).post("/api/score", files=[("images", ("../../evil.png", buf.getvalue(), "image/png")),
                                                             ("images", ("/etc/x.png", big, "image/png"))])
    assert r.status_code == 200 and [v["name"] for v in r.json()["verdicts"]] == ["../../evil.png", "/etc/x.png"]
    assert list(spool.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]


def test_score_is_refused_where_there_is_no_discriminator_to_ask(client_of, runs, served, png_bytes):
    from gankit.serve.model import load
    r = client_of(runs["plain"] / "generator").post("/api/score", files=_upload(png_bytes()))
    assert r.status_code == 409 and _detail(r).startswith("score: no discriminator to ask")
    s = served["cond"]
    projection = Served(s.G, None, s.cfg, "its discriminator is class-conditional (projection) ...")
    r = client_of(projection).post("/api/score", files=_upload(png_bytes()))
    assert r.status_code == 409 and "class-conditional" in _detail(r)
    assert load(runs["cond"]).score_problem is None  # ac: the adversarial logit needs no label
    toy_cfg = s.cfg.__class__()
    toy_cfg.data.name = "toy-ring"
    from gankit.serve.model import _score_problem
    assert "toy points" in _score_problem(toy_cfg)


# -- translate ------------------------------------------------------------------------------------

def test_translate_on_a_gan_is_a_clear_409(client_of, served, png_bytes):
    r = client_of(served["plain"]).post("/api/translate", files=_upload(png_bytes()))
    assert r.status_code == 409 and _detail(r).startswith("translate: this run is not image-to-image")


# Translating image-to-image runs: tests/serve/test_serve_translate.py.


# -- the work queue -------------------------------------------------------------------------------

def _blocking(served_model, monkeypatch, release: threading.Event, entered: threading.Event):
    original = served_model.sample_png

    def slow(*args):
        entered.set()
        release.wait(20)
        return original(*args)
    monkeypatch.setattr(served_model, "sample_png", slow)


def test_a_full_queue_answers_503_with_retry_after(client_of, served, monkeypatch):
    s = Served(served["plain"].G, cfg=served["plain"].cfg)
    release, entered = threading.Event(), threading.Event()
    _blocking(s, monkeypatch, release, entered)
    c = client_of(s, workers=1, queue=1)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(c.get("/api/sample", params={"n": 1})))
               for _ in range(2)]
    threads[0].start()
    assert entered.wait(20)
    threads[1].start()  # takes the one waiting place
    deadline = time.monotonic() + 20
    while c.app.state.queue.in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = c.get("/api/sample", params={"n": 1})
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and "busy" in _detail(r)
    assert c.get("/api/health").status_code == 200  # cheap endpoints need no worker
    release.set()
    for t in threads:
        t.join(20)
    assert [a.status_code for a in answers] == [200, 200]
    assert c.get("/api/sample", params={"n": 1}).status_code == 200


def test_past_the_time_limit_504_and_the_slot_stays_taken_until_the_work_ends(client_of, served, monkeypatch):
    s = Served(served["plain"].G, cfg=served["plain"].cfg)
    release, entered = threading.Event(), threading.Event()
    _blocking(s, monkeypatch, release, entered)
    c = client_of(s, workers=1, queue=0, timeout_s=0.3)
    r = c.get("/api/sample", params={"n": 1})
    assert r.status_code == 504 and "0.3 s" in _detail(r)
    assert c.get("/api/sample", params={"n": 1}).status_code == 503  # the timed-out work still runs
    release.set()
    deadline = time.monotonic() + 20
    while c.app.state.queue.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    monkeypatch.undo()
    assert c.get("/api/sample", params={"n": 1}).status_code == 200


def test_limits_are_validated():
    from gankit.serve import Limits
    for bad in ({"max_n": 0}, {"workers": 0}, {"queue": -1}, {"timeout_s": float("nan")}, {"max_n": 2.5},
                {"timeout_s": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Limits(**bad)
    assert Limits(queue=0).queue == 0


def test_the_cli_defaults_are_the_limits_defaults():
    from gankit.cli.serve import DEFAULTS
    from gankit.serve import Limits
    assert DEFAULTS == Limits().as_dict()


def test_json_errors_everywhere(client_of, served):
    r = client_of(served["plain"]).get("/api/nothing")
    assert r.status_code == 404 and json.loads(r.text)["detail"]
