"""What RayTrainReporter keeps of the reports (its history and what goes to tracking), without a Train session."""

from __future__ import annotations

from physar_ray.runtime.train_reporter import RayTrainReporter


class Recorder:
    """Stands in for a physar_ray.tracking.Tracker: the (step, metrics) it was sent."""

    def __init__(self) -> None:
        self.logged: list[tuple[int, dict]] = []

    def log(self, metrics: dict, step: int) -> None:
        self.logged.append((step, dict(metrics)))


def test_a_checkpoint_between_log_steps_does_not_repeat_the_last_metrics():
    tracker = Recorder()
    reporter = RayTrainReporter(tracker=tracker, keep_history=True)
    reporter._record({"sft/step": 5.0})  # a checkpoint before the first log step: nothing measured yet
    reporter._record({"sft/step": 10.0, "sft/loss": 2.0, "sft/tokens": 100.0})
    reporter._record({"sft/step": 15.0, "sft/loss": 2.0, "sft/tokens": 100.0})  # checkpoint at 15: stale metrics
    reporter._record({"sft/step": 20.0, "sft/loss": 1.5, "sft/tokens": 200.0})
    assert [h["sft/step"] for h in reporter.history] == [10.0, 20.0]
    assert [step for step, _ in tracker.logged] == [10, 20]


def test_other_ranks_keep_nothing():
    reporter = RayTrainReporter()
    reporter._record({"sft/step": 10.0, "sft/loss": 2.0})
    assert reporter.history == []
