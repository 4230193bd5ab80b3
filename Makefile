# srlib — make test | make reproduce | make lab
# The environment (.venv) is built from pyproject.toml, the one list of dependencies, in ONE pip call
# so pip sees every constraint (litert-torch's typing-extensions pin vs Jupyter; notes/environment.md).

SHELL         := /bin/bash
PYTHON        ?= python3
VENV          ?= .venv
PY            := $(VENV)/bin/python
STAMP         := $(VENV)/.srlib-installed
KERNEL        := srlib
SRLIB_PROFILE ?= mini
export SRLIB_PROFILE
export PYTHONHASHSEED := 0
export CUBLAS_WORKSPACE_CONFIG := :4096:8
export MPLBACKEND := Agg

# Notebooks in the order `make reproduce` runs them (training -> search -> latency). AGD's two (50, 51) run
# right after MFAGAN's ablation (10): MFAGAN Table 2 / Fig. 5 (11) and AdaSR Table 1 (42) print AGD rows, which
# come from AGD's stages, and AGD's comparison (51) needs notebook 10's MFAGAN. Each notebook also runs alone:
# a stage it needs that is not cached yet is computed there.
NOTEBOOKS := 00_data_and_metrics 01_complexity 02_released_weights 03_reference_baselines 10_mfagan_ablation 50_agd_search 51_agd_comparison 11_mfagan_comparison 12_mfagan_discriminator 30_tpsr_search 31_tpsr_discriminators 32_tpsr_comparison 40_adasr_pareto 41_adasr_dynamic 42_adasr_table1 90_mobile_latency
RESULTS   := results/$(SRLIB_PROFILE)

.PHONY: all venv kernel test unit nbval reproduce lab notebooks check-profile clean-results help
all: help

help:
	@echo "make test        build .venv if needed; unit tests, then every notebook under nbval (smoke)"
	@echo "make reproduce   run the notebooks in order at SRLIB_PROFILE (default mini) -> results/<profile>/"
	@echo "make lab         JupyterLab on notebooks/ with the srlib kernel"

# ---- environment ------------------------------------------------------------------------------
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e '.[all]'
	$(PY) -m pip check
	@touch $(STAMP)

venv: $(STAMP)

kernel: $(VENV)/share/jupyter/kernels/$(KERNEL)/kernel.json
$(VENV)/share/jupyter/kernels/$(KERNEL)/kernel.json: $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "srlib (.venv)" >/dev/null

# ---- tests --------------------------------------------------------------------------------------
# pytest exits 5 when it collects no test; that is reported, not treated as a crash.
test: unit nbval

# Unit tests in TEST_WORKERS processes (pytest-xdist; each test runs one torch thread, results in its own
# temp folder): 2 uses both cores of the 2-core CI machine. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
XDIST        := $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS))
unit: $(STAMP)
	$(PY) -m pytest tests -q -p no:cacheprovider $(XDIST) || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no tests collected"; [ $$rc -eq 5 ]; }

nbval: $(STAMP) kernel
	SRLIB_PROFILE=smoke $(PY) -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with .ci/nbval_sanitize.cfg \
		-p no:cacheprovider -q notebooks/ || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no notebooks collected"; [ $$rc -eq 5 ]; }

# ---- reproduce ----------------------------------------------------------------------------------
check-profile:
	@test -f srlib/profiles/$(SRLIB_PROFILE).yaml || { echo "error: unknown profile '$(SRLIB_PROFILE)'; valid profiles: $$(ls srlib/profiles | sed 's/\.yaml//' | tr '\n' ' ')" >&2; exit 2; }

reproduce: check-profile $(STAMP) kernel
	@$(PY) -m srlib.config check $(SRLIB_PROFILE)
	@mkdir -p $(RESULTS)/notebooks
	@set -e; for nb in $(NOTEBOOKS); do \
		echo "=== [$(SRLIB_PROFILE)] $$nb"; \
		$(PY) -m papermill -k $(KERNEL) --cwd notebooks -p profile $(SRLIB_PROFILE) --log-output --no-progress-bar \
			notebooks/$$nb.ipynb $(RESULTS)/notebooks/$$nb.ipynb \
		|| { echo "FAILED: $$nb — the executed notebook with the error is $(RESULTS)/notebooks/$$nb.ipynb" >&2; exit 1; }; \
	done
	@$(PY) -m srlib report $(SRLIB_PROFILE) --plan-timing measure --check-render

# As root (containers, these machines) Jupyter refuses to start without --allow-root; without a display
# it must not try to open a browser. Jupyter prints the URL with its token; LAB_ARGS adds options.
LAB_ARGS ?=
lab: $(STAMP) kernel
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root ) \
		$$( [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ] && echo --no-browser ) $(LAB_ARGS)

# Regenerate notebooks/*.ipynb from their jupytext sources notebooks/*.py (py:percent); --update keeps the
# cell ids of unchanged cells, so an untouched notebook is not rewritten.
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --to ipynb --update --update-metadata '{"kernelspec":{"name":"$(KERNEL)","display_name":"srlib (.venv)","language":"python"}}' notebooks/*.py

clean-results:
	rm -rf $(RESULTS)
