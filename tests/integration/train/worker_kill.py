"""Kill a Ray Train worker process once a checkpoint of a given step is in storage (fault tests)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path


def train_workers() -> list:
    """Live Ray Train worker processes of this test's Ray instance (descendants of its raylet)."""
    import psutil
    import ray

    raylet = ray._private.worker.global_worker.node.all_processes["raylet"][0].process.pid
    return [p for p in psutil.Process(raylet).children(recursive=True)
            if "RayTrainWorker" in " ".join(p.cmdline())]


def kill_a_worker_after_checkpoint(root: Path, pattern: str, step: int, killed: list, errors: list,
                                   timeout_s: float = 240) -> None:
    """Wait until a ``root.glob(pattern)`` trainer.json of ``step`` or later exists, then SIGKILL one
    Ray Train worker. A checkpoint's files land before the controller registers it, so the
    restart may use the one before it. Meant for a thread: failures go to ``errors``."""
    try:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            done = [p for p in root.glob(pattern) if json.loads(p.read_text())["step"] >= step]
            workers = train_workers() if done else []
            if workers:
                os.kill(workers[0].pid, signal.SIGKILL)
                killed.append(workers[0].pid)
                return
            time.sleep(0.2)
    except Exception as exc:  # surfaced by the test's assertion
        errors.append(repr(exc))
