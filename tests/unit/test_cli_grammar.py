"""`physar <stage> <verb>`: inputs named by what they hold, every knob a config key, old spellings refused in
one line, -v anywhere, and the settings a checkpoint carries read from it."""

from __future__ import annotations

import logging

import pytest
import yaml

from physar_ray.cli import build_parser, main
from physar_ray.config import ConfigError, load
from physar_ray.config.args import config_from
from physar_ray.pipeline import stage_names

COMMANDS = {
    ("data", "generate"): ["--out"],
    ("data", "show"): ["--videos", "--out"],
    ("tokenizer", "train"): ["--out", "--videos"],
    ("tokenizer", "encode"): ["--videos", "--tokenizer", "--out"],
    ("tokenizer", "reconstruct"): ["--tokens", "--tokenizer", "--out"],
    ("tokenizer", "train-vae"): ["--out"],
    ("sft", "train"): ["--tokens", "--videos", "--tokenizer", "--out"],
    ("eval", "score"): ["--videos", "--out"],
    ("eval", "baselines"): ["--videos", "--out"],
    ("eval", "model"): ["--model", "--tokenizer", "--tokens", "--out"],
    ("eval", "generate"): ["--model", "--tokens", "--out"],
    ("grpo", "train"): ["--model", "--tokenizer", "--videos", "--out"],
    ("tune", "sweep"): ["--model", "--tokenizer", "--videos", "--out"],
}


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*argv, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_stage_has_verbs_and_named_inputs(capsys, command):
    text = help_text(capsys, *command)
    for flag in [*COMMANDS[command], "--preset", "-v"]:
        assert flag in text, (command, flag)
    assert "--data" not in text


