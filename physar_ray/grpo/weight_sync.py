"""Learner → rollout weight transfer behind one small interface, with a version on every copy.

``WeightSync.push(state, version)`` runs on learner rank 0, ``pull()`` on each rollout worker;
the version travels with the weights, so a rollout records exactly which learner step produced
the policy it sampled from and never mixes two.

Backends (``grpo.sync.backend``):

- ``object_store``: ``ray.put`` once on the learner; the small ``ObjectStoreSync`` (holding only
  the ObjectRef) goes to every rollout worker, which reads the same object (zero-copy on one node).
- ``nccl`` / ``gloo``: a broadcast group of learner rank 0 (rank 0) and the rollout workers (ranks
  1..n) built from a TCPStore, separate from the learners' own process group, as OpenRLHF does.
  The state travels as flat buffers per dtype of at most ``BUCKET_BYTES`` each, in the sender's
  name order: a step costs one broadcast per bucket, and the sender's device holds one bucket at
  a time (under ZeRO-3 the state arrives gathered on the learner's CPU, never whole on its GPU).
  gloo runs the same code on CPU (tests, benchmarks); nccl is the GPU path.

Into vLLM (``VLLMEngine``), one adapter, the two transports above: an object-store pull goes
through ``VLLMEngine.load_weights`` (vLLM's in-place reload from a safetensors file); a broadcast
lands in vLLM's worker process, where ``VLLMWeightReceiver`` (a vLLM worker extension) is the
receiving rank and reloads in place from the received tensors. ``join_vllm_broadcast`` wires it.
Both check names and shapes against the served checkpoint first and carry the version.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import torch

SYNC_TIMEOUT = timedelta(minutes=10)
"""How long a broadcast waits for every rank before it fails (a rank died mid-sync), unless the group is built with
another ``timeout`` (a GRPO run passes ``grpo.sync.member_timeout_s``)."""
BUCKET_BYTES = 1 << 28
"""Most bytes one broadcast carries (a larger tensor travels alone): 256 MiB, about one block of an 8B model."""


@dataclass(frozen=True)
class SyncStats:
    """What one push cost: the step log records it as sync/bytes and time/sync_s."""

    version: int
    bytes: int
    seconds: float


class WeightSync(Protocol):
    """One direction, one sender: learner rank 0 pushes, rollout workers pull."""

    def push(self, state: dict[str, torch.Tensor], version: int) -> SyncStats:
        """Publish ``state`` (a full HF state dict) as weights version ``version``."""
        ...

    def pull(self) -> tuple[dict[str, torch.Tensor], int]:
        """The latest pushed (state, version)."""
        ...


def state_bytes(state: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in state.values())


class ObjectStoreSync:
    """Weights through Ray's object store: one ``ray.put`` per version, read by every worker.

    The object is owned by the process that pushed it (learner rank 0), so it never passes
    through the driver; this small object, which carries only the ref, does.
    """

    def __init__(self) -> None:
        self._ref: Any = None
        self.version = -1

    def push(self, state: dict[str, torch.Tensor], version: int) -> SyncStats:
        import ray

        start = time.perf_counter()
        cpu = {name: t.detach().to("cpu").contiguous() for name, t in state.items()}
        self._ref, self.version = ray.put(cpu), version
        return SyncStats(version, state_bytes(cpu), time.perf_counter() - start)

    def pull(self) -> tuple[dict[str, torch.Tensor], int]:
        import ray

        if self._ref is None:
            raise RuntimeError("no weights pushed yet: the learner must push(state, version) before a worker pulls")
        return ray.get(self._ref), self.version


Spec = list[tuple[str, tuple[int, ...], str]]
"""(name, shape, dtype name) of every tensor, in the order the sender flattens them."""


def weight_spec(state: dict[str, torch.Tensor]) -> Spec:
    """The spec of ``state``; a ZeRO-3 partitioned parameter (``state_dict(keep_vars=True)``) gives its full
    shape, ``ds_shape``, not the empty placeholder's."""
    return [(name, tuple(getattr(t, "ds_shape", t.shape)), str(t.dtype).removeprefix("torch."))
            for name, t in state.items()]


