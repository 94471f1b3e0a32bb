"""/api/translate on image-to-image runs (issue 14 with issue 12): uploads translated at their own size
(x the super-resolution scale) exactly as gankit.load_translator translates them, hole masks for
inpainting, the run's degradation on request, and every refusal: pixel limits (413, the output's too),
wrong channels (422), not an image (415), missing or mismatched masks (422); a pix2pix run's
discriminator is not offered for single images (409)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn, python-multipart) is not installed")

import gankit  # noqa: E402
from gankit.serve.model import Served, load  # noqa: E402


def _png(a: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, fmt)
    return buf.getvalue()


def _noise(h, w, c=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w) if c == 1 else (h, w, c), dtype=np.uint8)


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return np.array(img)


def _files(*images, masks=()):
    return ([("images", (f"i{k}.png", _png(a), "image/png")) for k, a in enumerate(images)]
            + [("masks", (f"m{k}.png", _png(m), "image/png")) for k, m in enumerate(masks)])


@pytest.fixture(scope="module")
def translators(i2i_runs):
    return {task: gankit.load_translator(run) for task, run in i2i_runs.items()}


def test_the_model_card_says_what_the_translator_takes(client_of, i2i_runs):
    card = client_of(i2i_runs["superres"]).get("/api/model").json()
    assert card["kind"] == "translator" and card["arch"] == "unet"
    assert card["translate"] == {"available": True, "reason": None, "task": "superres", "scale": 2, "channels": 1,
                                 "mask": False, "degrade": True, "direction": None, "directions": {},
                                 "domains": None, "style": False}
    assert not card["score"]["available"] and "(input, output) pairs" in card["score"]["reason"]
    assert not card["interpolate"]["available"]
    assert client_of(i2i_runs["inpaint"]).get("/api/model").json()["translate"]["mask"] is True


@pytest.mark.parametrize("task", ["superres", "denoise"])
def test_uploads_are_translated_at_their_own_size_as_load_translator_does(client_of, i2i_runs, translators, task):
    c = client_of(i2i_runs[task])
    a, b = _noise(13, 29, seed=1), _noise(20, 17, seed=2)
    r = c.post("/api/translate", files=_files(a))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out = _pixels(r.content)
    s = 2 if task == "superres" else 1
    assert out.shape == (13 * s, 29 * s)  # its own size, not the training size, never enlarged for show
    assert np.array_equal(out, translators[task](a))
    j = c.post("/api/translate?format=json", files=_files(a, b)).json()
    assert j["task"] == task and j["scale"] == s and j["sizes"] == [[29 * s, 13 * s], [17 * s, 20 * s]]
    assert np.array_equal(_pixels(base64.b64decode(j["images"][1])), translators[task](b))
    assert "inputs" not in j


def test_several_uploads_of_one_size_come_back_as_a_png_grid_and_of_several_sizes_as_json(client_of, i2i_runs):
    c = client_of(i2i_runs["denoise"])
    r = c.post("/api/translate", files=_files(_noise(10, 12, seed=1), _noise(10, 12, seed=2)))
    assert r.status_code == 200 and _pixels(r.content).shape[:2] == (2 + 10 + 2, 2 + 2 * (12 + 2))
    r = c.post("/api/translate", files=_files(_noise(10, 12), _noise(11, 12)))
    assert r.status_code == 422 and r.json()["detail"].startswith("format: png answers with one image")


def test_inpainting_takes_a_mask_per_image_and_keeps_the_known_pixels(client_of, i2i_runs, translators):
    c = client_of(i2i_runs["inpaint"])
    a = _noise(15, 22, seed=3)
    mask = np.zeros_like(a)
    mask[4:10, 5:15] = 255
    r = c.post("/api/translate", files=_files(a, masks=[mask]))
    assert r.status_code == 200
    out = _pixels(r.content)
    assert np.array_equal(out[mask == 0], a[mask == 0])  # known pixels bit-exact
    assert np.array_equal(out, translators["inpaint"](a, mask))
    r = c.post("/api/translate", files=_files(a))
    assert r.status_code == 422 and r.json()["detail"].startswith("masks: an inpainting run needs one hole mask")
    r = c.post("/api/translate", files=_files(a, masks=[mask[:-1]]))
    assert r.status_code == 422 and r.json()["detail"] == "masks[0]: is 22x14, its image images[0] 22x15"
    r = c.post("/api/translate?degrade=true&format=json", files=_files(a, masks=[mask]))
    assert r.status_code == 422 and r.json()["detail"].startswith("masks: unknown form field")


def test_degrade_applies_the_runs_degradation_to_clean_uploads(client_of, i2i_runs, translators):
    clean = _noise(14, 22, seed=4)
    for task in ("superres", "inpaint"):
        j = client_of(i2i_runs[task]).post("/api/translate?degrade=true&format=json", files=_files(clean)).json()
        x, mask = translators[task].degrade(clean, index=0)
        shown = x.copy()
        if mask is not None:
            shown[mask > 0] = 255
        assert np.array_equal(_pixels(base64.b64decode(j["inputs"][0])), shown)
        assert np.array_equal(_pixels(base64.b64decode(j["images"][0])), translators[task](x, mask))
        assert j["sizes"] == [[22, 14]]  # super-resolution: degraded to 11x7, translated back to 22x14
    r = client_of(i2i_runs["superres"]).post("/api/translate?degrade=true", files=_files(_noise(13, 22)))
    assert r.status_code == 422 and r.json()["detail"].startswith("images[0]: size not divisible")


def test_pixel_limits_refuse_big_inputs_and_big_outputs_with_413(client_of, i2i_runs):
    c = client_of(i2i_runs["superres"], max_pixels=1000)
    assert c.post("/api/translate", files=_files(_noise(15, 15))).status_code == 200  # 225 in, 900 out
    r = c.post("/api/translate", files=_files(_noise(20, 20)))  # 400 in: under the limit, but 1,600 out
    assert r.status_code == 413
    assert r.json()["detail"] == ("images[0] (i0.png): 20x20 pixels, whose x2 output (40x40) is more than the "
                                  "1,000 pixels this service makes")
    r = c.post("/api/translate", files=_files(_noise(40, 40)))
    assert r.status_code == 413 and "more than the 1,000 this service decodes" in r.json()["detail"]
    r = client_of(i2i_runs["superres"], max_upload_bytes=500).post("/api/translate", files=_files(_noise(40, 40)))
    assert r.status_code == 413 and r.json()["detail"].startswith("body:")


def test_wrong_channels_are_422_unless_converted_and_non_images_415(client_of, i2i_runs):
    c = client_of(i2i_runs["denoise"])
    rgb = _noise(12, 12, 3)
    r = c.post("/api/translate", files=_files(rgb))
    assert r.status_code == 422
    assert r.json()["detail"] == ("images[0] (i0.png): has 3 channel(s), the run translates 1-channel images; "
                                  "send convert=true to convert it")
    r = c.post("/api/translate?convert=true", files=_files(rgb))
    assert r.status_code == 200 and _pixels(r.content).shape == (12, 12)
    r = c.post("/api/translate", files=[("images", ("x.png", b"GIF89a not really an image", "image/png"))])
    assert r.status_code == 415 and r.json()["detail"].startswith("images[0] (x.png): not a PNG, JPEG, BMP or WebP")
    r = c.post("/api/translate", files=[("images", ("x.png", _png(_noise(12, 12))[:60], "image/png"))])
    assert r.status_code == 422 and "unreadable image" in r.json()["detail"]
    r = c.post("/api/translate", files=_files(_noise(12, 12), masks=[_noise(12, 12)]))
    assert r.status_code == 422 and r.json()["detail"].startswith("masks: unknown form field")
    r = c.post("/api/translate?size=3", files=_files(_noise(12, 12)))
    assert r.status_code == 422 and r.json()["detail"].startswith("size: unknown parameter")


def test_score_sample_and_interpolate_refuse_an_image_to_image_run(client_of, i2i_runs):
    c = client_of(i2i_runs["denoise"])
    r = c.post("/api/score", files=_files(_noise(28, 28)))
    assert r.status_code == 409
    assert r.json()["detail"] == ("score: this is an image-to-image run (denoise): its discriminator (PatchGAN, "
                                  "as in pix2pix) judges (input, output) pairs, not single images; use /api/translate")
    assert c.get("/api/sample").status_code == 409 and c.get("/api/interpolate").status_code == 409
    assert c.get("/api/health").json()["kind"] == "translator"


def test_a_translator_is_served_through_load_translator(i2i_runs, translators):
    served = Served(translators["denoise"])
    assert served.kind == "translator" and served.translator.G is served.G and served.cfg.data.task == "denoise"
    assert load(i2i_runs["denoise"] / "generator").translator.task == "denoise"
    with pytest.raises(ValueError, match="served as a Translator"):
        Served(translators["denoise"].G)  # a bare U-Net does not know its task, scale or mask
