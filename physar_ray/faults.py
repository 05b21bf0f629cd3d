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
  phase (after the learners' update of step STEP − 1, once the weights have reached it).
"""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from physar_ray import storage

log = logging.getLogger("physar.faults")

POINTS = ("tokenizer.worker", "sft.worker", "grpo.controller", "grpo.rollout")
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
            log.warning("run.faults: %s fires at step %d (SIGKILL of pid %d)", fault, step, os.getpid())
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)