Bucket = tuple[str, list[tuple[str, tuple[int, ...]]]]
"""(dtype name, [(name, shape)]) of the tensors one broadcast carries."""


def buckets(spec: Spec, max_bytes: int = BUCKET_BYTES) -> list[Bucket]:
    """The spec cut into broadcasts: per dtype, in spec order, runs of tensors of at most ``max_bytes``
    together (a tensor larger than that alone)."""
    out: list[Bucket] = []
    for dtype in dict.fromkeys(d for _, _, d in spec):
        entries: list[tuple[str, tuple[int, ...]]] | None = None
        size, itemsize = 0, getattr(torch, dtype).itemsize
        for name, shape, d in spec:
            if d != dtype:
                continue
            nbytes = math.prod(shape) * itemsize
            if entries is None or size + nbytes > max_bytes:
                entries, size = [], 0
                out.append((dtype, entries))
            entries.append((name, shape))
            size += nbytes
    return out


def make_process_group(backend: str, store: Any, rank: int, world_size: int,
                       timeout: timedelta = SYNC_TIMEOUT) -> Any:
    """A standalone process group over ``store`` that leaves the default group alone; each of its collectives
    fails after ``timeout`` when a peer does not take part (dead or hung)."""
    import torch.distributed as dist

    if backend == "gloo":
        return dist.ProcessGroupGloo(store, rank, world_size, timeout)
    if backend == "nccl":
        options = dist.ProcessGroupNCCL.Options()
        options._timeout = timeout
        return dist.ProcessGroupNCCL(store, rank, world_size, options)
    raise ValueError(f"broadcast backend {backend!r}: allowed are gloo (CPU) and nccl (GPU)")


class CollectiveSync:
    """Broadcast from rank 0 (learner) to ranks 1..world_size−1 (rollout workers).

    Every member builds one with the same address, port, spec and ``bucket_bytes``, then all call
    ``connect`` at the same time (it blocks until the group is complete), then each push on rank 0
    must meet one pull on every other rank. ``timeout``: how long ``connect`` and each broadcast wait for
    the other members; past it they raise (a member died or hangs) instead of blocking, and the group is
    of no further use: ``close`` it and build a new one.
    """

    def __init__(self, backend: str, address: str, port: int, rank: int, world_size: int, spec: Spec,
                 device: str | torch.device = "cpu", bucket_bytes: int = BUCKET_BYTES,
                 timeout: timedelta = SYNC_TIMEOUT) -> None:
        if world_size < 2:
            raise ValueError(f"a broadcast group needs the learner and at least one rollout worker, got world_size={world_size}")
        self.backend, self.address, self.port = backend, address, port
        self.rank, self.world_size, self.spec, self.device = rank, world_size, spec, torch.device(device)
        self.buckets = buckets(spec, bucket_bytes)
        self.timeout = timeout
        self._group: Any = None

    def connect(self) -> None:
        import torch.distributed as dist

        store = dist.TCPStore(self.address, self.port, self.world_size, is_master=self.rank == 0,
                              timeout=self.timeout)
        self._group = make_process_group(self.backend, store, self.rank, self.world_size, self.timeout)

    def _broadcast(self, tensor: torch.Tensor) -> None:
        if self._group is None:
            raise RuntimeError("CollectiveSync.connect() must run on every member before the first push/pull")
        self._group.broadcast(tensor, 0).wait()

    def push(self, state: dict[str, torch.Tensor], version: int) -> SyncStats:
        start = time.perf_counter()
        self._broadcast(torch.tensor([version], dtype=torch.int64, device=self.device))
        sent = 0
        for _, entries in self.buckets:
            flat = torch.cat([state[name].detach().to(self.device).reshape(-1) for name, _ in entries])
            self._broadcast(flat)
            sent += flat.numel() * flat.element_size()
        return SyncStats(version, sent, time.perf_counter() - start)

    def pull(self, on_version: Callable[[int], None] | None = None) -> tuple[dict[str, torch.Tensor], int]:
        """The pushed (state, version); ``on_version(version)`` runs once the version has arrived and before the
        weights do, i.e. in the middle of the broadcast (run.faults' ``grpo.rollout_sync`` fires there)."""
        version = torch.zeros(1, dtype=torch.int64, device=self.device)
        self._broadcast(version)
        if on_version is not None:
            on_version(int(version.item()))
        state: dict[str, torch.Tensor] = {}
        for dtype, entries in self.buckets:
            sizes = [int(torch.Size(shape).numel()) for _, shape in entries]
            flat = torch.empty(sum(sizes), dtype=getattr(torch, dtype), device=self.device)
            self._broadcast(flat)
            for (name, shape), part in zip(entries, flat.split(sizes)):
                state[name] = part.view(shape)
        return state, int(version.item())

    def close(self) -> None:
        """Tear the group down (after a failed broadcast, before a new group is built): NCCL's communicators are
        aborted, so no kernel stays queued on a dead peer; gloo's sockets close with the group."""
        group, self._group = self._group, None
        if group is not None and self.backend == "nccl" and hasattr(group, "abort"):
            group.abort()


