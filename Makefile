# sovits-batch — everything installs from here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_out

.PHONY: setup test demo lint bench espeak clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and pinned: on this machine torch==2.13.0 is a CPU wheel on local disk; never a CUDA build on CI.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "torch==2.13.0"
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e ".[dev,s3,g2pw,ja,ko,yue,sphinx]"  # quiet: no setuptools banners
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

demo: $(STAMP)
	$(BIN)/python -m jobs.demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# eSpeak NG speaks the QC benchmark's corpus (a Debian package): installed where it is missing.
espeak:
	@command -v espeak-ng >/dev/null || (apt-get install -y -q espeak-ng || (apt-get update -q && apt-get install -y -q espeak-ng))

bench: $(STAMP) espeak
	$(BIN)/python benchmarks/text.py
	$(BIN)/python benchmarks/model.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/qc.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
