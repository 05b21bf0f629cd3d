"""export_model keeps a checkpoint's HF files (not its optimizer state), from relative paths too."""

from physar_ray.lm.model import build_scratch_model, export_model, load_pretrained, save_pretrained
from tests.unit.lm.lm_helpers import tiny_sft


def test_export_from_a_relative_checkpoint_path_keeps_only_the_hf_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, vocab = build_scratch_model(tiny_sft(), num_codes=16, max_positions=32)
    save_pretrained(model, None, tmp_path / "run" / "checkpoints" / "step_1")
    (tmp_path / "run" / "checkpoints" / "step_1" / "ddp_state.pt").write_bytes(b"optimizer")
    (tmp_path / "run" / "checkpoints" / "step_1" / "deepspeed").mkdir()
    (tmp_path / "run" / "checkpoints" / "step_1" / "deepspeed" / "config.json").write_text("{}")
    export_model("run/checkpoints/step_1", "run/model")
    names = sorted(p.name for p in (tmp_path / "run" / "model").iterdir())
    assert names == ["config.json", "generation_config.json", "model.safetensors"]
    loaded, _ = load_pretrained("run/model")
    assert loaded.config.physar_visual["num_codes"] == 16
