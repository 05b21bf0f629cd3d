"""Weight sync: a gloo broadcast round trip between two processes, with versions (no Ray)."""

from __future__ import annotations

import multiprocessing as mp
import socket

import torch

from physar_ray.grpo.weight_sync import CollectiveSync, state_bytes, weight_spec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g),
            "h": torch.randn(2, 2, generator=g).to(torch.bfloat16), "i": torch.arange(5)}


def _receiver(port: int, spec, queue) -> None:
    sync = CollectiveSync("gloo", "127.0.0.1", port, 1, 2, spec)
    sync.connect()
    for _ in range(2):
        state, version = sync.pull()
        queue.put((version, {k: v.clone() for k, v in state.items()}))


def test_gloo_broadcast_round_trip_keeps_values_dtypes_and_versions():
    port, spec = _free_port(), weight_spec(_state(0))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_receiver, args=(port, spec, queue))
    proc.start()
    sender = CollectiveSync("gloo", "127.0.0.1", port, 0, 2, spec)
    sender.connect()
    stats = [sender.push(_state(v), v) for v in (1, 2)]
    got = [queue.get(timeout=60) for _ in range(2)]
    proc.join(timeout=60)
    assert [s.version for s in stats] == [1, 2]
    assert stats[0].bytes == state_bytes(_state(1))
    for (version, state), want in zip(got, (1, 2)):
        assert version == want
        expected = _state(want)
        assert state.keys() == expected.keys()
        for name, tensor in expected.items():
            assert state[name].dtype == tensor.dtype and torch.equal(state[name], tensor), name
