# Quick start: `make demo` (the embedded-benchmark demo) and `make test`.
# Both create or refresh .venv/ first (tools/setup_env.py; seconds when the
# venv is current, 7 to 17 minutes on 2 cores the first time: mmcv is
# compiled).
PY := .venv/bin/python

.PHONY: setup demo test clean-venv

setup:
	@python3 tools/setup_env.py --check || python3 tools/setup_env.py

demo: setup
	$(PY) tools/demo.py

# One torch thread per process: the suite runs training subprocesses side by
# side, and OpenMP threads competing for 2 cores slow each other 10x or more.
test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q tests

clean-venv:
	rm -rf .venv
