"""lineage.json's record of the code that computed a stage, and run.log beside a run's outputs."""

from __future__ import annotations

import logging
import re

import torch

from physar_ray import __version__
from physar_ray.provenance import code_changes, code_version
from physar_ray.run_log import RunLog


def test_code_version_names_the_package_the_libraries_and_the_commit():
    code = code_version()
    assert code["package"] == __version__
    assert code["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert code["git"] is None or re.fullmatch(r"[0-9a-f]{40}", code["git"])
    assert (code["dirty"] is None) == (code["git"] is None)


def test_code_changes_name_each_difference():
    base = {"package": "0.1.0", "git": "a" * 40, "dirty": False, "versions": {"torch": "2.13.0", "ray": "2.60.0"}}
    assert code_changes(base, base) == []
    assert code_changes(None, base) == []  # recorded before lineage kept the code: nothing to compare
    moved = {**base, "git": "b" * 40, "versions": {"torch": "2.14.0", "ray": "2.60.0", "vllm": "0.32.0"}}
    assert code_changes(base, moved) == ["commit aaaaaaaaaaaa → bbbbbbbbbbbb", "torch 2.13.0 → 2.14.0",
                                         "vllm None → 0.32.0"]
    assert code_changes(base, {**base, "dirty": True}) == ["local changes in the working tree (dirty checkout)"]


def test_run_log_appends_each_invocation_and_stops_at_close(tmp_path):
    uri = str(tmp_path / "run" / "run.log")
    for word in ("first", "second"):
        run_log = RunLog(uri)
        logging.getLogger("physar.pipeline").info("stage data: %s", word)
        logging.getLogger("physar.pipeline").debug("not kept")
        run_log.close()
    logging.getLogger("physar.pipeline").warning("after close")
    lines = (tmp_path / "run" / "run.log").read_text().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["stage data: first", "stage data: second"]
    assert all(" INFO physar.pipeline: " in line for line in lines)
