"""A 4-trial tiny sweep on local Ray (2 CPUs, two trials at once) with ASHA, to s3://; restore; bad sweeps fail first."""

from __future__ import annotations

import csv
import importlib.util
import io
import json

import pytest

from physar_ray import storage
from physar_ray.config import ConfigError, load
from physar_ray.tune.sweep import run_tune
from tests.unit.grpo.grpo_helpers import build_assets, tiny_config

# one trial = driver + rollout + learner + reward actor at 0.25 CPU each: two trials run at once on 2 CPUs
SWEEP = ["data.splits=[rl,eval_ood]", "grpo.learner.num_workers=1", "measure.num_actors=1",
         "grpo.max_steps=2", "grpo.eval_every=1", "grpo.checkpoint_every=2",
         "tune.search=grid", "tune.alpha=[2.0,4.0]", "tune.k=[1.4]", "tune.beta=[0.04]", "tune.group_size=[2,4]",
         "tune.num_samples=1", "tune.grace_period=1", "tune.reduction_factor=2", "tune.trial_cpus=0.25"]


@pytest.fixture(scope="module")
def world(ray_local, tmp_path_factory):
    from physar_ray.data.generate import generate

    cfg = tiny_config(*SWEEP)
    root = tmp_path_factory.mktemp("tune")
    model_dir, tok_dir = build_assets(cfg, root)
    generate(cfg, str(root / "data"))
    return cfg, model_dir, tok_dir, str(root / "data"), root


def _runs(out: str) -> dict[str, tuple]:
    """(size, modification time) of every file the trials' GRPO runs wrote: a trial that ran again rewrites them."""
    import pyarrow.fs as pafs

    fs, path = storage.filesystem(f"{out}/runs")
    return {i.path: (i.size, i.mtime) for i in fs.get_file_info(pafs.FileSelector(path, recursive=True))
            if i.type == pafs.FileType.File}


def test_sweep_to_s3_ranks_by_ood_v_err_writes_a_best_preset_and_restores(world, s3_bucket, tmp_path):
    cfg, model_dir, tok_dir, data, _ = world
    out = f"{s3_bucket}/sweep"
    summary = run_tune(cfg, model_dir, tok_dir, data, out)

    rows = list(csv.DictReader(io.StringIO(storage.read_text(f"{out}/trials.csv"))))
    assert len(rows) == summary["trials"] == 4 and summary["errors"] == 0 and not summary["restored"]
    assert {(float(r["alpha"]), int(r["group_size"])) for r in rows} == {(2.0, 2), (2.0, 4), (4.0, 2), (4.0, 4)}
    assert all(r["status"] in ("completed", "stopped") for r in rows)
    finished = [r for r in rows if r["status"] == "completed" and r["ood_v_err"]]
    assert finished and all(int(r["steps"]) == 2 for r in finished)
    want = min(finished, key=lambda r: (float(r["ood_v_err"]), r["trial_id"]))
    assert summary["best"]["trial_id"] == want["trial_id"]

    (tmp_path / "best.yaml").write_bytes(storage.read_bytes(f"{out}/best.yaml"))
    best = load(str(tmp_path / "best.yaml"))
    assert (best.measure.alpha, best.measure.k, best.grpo.kl.beta, best.grpo.rollout.group_size) == \
        (float(want["alpha"]), float(want["k"]), float(want["beta"]), int(want["group_size"]))
    assert best.grpo.max_steps == 2 and best.data == cfg.data
    assert storage.read_bytes(f"{out}/sweep.png")[:4] == b"\x89PNG"
    best_run = f"{out}/runs/{want['trial_id']}"
    assert storage.read_json(f"{best_run}/result.json")["steps"] == 2  # the last report came after the checkpoint
    assert storage.exists(f"{best_run}/checkpoints/step_0000002/model.safetensors")
    assert storage.exists(f"{out}/trials/sweep/tuner.pkl")

    before, csv_before = _runs(out), storage.read_text(f"{out}/trials.csv")
    assert len({uri.split("/runs/")[1].split("/")[0] for uri in before}) == 4
    again = run_tune(cfg, model_dir, tok_dir, data, out)
    assert again["restored"] and again["best"] == summary["best"]
    assert storage.read_text(f"{out}/trials.csv") == csv_before
    assert _runs(out) == before  # no trial ran again
    with pytest.raises(ConfigError, match="holds a sweep started with a different config"):
        run_tune(tiny_config(*SWEEP, "tune.alpha=[2.0,8.0]"), model_dir, tok_dir, data, out)


def test_trials_killed_mid_run_resume_from_their_grpo_checkpoints_when_the_sweep_is_rerun(world, tmp_path):
    cfg, model_dir, tok_dir, data, _ = world
    # two trials; each trial's process SIGKILLs itself once, right after its GRPO checkpoint of step 1
    faulty = tiny_config(*SWEEP, "tune.alpha=[2.0]", "tune.grace_period=2", "grpo.checkpoint_every=1",
                         "run.faults=[grpo.controller@1]")
    out = str(tmp_path / "sweep")
    with pytest.raises(RuntimeError, match=r"2 of 2 failed"):
        run_tune(faulty, model_dir, tok_dir, data, out)
    runs = sorted((tmp_path / "sweep" / "runs").iterdir())
    assert len(runs) == 2 and all((r / "faults" / "grpo.controller[0]@1.fired").exists() for r in runs)
    assert all((r / "checkpoints" / "step_0000001").is_dir() and not (r / "result.json").exists() for r in runs)

    again = run_tune(faulty, model_dir, tok_dir, data, out)  # restores: errored trials resume
    assert again["restored"] and again["errors"] == 0 and again["completed"] == 2
    for run in runs:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        trained = [(r["grpo/step"], r["grpo/weights_version"]) for r in rows if "grpo/weights_version" in r]
        assert trained == [(0, 0), (1, 1)]  # step 0 before the kill, step 1 after the resume: none lost or redone
        assert json.loads((run / "result.json").read_text())["steps"] == 2


def test_bad_sweeps_fail_before_any_trial_starts(world):
    cfg, model_dir, tok_dir, data, root = world
    cases = [
        ("tune.group_size=[3]", "grpo.batch_size=8 must be divisible by grpo.rollout.group_size=3"),
        ("tune.trial_cpus=1.5", "one tune trial does not fit the cluster: tune.trial_cpus=1.5 of its 2 CPUs"),
    ]
    if importlib.util.find_spec("optuna") is None:
        cases.append(("tune.search=optuna", "tune.search='optuna' needs the optuna package, which is not installed"))
    for i, (override, message) in enumerate(cases):
        out = root / f"bad-{i}"
        with pytest.raises(ConfigError) as err:
            run_tune(tiny_config(*SWEEP, override), model_dir, tok_dir, data, str(out))
        assert message in str(err.value)
        assert not (out / "trials").exists()
    with pytest.raises(ConfigError, match="tune.metric='reward'"):
        tiny_config(*SWEEP, "tune.metric=reward")
