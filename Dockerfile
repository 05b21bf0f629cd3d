# The image the cluster files name: Ray's CUDA image + the pinned GPU stack (torch, vLLM, DeepSpeed)
# + this package, installed editable at /home/ray/physar-ray.
#   make image            # docker build -t ghcr.io/YOUR-ORG/physar-ray:<version> . and an import smoke test
#   make image PUSH=1     # ... then docker push
# docs/container.md: versions, registries, how aws.yaml / KubeRay / `ray job submit` use it.
# tests/unit/test_dockerfile.py keeps these ARGs equal to pyproject.toml, the Makefile and cluster/.

# Ray's image carries what the autoscaler and KubeRay expect: the `ray` user (uid 1000) with
# passwordless sudo, Python on PATH under /home/ray/anaconda3, rsync/ssh/tmux, and the same Ray
# version as every other node. -cu130 because the torch 2.13.0 CUDA build (and the vLLM 0.32.0
# wheel built against it) is CUDA 13.0; Ray's GPU images start from NVIDIA's CUDA *devel* image,
# whose nvcc DeepSpeed needs to JIT-compile its ops on first use.
ARG RAY_VERSION=2.60.0
ARG PYTHON_TAG=py311
ARG CUDA_TAG=cu130
FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-${CUDA_TAG}

ARG RAY_VERSION
ARG TORCH_VERSION=2.13.0
# vllm 0.32.0 requires exactly these two; they come from the same index as torch, one build.
ARG TORCHVISION_VERSION=0.28.0
ARG TORCHAUDIO_VERSION=2.11.0
# PyPI's torch 2.13.0 is the same CUDA 13.0 build: behind a PyPI-only mirror pass
# --build-arg TORCH_INDEX_URL=<the mirror's simple index>.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
ARG VLLM_VERSION=0.32.0
ARG DEEPSPEED_VERSION=0.19.8
ARG TRANSFORMERS_VERSION=5.19.0

LABEL org.opencontainers.image.title="physar-ray" \
      org.opencontainers.image.description="Phys-AR on Ray: ray ${RAY_VERSION}, torch ${TORCH_VERSION} (${TORCH_INDEX_URL}), vllm ${VLLM_VERSION}, deepspeed ${DEEPSPEED_VERSION}, transformers ${TRANSFORMERS_VERSION}"

ENV PYTHONUNBUFFERED=1

# Ray's image already runs as `ray` (uid 1000, group users = 100); said again so no layer below
# installs as root, numeric so that Kubernetes' runAsNonRoot can verify it. The folder is made by
# `ray` first: WORKDIR alone may create it owned by root, and the editable install writes there.
USER 1000:100
RUN mkdir -p /home/ray/physar-ray
WORKDIR /home/ray/physar-ray

# Layer 1, the largest (torch with its CUDA libraries): changes only with the torch pins.
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" \
        "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" "torchaudio==${TORCHAUDIO_VERSION}"

# Layer 2: the dependencies of `.[gpu,vae,lora,optuna,tracking]` (every optional part a node may run), read from
# pyproject.toml alone (the package itself comes with the source below), so a code change reuses this layer. torch and Ray are named again so
# that nothing replaces the build above or the base image's Ray; DeepSpeed builds from its sdist
# with no ops compiled (DS_BUILD_OPS=0, JIT on the GPU nodes).
COPY --chown=1000:100 pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
x = p['optional-dependencies']; print('\n'.join(p['dependencies'] + x['gpu'] + x['vae'] + x['lora'] + x['optuna'] + x['tracking']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
        "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" "torchaudio==${TORCHAUDIO_VERSION}" \
        "ray[default,data,train,tune]==${RAY_VERSION}" "vllm==${VLLM_VERSION}" \
        "deepspeed==${DEEPSPEED_VERSION}" "transformers==${TRANSFORMERS_VERSION}" \
    && rm /tmp/requirements.txt

# Layer 3: the code. Editable, so cluster/aws.yaml's file mount of a checkout onto this folder
# replaces the code without a reinstall; `ray job submit --working-dir .` puts its upload first
# on sys.path instead (docs/container.md).
COPY --chown=1000:100 . ./
RUN pip install --no-cache-dir --no-deps -e .

# No HEALTHCHECK: Kubernetes ignores it and Ray watches its nodes itself, while a periodic
# `import vllm` would cost every node seconds of CPU and GBs of memory; `make image` runs the
# import smoke test once instead.
