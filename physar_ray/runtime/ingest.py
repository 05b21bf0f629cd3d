"""How Ray Train workers read their datasets: in a fixed order, so the same seed trains on the same samples.

Ray Data hands out blocks as its read and map tasks finish, which on a busy machine is a different order
each run; a local shuffle buffer seeded by sft.seed then shuffles a different stream, and two runs of the
same config train different models (measured: the SFT weights of two `physar run --preset tiny` runs of
one commit differed). ``preserve_order`` makes the stream the files' order, at the cost of a block that
finishes early waiting for the one before it.
"""

from __future__ import annotations

from typing import Any


def ordered_ingest() -> Any:
    """A ``ray.train.DataConfig`` whose streams keep the dataset's order (Ray's default ingest options otherwise)."""
    from ray.train import DataConfig

    options = DataConfig.default_ingest_options()
    options.preserve_order = True
    return DataConfig(execution_options=options)
