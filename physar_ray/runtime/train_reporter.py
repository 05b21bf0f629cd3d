"""The training loops' Reporter inside a Ray Train worker (tokenizer training and SFT alike)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from physar_ray.faults import FaultInjector

HISTORY = "metrics.jsonl"
"""The reported metrics, one line per report, inside each checkpoint folder (so a resumed run keeps them)."""


class RayTrainReporter:
    """The loop's Reporter inside a TorchTrainer: ``ray.train.report`` and ``get_checkpoint``; with
    ``faults``, each report first lets a due ``run.faults`` entry kill this worker (at ``metrics[step_key]``).

    Ray Train V2 keeps only the last report's metrics, so with ``keep_history`` (rank 0) every report is
    also kept as a line of ``metrics.jsonl`` in each checkpoint it hands over (restored with it on a resume:
    the curve survives a restart) and sent to ``tracker`` (a physar_ray.tracking.Tracker) at its step.
    """

    def __init__(self, faults: FaultInjector | None = None, step_key: str = "sft/step", tracker: Any = None,
                 keep_history: bool = False) -> None:
        self._restored = tempfile.TemporaryDirectory(prefix="physar-train-restore-")
        self.faults, self.step_key = faults, step_key
        self.tracker, self.keep_history = tracker, keep_history
        self.history: list[dict[str, float]] = []
        self._last: dict[str, float] | None = None

    def _record(self, metrics: dict[str, float]) -> None:
        """A new line, unless it repeats the last one at a later step (a checkpoint between two log steps
        re-reports the last metrics; one before the first log step has nothing but the step)."""
        values = {k: v for k, v in metrics.items() if k != self.step_key}
        if not values or values == self._last:
            return
        self._last = values
        if self.keep_history:
            self.history.append(dict(metrics))
        if self.tracker is not None:
            self.tracker.log(metrics, int(metrics[self.step_key]))

    def report(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        import ray.train

        if self.faults is not None:
            self.faults.reached(int(metrics[self.step_key]))
        self._record(metrics)
        if checkpoint is not None and self.keep_history:
            (checkpoint / HISTORY).write_text("".join(json.dumps(h) + "\n" for h in self.history))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(checkpoint) if checkpoint else None)

    def latest_checkpoint(self) -> Path | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if not checkpoint:
            return None
        folder = Path(checkpoint.to_directory(self._restored.name))
        if self.keep_history and (folder / HISTORY).exists():
            self.history = [json.loads(line) for line in (folder / HISTORY).read_text().splitlines() if line]
        return folder
