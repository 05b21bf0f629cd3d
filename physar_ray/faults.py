"""Fault injection at named points of a run (``run.faults``), so that fault tests and drills make a
failure happen at a chosen step instead of racing the run from outside.

A fault is ``POINT@STEP`` or ``POINT[RANK]@STEP`` (rank 0 when omitted): the worker of that rank
that reaches POINT at STEP or later SIGKILLs its own process there, as a crashed node or an OOM
kill would, before it reports that step. Each fault fires once per run folder: a marker
``<out>/faults/<fault>.fired`` is written first, so the restarted worker that reaches the point
again carries on. Points:

- ``tokenizer.worker``: a Ray Train worker of tokenizer training, at each step;
- ``sft.worker``: a Ray Train worker of SFT, at each report (every ``sft.log_every`` steps);
- ``grpo.controller``: the process running the GRPO controller (`physar grpo train`, a Tune trial), right
  after its checkpoint of step STEP (or the first checkpoint after it);
- ``grpo.rollout``: a GRPO rollout actor (RANK: its slot), as it loads weights version STEP in the sync
  phase (after the learners' update of step STEP − 1, once the weights have reached it);
- ``grpo.rollout_sync``: a GRPO rollout actor (RANK: its slot) *inside* the gloo/nccl broadcast of weights
  version STEP: the version has arrived, the weights have not (torch engine);
- ``grpo.rollout_sync_hang``: the same place, but the actor *hangs*: it SIGSTOPs itself, so it stays alive and
  holds its sockets while answering nothing, as a hung host or a partitioned node would.

What a run detected and how long it took to recover is appended to ``<out>/faults/events.jsonl`` by
:func:`record` (one JSON object a line: ``fault``, ``detect_s``, ``recover_s``, ``detected_at``, ...).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from physar_ray import storage

log = logging.getLogger("physar.faults")

POINTS = ("tokenizer.worker", "sft.worker", "grpo.controller", "grpo.rollout", "grpo.rollout_sync",
          "grpo.rollout_sync_hang")
HANGS = ("grpo.rollout_sync_hang",)
"""Points whose fault stops the process (SIGSTOP) instead of killing it."""
EVENTS = "events.jsonl"
"""Under ``<out>/faults/``: the failures a run detected and recovered from (:func:`record`)."""
_SPEC = re.compile(r"(?P<point>[a-z_.]+)(?:\[(?P<rank>\d+)\])?@(?P<step>\d+)")


@dataclass(frozen=True)
class Fault:
    point: str
    step: int
    rank: int = 0

    def __str__(self) -> str:
        return f"{self.point}[{self.rank}]@{self.step}"


def parse(spec: str) -> Fault:
    """``"sft.worker[1]@25"`` → Fault("sft.worker", 25, 1); a bad spec raises ValueError naming the forms."""
    match = _SPEC.fullmatch(spec.strip())
    if match is None or match["point"] not in POINTS:
        raise ValueError(f"run.faults entry {spec!r} is not POINT@STEP or POINT[RANK]@STEP with POINT one of "
                         f"{', '.join(POINTS)} (e.g. sft.worker@25)")
    return Fault(match["point"], int(match["step"]), int(match["rank"] or 0))


class FaultInjector:
    """The faults of ``specs`` at one point for one rank; :meth:`reached` kills this process when one is due."""

    def __init__(self, specs: Sequence[str], point: str, rank: int, out_uri: str) -> None:
        self.faults = [f for f in map(parse, specs) if f.point == point and f.rank == rank]
        self.out_uri = out_uri

    def marker(self, fault: Fault) -> str:
        return storage.join(self.out_uri, "faults", f"{fault}.fired")

    def reached(self, step: int) -> None:
        for fault in [f for f in self.faults if step >= f.step]:
            self.faults.remove(fault)  # due now: it fires here, or it fired before this restart; never asked again
            if storage.exists(self.marker(fault)):
                continue
            storage.write_text(self.marker(fault), f"fired at step {step}\n")
            sig = signal.SIGSTOP if fault.point in HANGS else signal.SIGKILL
            log.warning("run.faults: %s fires at step %d (%s of pid %d)", fault, step, sig.name, os.getpid())
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), sig)


def record(out_uri: str, fault: str, detect_s: float, recover_s: float, **details: Any) -> dict[str, Any]:
    """Append one detected-and-recovered failure to ``<out>/faults/events.jsonl`` (rewritten whole: s3 has no
    append; a run has few): ``detect_s`` from the start of the phase it hit to the moment it was known,
    ``recover_s`` from then until the run went on; ``detected_at`` is the wall clock (epoch seconds), to set
    against a ``.fired`` marker's mtime. Returns the event."""
    event = {"fault": fault, "detect_s": round(detect_s, 3), "recover_s": round(recover_s, 3),
             "detected_at": round(time.time() - recover_s, 3), **details}
    uri = storage.join(out_uri, "faults", EVENTS)
    before = storage.read_text(uri) if storage.exists(uri) else ""
    storage.write_text(uri, before + json.dumps(event) + "\n")
    log.warning("recovered from %s: detected in %.2fs, recovered in %.2fs", fault, detect_s, recover_s)
    return event


def events(out_uri: str) -> list[dict[str, Any]]:
    """The events :func:`record` wrote under ``out_uri`` (none: [])."""
    uri = storage.join(out_uri, "faults", EVENTS)
    if not storage.exists(uri):
        return []
    return [json.loads(line) for line in storage.read_text(uri).splitlines() if line.strip()]
