# Each target sets itself up: a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PEERS ?= ../shared/peers
# Bytecode as a wheel install has it: an editable install under PYTHONDONTWRITEBYTECODE=1 would
# compile dlqctl's modules again at every start, and the benchmarks would measure that.
BYTECODE := $(BIN)/python -m compileall -q dlqctl
DEEP_N ?= 300000

.PHONY: demo test lint bench bench-deep bench-peers bench-rotated bench-smoke clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## demo: a narrated DLQ incident on an embedded local AWS endpoint (no AWS account needed)
demo: $(STAMP)
	$(BIN)/dlqctl demo

## test: the whole test suite against a local AWS endpoint started by the tests
test: $(STAMP)
	$(BIN)/python -m pytest

## bench: throughput, API calls per message, CPU and memory (moto, and LocalStack if it installs),
## then bench-peers (skipped with a message without the harness or node)
bench: $(STAMP)
	$(BYTECODE)
	$(BIN)/python bench/run.py
	@$(MAKE) --no-print-directory bench-peers

## bench-deep: a DLQ deeper than SQS's in-flight cap, on LocalStack behind a cap-enforcing proxy
bench-deep: $(STAMP)
	$(BYTECODE)
	$(BIN)/python bench/deep.py --n $(DEEP_N)
	$(BIN)/python bench/memory.py --n 1000000

## bench-peers: the side-by-side redrive against sqs-mover and lumigo-cli (PEERS: the harness)
bench-peers: $(STAMP)
	$(BYTECODE)
	@if [ -f "$(PEERS)/throughput.py" ] && command -v node >/dev/null; then \
	  for model in "10000 0 --limit" "3000 20" "10000 100 --peers lumigo-cli"; do set -- $$model; \
	    n=$$1; ms=$$2; shift 2; \
	    python3 "$(PEERS)/throughput.py" --dlqctl $(BIN)/dlqctl --n $$n --latency-ms $$ms "$$@"; done; \
	else echo "bench-peers skipped: no harness at $(PEERS) (set PEERS=DIR) or no node"; fi

## bench-rotated: dlqctl beside lumigo-cli at 0 ms, and --to-bus beside --to-queue with the limit
## clients at 0, 20 and 100 ms, in rounds whose order rotates (bench/rotated.py; PEERS: the harness)
ROTATED := $(BIN)/python bench/rotated.py --peers $(PEERS) --dlqctl $(BIN)/dlqctl
BUS_PAIRS := --tools dlqctl,dlqctl-bus,limit,limit-bus --pairs dlqctl/limit,dlqctl-bus/limit-bus,dlqctl-bus/dlqctl,limit-bus/limit
bench-rotated: $(STAMP)
	$(BYTECODE)
	@if [ -f "$(PEERS)/throughput.py" ] && command -v node >/dev/null; then \
	  $(ROTATED) --tools dlqctl,lumigo-cli --n 10000 --rounds 20 && \
	  $(ROTATED) $(BUS_PAIRS) --n 10000 --rounds 8 && \
	  $(ROTATED) $(BUS_PAIRS) --n 3000 --rounds 8 --latency-ms 20 && \
	  $(ROTATED) $(BUS_PAIRS) --n 10000 --rounds 4 --latency-ms 100; \
	else echo "bench-rotated skipped: no harness at $(PEERS) (set PEERS=DIR) or no node"; fi

## bench-smoke: the benchmark at N=200 on moto, and wake_cpu briefly, so they cannot rot
bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke --output bench/results/smoke.json
	$(BIN)/python bench/wake_cpu.py --rounds 20 --sleep-ms 1 --burst 1 2

## lint: ruff (lint + format check) and mypy
lint: $(STAMP)
	$(BIN)/ruff check dlqctl tests bench infra
	$(BIN)/ruff format --check dlqctl tests bench infra
	$(BIN)/mypy
	$(BIN)/cfn-lint infra/template.yaml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
