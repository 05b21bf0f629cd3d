"""The training loops' Reporter inside a Ray Train worker (tokenizer training and SFT alike)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from physar_ray.faults import FaultInjector


class RayTrainReporter:
    """The loop's Reporter inside a TorchTrainer: ``ray.train.report`` and ``get_checkpoint``; with
    ``faults``, each report first lets a due ``run.faults`` entry kill this worker (at ``metrics[step_key]``)."""

    def __init__(self, faults: FaultInjector | None = None, step_key: str = "sft/step") -> None:
        self._restored = tempfile.TemporaryDirectory(prefix="physar-train-restore-")
        self.faults, self.step_key = faults, step_key

    def report(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        import ray.train

        if self.faults is not None:
            self.faults.reached(int(metrics[self.step_key]))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(checkpoint) if checkpoint else None)

    def latest_checkpoint(self) -> Path | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        return Path(checkpoint.to_directory(self._restored.name)) if checkpoint else None
