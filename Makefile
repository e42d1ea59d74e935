# Everything runs inside .venv, built from pyproject.toml with versions pinned by constraints.txt
# (torch==2.13.0 is the CPU wheel on these machines; an unpinned torch pulls a multi-GB CUDA build).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := $(VENV)/.installed-demo
DEV    := $(VENV)/.installed-dev

.PHONY: install demo test test-fast bench clean

# The demo needs only embviz and its Chinese extras; the tests add their clients (tensorboard,
# transformers, selenium, ...). Either target works first on a fresh clone. The demo stamp also compiles
# a UMAP film's numba code once (python -m embviz.film.warmup), so the first film does not wait for it.
install: $(DEV)

$(DEMO): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[zh]'
	$(BIN)/python -m embviz.film.warmup
	touch $(DEMO)

$(DEV): $(DEMO)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(DEV)

demo: $(DEMO)
	$(BIN)/embviz train synthetic --out runs/demo --overwrite --snapshot-schedule log
	$(BIN)/embviz animate runs/demo
	$(BIN)/embviz compare-word2vec runs/demo --words cat,monday,red,three,eats,orange
	$(BIN)/embviz explore runs/demo

test: $(DEV)
	$(BIN)/ruff check embviz tests benchmarks
	$(BIN)/python -m pytest -n 2 -q

test-fast: $(DEV)
	$(BIN)/ruff check embviz tests benchmarks
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

bench: $(DEV)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
