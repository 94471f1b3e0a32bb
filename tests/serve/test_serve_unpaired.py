"""/api/translate on unpaired runs: a CycleGAN in either direction (a2b default, b2a), an example-guided
(munit) run in an example's style or a random style of a seed, exactly as gankit.load_translator
translates them; the model card names the domains and whether a style is taken; every bad request is
one 4xx line (unknown direction, direction/seed/style where the run has none, a bad style image)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn, python-multipart) is not installed")

import gankit  # noqa: E402
from gankit.serve.model import Served  # noqa: E402


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return np.array(img)


def _files(*images, style=None):
    out = [("images", (f"i{k}.png", _png(a), "image/png")) for k, a in enumerate(images)]
    if style is not None:
        out.append(("style", ("s.png", style if isinstance(style, bytes) else _png(style), "image/png")))
    return out


@pytest.fixture(scope="module")
def shapes():
    """uint8 (16, 16) images: [square, circle, square, circle] (the runs' domains A and B)."""
    from gankit.data.shapes import load_shapes
    d = load_shapes("test", 16, n=4)
    return [d.x[i, 0].numpy() for i in range(4)]


def test_the_model_card_names_the_domains_and_says_whether_a_style_is_taken(client_of, unpaired_runs):
    card = client_of(unpaired_runs["cyclegan"]).get("/api/model").json()
    assert card["kind"] == "translator" and card["arch"] == "cyclegan"
    assert card["translate"] == {"available": True, "reason": None, "task": "unpaired", "scale": 1, "channels": 1,
                                 "mask": False, "degrade": False, "direction": "a2b",
                                 "directions": {"a2b": ["square", "circle"], "b2a": ["circle", "square"]},
                                 "domains": ["square", "circle"], "style": False}
    assert not card["score"]["available"] and "a discriminator per domain" in card["score"]["reason"]
    munit = client_of(unpaired_runs["munit"]).get("/api/model").json()
    assert munit["arch"] == "munit" and munit["translate"]["style"] is True


def test_cyclegan_translates_in_both_directions_as_load_translator_does(client_of, unpaired_runs, shapes):
    c = client_of(unpaired_runs["cyclegan"])
    square = shapes[0]
    odd = square[:15, :13]  # any size: padded to the stride inside and cropped back
    outs = {}
    for direction in ("a2b", "b2a"):
        T = gankit.load_translator(unpaired_runs["cyclegan"], direction=direction)
        query = "" if direction == "a2b" else "?direction=b2a"  # a2b is the default
        r = c.post(f"/api/translate{query}", files=_files(square))
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        outs[direction] = _pixels(r.content)
        assert outs[direction].shape == (16, 16) and np.array_equal(outs[direction], T(square))
        j = c.post(f"/api/translate?format=json&direction={direction}", files=_files(odd)).json()
        assert (j["task"], j["direction"], j["sizes"]) == ("unpaired", direction, [[13, 15]])
        assert (j["source"], j["target"]) == (("square", "circle") if direction == "a2b" else ("circle", "square"))
        assert np.array_equal(_pixels(base64.b64decode(j["images"][0])), T(odd))
        assert "style" not in j
    assert not np.array_equal(outs["a2b"], outs["b2a"])  # two generators
    back = c.post("/api/translate?direction=b2a", files=_files(outs["a2b"]))  # b2a(a2b(x)): the cycle
    b2a = gankit.load_translator(unpaired_runs["cyclegan"], direction="b2a")
    assert back.status_code == 200 and np.array_equal(_pixels(back.content), b2a(outs["a2b"]))


def test_munit_takes_an_example_style_or_a_random_style_of_a_seed(client_of, unpaired_runs, shapes):
    c = client_of(unpaired_runs["munit"])
    square, circle = shapes[0], shapes[1]
    T = gankit.load_translator(unpaired_runs["munit"])

    def out(query="", style=None):
        r = c.post(f"/api/translate?format=json{query}", files=_files(square, style=style))
        assert r.status_code == 200, r.text
        return r.json(), _pixels(base64.b64decode(r.json()["images"][0]))

    j, random0 = out()
    assert (j["style"], j["seed"]) == ("random", 0)
    assert random0.shape == (16, 16) and np.array_equal(random0, T(square))  # random style 0 of seed 0
    _, seed1 = out("&seed=1")
    code = T.styles(1, 1)
    assert np.array_equal(seed1, T.to_array(T.run(T.to_tensor(square), code)))
    j, styled = out(style=circle)
    assert (j["style"], j["seed"]) == ("example", None)
    assert np.array_equal(styled, T(square, style=circle))
    assert not np.array_equal(random0, seed1) and not np.array_equal(random0, styled)
    _, b2a = out("&direction=b2a", style=square)  # the style of an example of the target domain (square)
    T_b2a = gankit.load_translator(unpaired_runs["munit"], direction="b2a")
    assert np.array_equal(b2a, T_b2a(square, style=square))


def _noise(h, w, c=1):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w) if c == 1 else (h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("run,query,style,status,detail", [
    ("cyclegan", "direction=c2d", None, 422,
     "direction: must be a2b (square -> circle) or b2a (circle -> square), got 'c2d'"),
    ("denoise", "direction=a2b", None, 422,
     "direction: only unpaired runs (data.task = unpaired) have two directions; this run is a denoise run"),
    ("cyclegan", "", "noise", 422, "style: this run is a CycleGAN (model.arch = cyclegan), which has no style input"),
    ("denoise", "", "noise", 422, "style: only example-guided unpaired runs (model.arch = munit) take a style image"),
    ("cyclegan", "seed=1", None, 422, "seed: this run is a CycleGAN (model.arch = cyclegan): one output per input"),
    ("denoise", "seed=1", None, 422, "seed: only example-guided unpaired runs (model.arch = munit) draw random"),
    ("munit", "seed=-1", None, 422, "seed: Input should be greater than or equal to 0"),
    ("cyclegan", "degrade=true", None, 422, "degrade: an unpaired run translates between two domains"),
    ("munit", "", b"GIF89a not an image", 415, "style (s.png): not a PNG, JPEG, BMP or WebP image"),
    ("munit", "", "truncated", 422, "style (s.png): unreadable image"),
    ("munit", "", "rgb", 422, "style (s.png): has 3 channel(s), the run translates 1-channel images"),
    ("munit", "", "tiny", 422, "style: 5x1 is too small to translate"),
    ("munit", "", "two", 422, "style: one style image per request, got 2"),
    ("munit", "seed=3", "noise", 422, "seed: picks a random style, and a style image was sent too"),
    ("munit", "", "big", 413, "style (s.png): 40x40 pixels, more than the 1,000 this service decodes"),
])
def test_each_bad_request_is_one_4xx_line(client_of, unpaired_runs, i2i_runs, run, query, style, status, detail):
    c = client_of(unpaired_runs.get(run) or i2i_runs[run], max_pixels=1000)
    styles = {"noise": _png(_noise(16, 16)), "rgb": _png(_noise(16, 16, 3)), "tiny": _png(_noise(1, 5)),
              "big": _png(_noise(40, 40)), "truncated": _png(_noise(16, 16))[:60]}
    if style == "two":
        files = _files(_noise(16, 16), style=styles["noise"]) + [("style", ("t.png", styles["noise"], "image/png"))]
    else:
        files = _files(_noise(16, 16), style=styles.get(style, style))
    r = c.post(f"/api/translate?{query}", files=files)
    assert r.status_code == status and r.json()["detail"].startswith(detail), r.json()


def test_the_limits_count_the_style_image_too(client_of, unpaired_runs):
    image = _png(_noise(16, 16))
    c = client_of(unpaired_runs["munit"], max_upload_bytes=len(image) + 300, max_images=1)
    assert c.post("/api/translate", files=[("images", ("i.png", image, "image/png"))]).status_code == 200
    r = c.post("/api/translate", files=[("images", ("i.png", image, "image/png")),
                                        ("style", ("s.png", image, "image/png"))])
    assert r.status_code == 413 and r.json()["detail"].startswith("body:")  # the style is part of the upload
    r = client_of(unpaired_runs["munit"]).post("/api/translate", files=_files(_noise(1, 5)))
    assert r.status_code == 422 and r.json()["detail"] == "images[0]: 5x1 is too small to translate"


def test_sample_interpolate_and_score_refuse_an_unpaired_run(client_of, unpaired_runs):
    c = client_of(unpaired_runs["cyclegan"])
    assert c.get("/api/sample").status_code == 409 and c.get("/api/interpolate").status_code == 409
    r = c.post("/api/score", files=_files(_noise(16, 16)))
    assert r.status_code == 409 and "a discriminator per domain" in r.json()["detail"]


def test_an_unpaired_translator_is_served_through_load_translator(unpaired_runs, shapes):
    served = Served(gankit.load_translator(unpaired_runs["munit"], direction="b2a"))
    assert served.unpaired and served.guided and served.translator.direction == "b2a"  # its default direction
    assert {d: u.G for d, u in served.directions.items()} == {"a2b": served.G, "b2a": served.G}  # one G, shared
    j = served.translate([shapes[1]], None, "json")
    assert j["direction"] == "b2a" and (j["source"], j["target"]) == ("circle", "square")
