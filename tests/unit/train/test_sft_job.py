"""The Ray Data map of SFT: token rows → LM sequences (sft split only, each video's scenario token)."""

import numpy as np

from physar_ray.lm.sequence import VideoLayout
from physar_ray.lm.vocab import scratch_vocab
from physar_ray.train.sft_job import to_sequences

LAYOUT = VideoLayout(num_frames=4, cond_frames=2, tokens_per_frame=2, codebook_size=8)


def test_rows_of_other_splits_are_dropped_and_each_keeps_its_scenario_token():
    vocab = scratch_vocab(8, ("uniform", "collision"))  # <|video_start|> 8, uniform 9, collision 10
    tokens = np.empty(3, dtype=object)
    tokens[:] = [np.full(8, 1), np.full(8, 2), np.full(8, 3)]
    batch = {"tokens": tokens, "split": np.array(["sft", "eval_iid", "sft"]),
             "scenario": np.array(["collision", "uniform", "uniform"])}
    out = to_sequences(batch, LAYOUT, vocab)
    assert out["input_ids"].tolist() == [[8, 10] + [1] * 8, [8, 9] + [3] * 8]
    assert (out["labels"][:, :2 + 4] == -100).all() and (out["labels"][:, 6:] == out["input_ids"][:, 6:]).all()
