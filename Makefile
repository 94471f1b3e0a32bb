# Both targets set themselves up on a fresh machine: a .venv with the CPU build of
# torch (a plain `torch` requirement would pull a multi-GB CUDA build), the project
# with its dev extras, and Fashion-MNIST from Debian when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
STAMP  := $(VENV)/.installed

.PHONY: demo test env data clean

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# Fashion-MNIST: use any copy gankit can already find; else Debian's package when we can.
data: $(STAMP)
	@if $(PY) -m gankit data check fashion-mnist >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian package dataset-fashion-mnist"; \
		(apt-get install -y -qq dataset-fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)) >/dev/null; \
	else $(PY) -m gankit data check fashion-mnist; fi

# The browser test (tests/serve/test_serve_browser.py) drives Debian's chromium through its
# chromedriver: install both when we can, else that one test skips and says why. Never fails.
.PHONY: browser
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian packages chromium chromium-driver (for the browser test)"; \
		(apt-get install -y -qq chromium chromium-driver || (apt-get update -qq && \
			apt-get install -y -qq chromium chromium-driver)) >/dev/null 2>&1 || \
		echo "Could not install chromium and chromium-driver: the browser test will be skipped"; \
	else echo "No chromium/chromedriver here and no root apt-get to install them: the browser test will be skipped"; fi

demo: data
	$(PY) -m gankit train --preset fashion-dcgan --minutes 5 --out runs/demo --overwrite
	$(PY) -m gankit interpolate runs/demo --seeds 1,2,3,4 --steps 10 --out runs/demo/interpolation
	$(PY) -m gankit sample runs/demo --num 64 --seed 0 --out runs/demo/final_samples.png
	@echo "Done: look at runs/demo/samples/ and runs/demo/final_samples.png"

test: data browser
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
