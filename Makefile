# Two commands (README):  make book [PROFILE=quick|book|paper]   and   make test
# Both create .venv inside the checkout and install everything on first use.

PYTHON ?= python3
PROFILE ?= book
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: book test setup clean benchmark sync sweep

book: $(STAMP)
	$(PY) tools/book.py build --profile $(PROFILE)

test: $(STAMP)
	$(PY) -m pytest

# Write _config.yml's repository (url, branch) into every chapter's Colab badge, setup cell and metadata.
sync: $(STAMP)
	$(PY) tools/sync_notebooks.py

# Fill the results cache with one chapter's sweeps: make sweep CHAPTER=5 [PROFILE=book] [SCHEDULER=local|tcp://…]
CHAPTER ?= 5
SCHEDULER ?= in-process
sweep: $(STAMP)
	$(PY) tools/sweep.py $(CHAPTER) --profile $(PROFILE) --scheduler $(SCHEDULER)

benchmark: $(STAMP)
	$(PY) benchmarks/ntk_methods.py

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -c "import pathlib, lib; p = pathlib.Path(lib.__file__).resolve().parent; assert p == pathlib.Path('lib').resolve(), f'import lib resolved to {p}, not this checkout'"
	touch $(STAMP)

clean:
	rm -rf _build
