import dataclasses

import pytest
import yaml

from physar_ray.config import Config, ConfigError, dump, from_dict, load, preset_names, replace


def test_presets_load_and_round_trip_through_resolved_yaml():
    assert {"tiny", "small", "paper"} <= set(preset_names())
    for name in preset_names():
        cfg = load(name)
        assert cfg.run.preset == name
        assert from_dict(yaml.safe_load(dump(cfg))) == cfg


def test_the_tiny_preset_counts_steps_not_seconds():
    # `make demo` must give the same tables on any machine: no stage may stop on wall time.
    cfg = load("tiny")
    assert cfg.tokenizer.time_budget_s == 0 and cfg.grpo.time_budget_s == 0
    assert load("tiny", ["tokenizer.time_budget_s=0"]).tokenizer.time_budget_s == 0


def test_dotted_overrides_are_typed():
    cfg = load("tiny", ["data.num_videos.sft=200", "data.scenarios=[uniform,parabola]", "data.antialias=false",
                        "data.gravity=3"])
    assert cfg.data.num_videos.sft == 200
    assert cfg.data.scenarios == ("uniform", "parabola")
    assert cfg.data.antialias is False
    assert cfg.data.gravity == 3.0 and isinstance(cfg.data.gravity, float)
    assert load("tiny", ["data.gravity=2.5e-1"]).data.gravity == 0.25
    assert load("tiny", ["data.gravity=25e-1"]).data.gravity == 2.5  # YAML 1.1 reads this as a string


def test_tree_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load().data.resolution = 64


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.num_vidoes.sft=3", "did you mean data.num_videos.sft"),
        ("data.resolution=16", "data.resolution=16 is too small: use at least 32"),
        ("data.resolution=abc", "data.resolution='abc' must be an integer"),
        ("data.scenarios=[uniform,spiral]", "data.scenarios has 'spiral': allowed are uniform, parabola, collision"),
        ("data.splits=[]", "must each name at least one entry"),
        ("data.ranges.sft.radius=[[1.4,0.8]]", "data.ranges.sft.radius has [1.4, 0.8]"),
        ("data.ranges.eval_ood.speed=[]", "data.ranges.eval_ood.speed=[] is empty"),
        ("data.physics_dt=0.03", "must divide data.frame_dt"),
        ("data.contact_frames=[5,3]", "data.contact_frames=[5, 3]"),
        ("measure.min_valid_fraction=0", "measure.min_valid_fraction=0.0 must be in (0, 1]"),
        ("data", "must look like dotted.key=value"),
    ],
)
def test_bad_values_name_the_key_and_the_range(override, message):
    with pytest.raises(ConfigError) as err:
        load("tiny", [override])
    assert message in str(err.value)


def test_missing_and_malformed_presets(tmp_path):
    with pytest.raises(ConfigError, match="preset 'nope' not found: use one of"):
        load("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(str(bad))
    good = tmp_path / "mine.yaml"
    good.write_text("data:\n  resolution: 64\n")
    assert load(str(good)).data.resolution == 64


def test_replace_and_hash():
    cfg = load("tiny")
    other = replace(cfg, {"data.seed": 7})
    assert other.data.seed == 7 and cfg.data.seed == 0
    assert cfg.hash("data") != other.hash("data")
    assert cfg.hash("measure") == other.hash("measure")
    assert Config().hash() == load().hash()


def test_dpo_objective_keys_are_validated_and_pad_pair_slots_to_the_learner_shape():
    grpo = load(None, ["grpo.objective=dpo"]).grpo
    assert grpo.dpo.beta == 0.1 and grpo.dpo.pairs == "best_worst" and grpo.dpo.margin == 0.0
    assert grpo.pairs_per_group == 1 and grpo.dpo_pairs_per_step == 8  # 7 prompts, micro-batches of 4 pairs
    assert grpo.grad_accum == 2
    everything = load(None, ["grpo.objective=dpo", "grpo.dpo.pairs=all"]).grpo
    assert everything.pairs_per_group == 6 and everything.dpo_pairs_per_step == 44  # 42 → a multiple of 4
    assert load(None, []).grpo.objective == "grpo"
    for override, message in (("grpo.objective=ppo", "grpo.objective='ppo': allowed are grpo, dpo"),
                              ("grpo.dpo.beta=0", r"grpo.dpo.beta=0.0 must be in \(0, 100\]"),
                              ("grpo.dpo.margin=-0.5", "grpo.dpo.margin=-0.5 must be >= 0"),
                              ("grpo.dpo.pairs=random", "grpo.dpo.pairs='random': allowed are best_worst, all"),
                              ("grpo.rollout.group_size=1", "DPO .*to form a preference pair")):
        with pytest.raises(ConfigError, match=message):
            load(None, ["grpo.objective=dpo", override])
