"""The web page in a real headless browser (Debian's chromium + chromium-driver, driven by selenium),
against the service on a free loopback port: load the page, change the seed and see a new image
arrive, move the slider between two seeds, pick a class, upload an image to score; translate on
image-to-image and unpaired runs (a direction, a style example or seed)."""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi, uvicorn, python-multipart) is not installed")
pytest.importorskip("selenium", reason="selenium is not installed (it is in gankit's dev extra)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/lib/chromium/chromedriver"
                                                if os.path.exists("/usr/lib/chromium/chromedriver") else None)
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no chromium/chromedriver on this machine (Debian: apt-get install chromium chromium-driver; "
           "`make test` installs them when it runs as root with apt)")

WAIT = 60  # seconds: a shared, loaded machine can be slow; a page that works is never this slow


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-extensions", "--no-first-run", "--window-size=1200,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait(driver, predicate, what):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(lambda d: predicate(d), message=what)


def _img(driver, element_id):
    """(src, data-* attributes, naturalWidth) of an <img>, read in the page."""
    return driver.execute_script(
        "const i = document.getElementById(arguments[0]);"
        "return [i.src, Object.assign({}, i.dataset), i.complete ? i.naturalWidth : 0];", element_id)


@pytest.mark.slow  # chromium starts, and waits for real responses: ~10 s here
def test_the_page_explores_a_conditional_run(browser, served, live_server, tmp_path, png_bytes):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from gankit.serve import Limits, create_app
    s = served["cond"]
    with live_server(create_app(s, Limits())) as base:
        browser.get(base + "/")
        _wait(browser, lambda d: _img(d, "samples")[1].get("seed") == "0" and _img(d, "samples")[2] > 0,
              "the first samples (seed 0) arrive")
        src, _, width = _img(browser, "samples")
        assert width == 2 * (4 * (28 + 2) + 2)  # 16 samples of 28 px, a 4x4 grid enlarged 2x
        assert "10 classes" in browser.find_element(By.ID, "model-summary").text

        seed = browser.find_element(By.ID, "seed")
        seed.clear()
        seed.send_keys("5")
        _wait(browser, lambda d: _img(d, "samples")[1].get("seed") == "5" and _img(d, "samples")[2] > 0,
              "the samples of seed 5 arrive after the seed is changed")
        assert _img(browser, "samples")[0] != src

        loaded = _img(browser, "samples")[1]["loaded"]
        Select(browser.find_element(By.ID, "class")).select_by_visible_text(s.classes[2])
        _wait(browser, lambda d: _img(d, "samples")[1].get("loaded") != loaded and _img(d, "samples")[2] > 0,
              "a new image arrives when another class is picked")
        assert s.classes[2] in browser.find_element(By.ID, "sample-status").text

        loaded = _img(browser, "samples")[1]["loaded"]
        psi = browser.find_element(By.ID, "truncation")
        psi.send_keys(Keys.HOME)  # psi 0: every sample is the mean latent's
        _wait(browser, lambda d: _img(d, "samples")[1].get("loaded") != loaded and _img(d, "samples")[2] > 0
              and browser.find_element(By.ID, "truncation-value").text == "0.00", "truncated samples arrive")

        # The walk: frames of the two seeds, shown as the slider moves.
        slider = browser.find_element(By.ID, "walk")
        _wait(browser, lambda d: slider.get_attribute("max") == "15" and _img(d, "walk-frame")[1].get("frame") == "0",
              "the walk's frames arrive")
        first = _img(browser, "walk-frame")[0]
        slider.click()  # focus it; the click itself may move it
        slider.send_keys(Keys.HOME)
        for _ in range(3):
            slider.send_keys(Keys.ARROW_RIGHT)
        _wait(browser, lambda d: _img(d, "walk-frame")[1].get("frame") == "3", "the slider shows frame 3")
        assert _img(browser, "walk-frame")[0] != first
        slider.send_keys(Keys.END)
        _wait(browser, lambda d: _img(d, "walk-frame")[1].get("frame") == "15", "the slider reaches the second seed")
        assert "16 / 16" in browser.find_element(By.ID, "walk-status").text

        # Upload an image and read the discriminator's verdict.
        path = tmp_path / "shirt.png"
        path.write_bytes(png_bytes((40, 40), "RGB", 120))
        browser.find_element(By.ID, "score-files").send_keys(str(path))
        browser.find_element(By.ID, "score-button").click()
        _wait(browser, lambda d: d.find_element(By.ID, "score-result").is_displayed(), "the verdict arrives")
        row = browser.find_element(By.CSS_SELECTOR, "#score-result tbody tr").text
        assert row.startswith("shirt.png 0.") and "resized from 40x40" in row
        assert "not image-to-image" in browser.find_element(By.ID, "translate-note").text
        assert not browser.find_element(By.ID, "translate-output").is_displayed()

        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []  # no script error, no request the content security policy blocked


