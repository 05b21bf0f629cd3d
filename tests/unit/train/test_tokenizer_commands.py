"""`physar tokenizer …`: every command is registered and explains its flags."""

import pytest

from physar_ray.cli import build_parser


@pytest.mark.parametrize("command,flags", [
    ("train", ["--out", "--videos", "simulator", "Ray Train", "resumes"]),
    ("encode", ["--videos", "--tokenizer", "--out", "s3://"]),
    ("reconstruct", ["--tokens", "--tokenizer", "--out", "physar eval score"]),
    ("train-vae", ["--out", "vae.time_budget_s", "tokenizer.vae_path"]),
])
def test_help_of_every_tokenizer_command(capsys, command, flags):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["tokenizer", command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for flag in [*flags, "--preset", "dotted config overrides"]:
        assert flag in text, (command, flag)


def test_missing_out_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["tokenizer", "encode", "--videos", "d", "--tokenizer", "t"])
    assert done.value.code == 2 and "--out" in capsys.readouterr().err