@pytest.mark.parametrize("argv,expected", [
    (["grpo", "--model", "m", "--out", "o"], "`physar grpo` is now `physar grpo train`"),
    (["tune", "--model", "m"], "`physar tune` is now `physar tune sweep`"),
    (["generate", "--model", "m"], "`physar generate` is now `physar eval generate`"),
    (["eval", "score", "--data", "d", "--out", "o"], "--data is now --videos"),
    (["sft", "train", "--data", "d", "--out", "o"], "--data is now --tokens (a token dataset) or --videos with"),
    (["eval", "generate", "--data", "d"], "--data is now --tokens"),
    (["data", "generate", "--out", "o", "--num-videos", "4"], "--num-videos is now the config key data.num_videos"),
    (["data", "generate", "--out", "o", "--scenarios=uniform"], "--scenarios is now the config key data.scenarios"),
    (["tokenizer", "train-vae", "--out", "o", "--time-budget-s", "5"], "the config key vae.time_budget_s=S"),
])
def test_an_old_spelling_is_one_line_naming_the_new_one(capsys, argv, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err


def test_verbose_works_after_the_verb_and_before_the_stage():
    parser = build_parser()
    assert parser.parse_args(["sft", "train", "--tokens", "t", "--out", "o", "-v"]).verbose is True
    assert parser.parse_args(["-v", "sft", "train", "--tokens", "t", "--out", "o"]).verbose is True
    assert parser.parse_args(["sft", "train", "--tokens", "t", "--out", "o"]).verbose is False


def test_sft_takes_tokens_or_videos_not_both(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sft", "train", "--tokens", "t", "--videos", "v", "--out", "o"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["sft", "train", "--videos", "v", "--out", "o"]) == 2
    assert "--videos needs --tokenizer" in capsys.readouterr().err


def test_run_from_lists_the_stages(capsys):
    assert "redo this stage and every stage after it: data, samples, floor, tokenizer" in help_text(capsys, "run")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--out", "o", "--from", "sfft"])
    assert "invalid choice: 'sfft'" in capsys.readouterr().err
    assert build_parser().parse_args(["run", "--out", "o", "--from", "grpo"]).start_from == "grpo" in stage_names()


def test_vae_knobs_are_config_keys(capsys):
    assert main(["config", "show", "--preset", "tiny", "vae.time_budget_s=5", "vae.batch_size=4"]) == 0
    vae = yaml.safe_load(capsys.readouterr().out)["vae"]
    assert (vae["time_budget_s"], vae["batch_size"], vae["widths"]) == (5.0, 4, [32, 32, 64])
    with pytest.raises(ConfigError, match="vae.batch_size=0 must be >= 1"):
        load("tiny", ["vae.batch_size=0"])


@pytest.fixture(scope="module")
def tokenizer_32px(tmp_path_factory):
    """A real DDT tokenizer folder written at 32 px with 128 codes (the tiny preset: 64 px, 256 codes)."""
    from physar_ray.tokenizer.ddt import DDTokenizer

    cfg = load("tiny", ["tokenizer.codebook_size=128"])
    path = tmp_path_factory.mktemp("tok") / "tokenizer"
    DDTokenizer(cfg.tokenizer, 32).save(path)
    return str(path)


@pytest.fixture(scope="module")
def model_with_layout(tmp_path_factory):
    """An SFT-shaped checkpoint: a scratch LM from lm.model.video_lm, saved in HF format."""
    from physar_ray.lm.model import save_pretrained, video_lm
    from physar_ray.lm.sequence import VideoLayout

    sft = load("tiny", ["sft.hidden_size=32", "sft.num_layers=1", "sft.num_heads=2"]).sft
    model, tokenizer, _ = video_lm(sft, VideoLayout(num_frames=30, cond_frames=2, tokens_per_frame=6,
                                                    codebook_size=128))
    path = tmp_path_factory.mktemp("lm") / "model"
    save_pretrained(model, tokenizer, path)
    return str(path)


def parsed(*argv: str):
    return build_parser().parse_args(list(argv))


def test_a_command_reads_resolution_and_codebook_from_the_tokenizer(tokenizer_32px, caplog):
    with caplog.at_level(logging.INFO, logger="physar"):
        cfg = config_from(parsed("tokenizer", "encode", "--preset", "tiny", "--videos", "v", "--tokenizer",
                                 tokenizer_32px, "--out", "o"))
    assert (cfg.data.resolution, cfg.tokenizer.codebook_size) == (32, 128)
    assert load("tiny").data.resolution == 64
    assert "from the checkpoints: data.resolution=32, tokenizer.codebook_size=128" in caplog.text


def test_an_override_that_contradicts_the_checkpoint_fails_up_front(tokenizer_32px):
    args = parsed("tokenizer", "encode", "--preset", "tiny", "--videos", "v", "--tokenizer", tokenizer_32px,
                  "--out", "o", "data.resolution=64")
    with pytest.raises(ConfigError, match=r"data.resolution=64 was given, but .*tokenizer.json was trained with "
                                          r"data.resolution=32"):
        config_from(args)
    same = parsed("tokenizer", "encode", "--videos", "v", "--tokenizer", tokenizer_32px, "--out", "o",
                  "data.resolution=32")
    assert config_from(same).data.resolution == 32


def test_a_command_reads_the_video_layout_from_the_model(model_with_layout, tokenizer_32px):
    cfg = config_from(parsed("eval", "generate", "--model", model_with_layout, "--tokens", "t", "--out", "o"))
    assert (cfg.data.num_frames, cfg.data.cond_frames, cfg.tokenizer.num_tokens,
            cfg.tokenizer.codebook_size) == (30, 2, 6, 128)
    both = config_from(parsed("eval", "model", "--model", model_with_layout, "--tokenizer", tokenizer_32px,
                              "--tokens", "t", "--out", "o"))
    assert (both.data.resolution, both.data.num_frames) == (32, 30)


def test_a_tokenizer_and_a_model_of_different_runs_are_refused(model_with_layout, tmp_path):
    from physar_ray.tokenizer.ddt import DDTokenizer

    other = tmp_path / "other"
    DDTokenizer(load("tiny").tokenizer, 32).save(other)  # 256 codes; the model has 128
    with pytest.raises(ConfigError, match=r"tokenizer.codebook_size=256 but .*config.json has 128"):
        config_from(parsed("eval", "model", "--model", model_with_layout, "--tokenizer", str(other),
                           "--tokens", "t", "--out", "o"))


def test_a_folder_that_is_not_a_checkpoint_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"tokenizer.json is missing: is .* a DDT tokenizer folder"):
        config_from(parsed("tokenizer", "encode", "--videos", "v", "--tokenizer", str(tmp_path), "--out", "o"))


@pytest.mark.parametrize("command", [["eval", "score", "--videos", "v"], ["eval", "model", "--model", "m",
                                                                          "--tokenizer", "t", "--tokens", "k"]])
def test_a_source_named_like_a_reference_predictor_is_refused(capsys, command):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--out", "o", "--source", "static"])
    assert "--source 'static': name the videos" in capsys.readouterr().err
    assert build_parser().parse_args([*command, "--out", "o", "--source", "sft"]).source == "sft"
