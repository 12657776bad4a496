# Two commands do all the set-up on a fresh machine:
#   make demo   - the main job
#   make test   - the test suite
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: demo test test-fast bench clean

$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	# torch pinned to the CPU build that lies on this machine's disk (never an unpinned CUDA build)
	$(VPY) -m pip install -q "torch==2.13.0"
	$(VPY) -m pip install -q -e ".[test,torch]"
	command -v dot >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq graphviz) >/dev/null 2>&1 || echo "graphviz 'dot' not installed: nasdsl draw will write .dot files"; }
	touch $(STAMP)

demo: $(STAMP)
	$(VPY) -m nasdsl.demo

test: $(STAMP)
	$(VPY) -m pytest -q

test-fast: $(STAMP)
	$(VPY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(VPY) bench/bench_language.py
	$(VPY) bench/bench_torch.py
	$(VPY) bench/bench_nasbench_graph.py

clean:
	rm -rf $(VENV) runs .pytest_cache