@pytest.mark.slow  # chromium and two live services: several seconds here
def test_the_page_translates_an_upload_on_an_image_to_image_run(browser, i2i_runs, live_server, tmp_path, png_bytes):
    from selenium.webdriver.common.by import By

    from gankit.serve import create_app
    with live_server(create_app(i2i_runs["superres"])) as base:
        browser.get(base + "/")
        _wait(browser, lambda d: "for superres x2" in d.find_element(By.ID, "model-summary").text,
              "the model card says what the run does")
        for hidden in ("sample-section", "walk-section", "translate-mask-label"):
            assert not browser.find_element(By.ID, hidden).is_displayed()  # no seeds or sliders to offer
        assert "(input, output) pairs" in browser.find_element(By.ID, "score-note").text
        path = tmp_path / "small.png"
        path.write_bytes(png_bytes((20, 12), "L", 90))
        browser.find_element(By.ID, "translate-file").send_keys(str(path))
        browser.find_element(By.ID, "translate-button").click()
        _wait(browser, lambda d: _img(d, "translate-output")[2] == 40, "the x2 output (40 px wide) arrives")
        assert _img(browser, "translate-input")[2] == 20 and "40x24 output" in \
            browser.find_element(By.ID, "translate-status").text

    with live_server(create_app(i2i_runs["inpaint"])) as base:
        browser.get(base + "/")
        mask = browser.find_element(By.ID, "translate-mask-label")
        _wait(browser, lambda d: mask.is_displayed(), "an inpainting run asks for the hole mask")
        browser.find_element(By.ID, "translate-degrade").click()  # a clean image: let the run make the holes
        assert not mask.is_displayed()
        path = tmp_path / "clean.png"
        path.write_bytes(png_bytes((28, 28), "L", 150))
        browser.find_element(By.ID, "translate-file").send_keys(str(path))
        browser.find_element(By.ID, "translate-button").click()
        _wait(browser, lambda d: _img(d, "translate-output")[2] == 28 and _img(d, "translate-input")[2] == 28,
              "the degraded input and its inpainting arrive")
        assert _img(browser, "translate-input")[0].startswith("data:image/png")  # the holes the run made

        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []  # no script error, no request the content security policy blocked


@pytest.mark.slow  # chromium and a live service: a few seconds here
def test_the_page_translates_in_a_chosen_direction_and_style_on_an_unpaired_run(browser, unpaired_runs, live_server,
                                                                                tmp_path, png_bytes):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from gankit.serve import create_app
    with live_server(create_app(unpaired_runs["munit"])) as base:
        browser.get(base + "/")
        _wait(browser, lambda d: "between square and circle, with styles" in d.find_element(By.ID, "model-summary").text,
              "the model card names the domains")
        direction = Select(browser.find_element(By.ID, "translate-direction"))
        assert [o.text for o in direction.options] == ["square → circle", "circle → square"]
        assert browser.find_element(By.ID, "translate-style-label").is_displayed()
        direction.select_by_value("b2a")
        path = tmp_path / "circle.png"
        path.write_bytes(png_bytes((20, 12), "L", 200))
        browser.find_element(By.ID, "translate-file").send_keys(str(path))
        browser.find_element(By.ID, "translate-button").click()
        _wait(browser, lambda d: "circle → square in random style of seed 0: 20x12 output"
              in d.find_element(By.ID, "translate-status").text, "the b2a output in a random style arrives")
        assert _img(browser, "translate-output")[2] == 20
        browser.find_element(By.ID, "translate-style").send_keys(str(path))
        browser.find_element(By.ID, "translate-button").click()
        _wait(browser, lambda d: "in the example's style" in d.find_element(By.ID, "translate-status").text,
              "the output in the example's style arrives")

        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
