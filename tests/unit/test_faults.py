"""run.faults: the spec grammar, and an injector that kills its own process once per run folder."""

import multiprocessing
import signal

import pytest

from physar_ray.config import ConfigError, load
from physar_ray.faults import Fault, FaultInjector, parse


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