VLLM_RECEIVER = "physar_ray.grpo.weight_sync.VLLMWeightReceiver"
"""``worker_extension_cls`` of a VLLMEngine that joins a broadcast group."""


class VLLMWeightReceiver:
    """vLLM worker extension: the receiving rank of a CollectiveSync inside vLLM's worker process.

    vLLM mixes it into its worker, which provides ``self.device`` and ``self.reload_weights``
    (vLLM's in-place reload, which also re-packs weights on the CPU backend). gloo on CPU, nccl
    on GPU. The methods carry a prefix: vLLM refuses an extension whose method shadows one of
    the worker's (``update_weights`` is taken).
    """

    def physar_join_weight_sync(self, backend: str, address: str, port: int, rank: int, world_size: int,
                                spec: Spec, timeout_s: float = SYNC_TIMEOUT.total_seconds()) -> None:
        spec = [(name, tuple(shape), dtype) for name, shape, dtype in spec]  # msgpack delivers tuples as lists
        if getattr(self, "physar_sync", None) is not None:
            self.physar_sync.close()
        self.physar_sync = CollectiveSync(backend, address, port, rank, world_size, spec, self.device,
                                          timeout=timedelta(seconds=timeout_s))
        self.physar_sync.connect()

    def physar_receive_weights(self) -> int:
        state, version = self.physar_sync.pull()
        self.reload_weights(weights_iterator=iter(state.items()))
        return version


def join_vllm_broadcast(engine: Any, backend: str, address: str, port: int, rank: int, world_size: int,
                        spec: Spec, timeout_s: float = SYNC_TIMEOUT.total_seconds()) -> Callable[[], int]:
    """Make ``engine``'s vLLM worker (started with ``VLLM_RECEIVER``) rank ``rank`` of the learner's broadcast
    group; returns ``receive() -> version``, which must meet every push of the learner."""
    engine.check_weights({name: tuple(shape) for name, shape, _ in spec}, "the learner's weights")
    engine.call_workers("physar_join_weight_sync", backend, address, port, rank, world_size, spec, timeout_s)

    def receive() -> int:
        versions = set(engine.call_workers("physar_receive_weights"))
        if len(versions) != 1:
            raise RuntimeError(f"vLLM's workers received weights versions {sorted(versions)} from one broadcast")
        version = versions.pop()
        engine.weights_reloaded(version)
        return version

    return receive
