"""Visual codes in an LM vocabulary: extension, save/load round trip, clear errors."""

from __future__ import annotations

import pytest
import torch

from physar_ray.lm.model import build_scratch_model, load_pretrained, save_pretrained
from physar_ray.lm.vocab import VIDEO_START, VisualVocab, VocabError, code_token, extend_vocabulary, scenario_token
from tests.unit.lm.lm_helpers import text_model, text_tokenizer, tiny_sft

CODES = 16


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_extension_with_a_tokenizer_round_trips_through_save_and_load(arch, tmp_path):
    model, tokenizer = text_model(arch), text_tokenizer()
    vocab = extend_vocabulary(model, CODES, tokenizer)
    # 44 text ids, then <|video_start|> = 44, then codes 45..60
    assert vocab == VisualVocab(code_offset=45, num_codes=CODES, prefix=(0, 44), vocab_size=61)
    assert tokenizer.convert_tokens_to_ids([VIDEO_START, code_token(0), code_token(15)]) == [44, 45, 60]
    assert model.config.vocab_size == model.get_input_embeddings().weight.shape[0] == 61
    assert model.get_output_embeddings().weight.shape[0] == 61

    save_pretrained(model, tokenizer, tmp_path)
    loaded, loaded_tok = load_pretrained(str(tmp_path))
    assert VisualVocab.from_model_config(loaded.config) == vocab
    assert loaded_tok.convert_tokens_to_ids(code_token(3)) == 48
    x = torch.tensor([[0, 44, 45, 50, 60]])
    with torch.no_grad():
        assert torch.allclose(model.eval()(input_ids=x).logits, loaded(input_ids=x).logits, atol=1e-6)


def test_extension_without_a_tokenizer_appends_after_the_embeddings():
    model = text_model("llama", vocab_size=44)
    vocab = extend_vocabulary(model, CODES)
    assert vocab == VisualVocab(code_offset=45, num_codes=CODES, prefix=(44,), vocab_size=61)


def test_embeddings_never_shrink_when_the_model_has_spare_rows():
    model, tokenizer = text_model("qwen2", vocab_size=128), text_tokenizer()  # Qwen2-style padding rows
    vocab = extend_vocabulary(model, CODES, tokenizer)
    assert vocab.vocab_size == 128 and list(vocab.code_ids) == list(range(45, 61))


def test_scratch_model_has_only_codes_and_video_start(tmp_path):
    model, vocab = build_scratch_model(tiny_sft(), CODES, max_positions=64)
    assert vocab == VisualVocab(0, CODES, (CODES,), CODES + 1)
    save_pretrained(model, None, tmp_path)
    loaded, tokenizer = load_pretrained(str(tmp_path))
    assert tokenizer is None and VisualVocab.from_model_config(loaded.config) == vocab


def test_load_from_s3_prefix(s3_bucket, tmp_path):
    from physar_ray import storage

    model, vocab = build_scratch_model(tiny_sft("gpt2"), CODES, max_positions=64)
    save_pretrained(model, None, tmp_path)
    for f in tmp_path.iterdir():
        storage.write_bytes(f"{s3_bucket}/lm/{f.name}", f.read_bytes())
    loaded, _ = load_pretrained(f"{s3_bucket}/lm")
    assert VisualVocab.from_model_config(loaded.config) == vocab


def test_a_checkpoint_without_visual_tokens_is_refused(tmp_path):
    save_pretrained(text_model(), None, tmp_path)
    loaded, _ = load_pretrained(str(tmp_path))
    with pytest.raises(VocabError, match="has no visual tokens"):
        VisualVocab.from_model_config(loaded.config, where=str(tmp_path))


def test_vocab_mismatches_name_both_sides():
    model, tokenizer = text_model(), text_tokenizer()
    vocab = extend_vocabulary(model, CODES, tokenizer)
    with pytest.raises(VocabError, match="512 codes .* 16 visual tokens"):
        vocab.check_codebook(512)
    with pytest.raises(VocabError, match="extended before"):
        extend_vocabulary(text_model(), CODES, tokenizer)
    with pytest.raises(VocabError, match="already has visual tokens"):
        extend_vocabulary(model, CODES)
    model.config.vocab_size = 50
    with pytest.raises(VocabError, match="do not fit a vocabulary of 50"):
        VisualVocab(45, CODES, (44,), 50)


def test_the_driver_plans_the_same_vocab_the_worker_builds_without_loading_weights(tmp_path):
    import dataclasses

    from physar_ray.lm.model import video_lm, video_vocab
    from tests.unit.lm.lm_helpers import LAYOUT

    save_pretrained(text_model(), text_tokenizer(), tmp_path)
    cfg = dataclasses.replace(tiny_sft(), model_path=str(tmp_path))
    planned = video_vocab(cfg, LAYOUT)
    model, tokenizer, built = video_lm(cfg, LAYOUT)
    assert planned == built == VisualVocab(45, 16, (0, 44), 61)
    save_pretrained(model, tokenizer, tmp_path / "sft")  # an SFT checkpoint is not extended twice
    assert video_vocab(dataclasses.replace(cfg, model_path=str(tmp_path / "sft")), LAYOUT) == built
    assert video_lm(dataclasses.replace(cfg, model_path=str(tmp_path / "sft")), LAYOUT)[2] == built


SCENARIOS = ("uniform", "parabola", "collision")


def test_scenario_tokens_follow_video_start_in_a_scratch_model_and_round_trip(tmp_path):
    model, vocab = build_scratch_model(tiny_sft(scenario_token=True), CODES, max_positions=64)
    # codes 0..15, <|video_start|> 16, then one token per scenario: 17, 18, 19
    assert vocab == VisualVocab(0, CODES, (CODES,), CODES + 4, (("uniform", 17), ("parabola", 18), ("collision", 19)))
    assert vocab.prefix_length == 2 and model.config.vocab_size == 20
    assert vocab.prefixes(3, ["collision", "uniform", "uniform"]).tolist() == [[16, 19], [16, 17], [16, 17]]
    save_pretrained(model, None, tmp_path)
    loaded, _ = load_pretrained(str(tmp_path))
    assert VisualVocab.from_model_config(loaded.config) == vocab
    assert VisualVocab.from_dict(vocab.to_dict()) == vocab


def test_scenario_tokens_in_a_tokenizer_and_without_one():
    model, tokenizer = text_model(), text_tokenizer()
    vocab = extend_vocabulary(model, CODES, tokenizer, SCENARIOS)
    # 44 text ids, <|video_start|> 44, the scenario tokens 45..47, codes 48..63
    assert vocab.scenario_ids == (("uniform", 45), ("parabola", 46), ("collision", 47))
    assert tokenizer.convert_tokens_to_ids(scenario_token("parabola")) == 46 and vocab.code_offset == 48
    bare = extend_vocabulary(text_model("llama", vocab_size=44), CODES, scenarios=SCENARIOS)
    assert bare == VisualVocab(48, CODES, (44,), 64, (("uniform", 45), ("parabola", 46), ("collision", 47)))


def test_a_conditioned_vocabulary_needs_a_known_scenario_per_video():
    vocab = VisualVocab(0, CODES, (CODES,), CODES + 2, (("uniform", 17),))
    with pytest.raises(VocabError, match=r"conditioned on the scenario \(uniform\): give one scenario per video \(2\)"):
        vocab.prefixes(2)
    with pytest.raises(VocabError, match="scenario 'spiral' has no conditioning token"):
        vocab.prefixes(1, ["spiral"])
    assert VisualVocab(0, CODES, (CODES,), CODES + 1).prefixes(2).tolist() == [[16], [16]]  # unconditioned: no token
