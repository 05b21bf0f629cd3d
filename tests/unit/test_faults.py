"""run.faults: the spec grammar, and an injector that kills its own process once per run folder."""

import multiprocessing
import signal

import pytest

from physar_ray.config import ConfigError, load
from physar_ray.faults import Fault, FaultInjector, events, parse, record


def test_specs_parse_with_rank_zero_by_default_and_bad_ones_name_the_forms():
    assert parse("sft.worker@25") == Fault("sft.worker", 25, 0)
    assert parse(" tokenizer.worker[3]@7 ") == Fault("tokenizer.worker", 7, 3)
    assert str(Fault("sft.worker", 25)) == "sft.worker[0]@25"
    for bad in ("sft.worker", "sft.worker@x", "grpo.moon@3", "sft.worker[a]@3"):
        with pytest.raises(ValueError, match="POINT@STEP or POINT\\[RANK\\]@STEP"):
            parse(bad)
    with pytest.raises(ConfigError, match="'sft.wrker@3'"):
        load(None, ["run.faults=[sft.wrker@3]"])
    assert load(None, ["run.faults=[sft.worker@3]"]).run.faults == ("sft.worker@3",)


def _reach(specs, point, rank, out, steps):
    injector = FaultInjector(specs, point, rank, out)
    for step in steps:
        injector.reached(step)


def _exit_code(*args) -> int:
    process = multiprocessing.get_context("spawn").Process(target=_reach, args=args)
    process.start()
    process.join(60)
    return process.exitcode


def test_a_due_fault_kills_its_process_once_and_only_at_its_point_and_rank(tmp_path):
    out = str(tmp_path)
    specs = ["sft.worker[1]@5"]
    assert _exit_code(specs, "sft.worker", 0, out, range(10)) == 0  # another rank
    assert _exit_code(specs, "tokenizer.worker", 1, out, range(10)) == 0  # another point
    assert _exit_code(specs, "sft.worker", 1, out, range(5)) == 0  # not due yet
    assert _exit_code(specs, "sft.worker", 1, out, [0, 10, 11]) == -signal.SIGKILL  # first report at or past 5
    assert (tmp_path / "faults" / "sft.worker[1]@5.fired").read_text() == "fired at step 10\n"
    assert _exit_code(specs, "sft.worker", 1, out, range(20)) == 0  # the restarted worker carries on


def test_the_broadcast_point_parses_and_events_append_with_their_seconds(tmp_path):
    assert parse("grpo.rollout_sync[1]@2") == Fault("grpo.rollout_sync", 2, 1)
    assert events(str(tmp_path)) == []
    first = record(str(tmp_path), "rollout actor 1 died", 0.25, 3.5, phase="sync", slot=1)
    record(str(tmp_path), "learner failure", 1.0, 20.0, phase="learner")
    got = events(str(tmp_path))
    assert got[0] == first and [e["fault"] for e in got] == ["rollout actor 1 died", "learner failure"]
    assert got[0]["detect_s"] == 0.25 and got[0]["recover_s"] == 3.5 and got[0]["slot"] == 1
    assert (tmp_path / "faults" / "events.jsonl").read_text().count("\n") == 2


def test_the_member_timeout_must_be_positive_and_at_most_ten_minutes():
    assert load(None, []).grpo.sync.member_timeout_s == 30.0
    for bad in ("0", "-1", "601"):
        with pytest.raises(ConfigError, match="grpo.sync.member_timeout_s"):
            load(None, [f"grpo.sync.member_timeout_s={bad}"])
