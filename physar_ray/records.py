"""Records every stage shares: simulator states, video rows, and their Parquet schema.

One Parquet row holds one video (docs/data.md): metadata, the raw frames (uint8, C-order
T×H×W×3) and the ground truth (positions and velocities T×N×2 in world units, radii N).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

VIDEO_SCHEMA = pa.schema(
    [
        ("scenario", pa.string()),
        ("split", pa.string()),
        ("ood_level", pa.int32()),
        ("seed", pa.int64()),
        ("index", pa.int64()),
        ("num_frames", pa.int32()),
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("num_balls", pa.int32()),
        ("frames", pa.binary()),
        ("positions", pa.list_(pa.float32())),
        ("velocities", pa.list_(pa.float32())),
        ("radii", pa.list_(pa.float32())),
        ("dt", pa.float32()),
        ("world_size", pa.float32()),
        ("params", pa.string()),
    ]
)
"""The video Parquet schema (docs/data.md)."""

TOKENS_SCHEMA = pa.schema(
    [f for f in VIDEO_SCHEMA if f.name != "frames"] + [("num_tokens", pa.int32()), ("tokens", pa.list_(pa.int16()))]
)
"""A token video: the video's metadata and ground truth, and ``tokens`` (T×K codes, C-order) instead of frames."""


class RecordError(ValueError):
    """A row or file that does not follow the video schema; the message names the field."""


@dataclass(frozen=True)
class States:
    """Ground truth of one simulated video.

    positions: [T, N, 2] ball centres, world units (origin bottom-left, y up).
    velocities: [T, N, 2] instantaneous velocities, world units/s.
    radii: [N] world units.
    """

    positions: np.ndarray
    velocities: np.ndarray
    radii: np.ndarray
    dt: float
    world_size: float

    @property
    def num_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def num_balls(self) -> int:
        return self.positions.shape[1]


@dataclass(frozen=True)
class VideoRecord:
    """One row of the video table, decoded to numpy."""

    scenario: str
    split: str
    ood_level: int
    seed: int
    index: int
    frames: np.ndarray  # [T, H, W, 3] uint8
    states: States
    params: dict[str, Any]

    def to_row(self, include_frames: bool = True) -> dict[str, Any]:
        """The row as VIDEO_SCHEMA values; batch writers that own the frame bytes skip them."""
        t, h, w, _ = self.frames.shape
        s = self.states
        return {
            "scenario": self.scenario,
            "split": self.split,
            "ood_level": int(self.ood_level),
            "seed": int(self.seed),
            "index": int(self.index),
            "num_frames": t,
            "height": h,
            "width": w,
            "num_balls": s.num_balls,
            "frames": np.ascontiguousarray(self.frames, dtype=np.uint8).tobytes() if include_frames else None,
            "positions": s.positions.astype(np.float32).ravel(),
            "velocities": s.velocities.astype(np.float32).ravel(),
            "radii": s.radii.astype(np.float32),
            "dt": float(s.dt),
            "world_size": float(s.world_size),
            "params": json.dumps(self.params, sort_keys=True),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> VideoRecord:
        missing = [f for f in VIDEO_SCHEMA.names if f not in row]
        if missing:
            raise RecordError(f"video row lacks field(s) {', '.join(missing)}: not a physar video table")
        t, h, w, n = (int(row[k]) for k in ("num_frames", "height", "width", "num_balls"))
        frames = np.frombuffer(row["frames"], dtype=np.uint8)
        if frames.size != t * h * w * 3:
            raise RecordError(
                f"field 'frames' holds {frames.size} bytes, expected num_frames×height×width×3 = {t}×{h}×{w}×3"
            )
        pos = _array(row["positions"], (t, n, 2), "positions")
        vel = _array(row["velocities"], (t, n, 2), "velocities")
        radii = _array(row["radii"], (n,), "radii")
        states = States(pos, vel, radii, float(row["dt"]), float(row["world_size"]))
        return cls(
            scenario=row["scenario"],
            split=row["split"],
            ood_level=int(row["ood_level"]),
            seed=int(row["seed"]),
            index=int(row["index"]),
            frames=frames.reshape(t, h, w, 3),
            states=states,
            params=json.loads(row["params"]),
        )


def _array(values: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float32)
    if arr.size != int(np.prod(shape)):
        raise RecordError(f"field {name!r} holds {arr.size} values, expected shape {shape}")
    return arr.reshape(shape)


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows from ``VideoRecord.to_row`` as a table in the video schema."""
    return pa.Table.from_pylist(rows, schema=VIDEO_SCHEMA)


def table_to_records(table: pa.Table) -> list[VideoRecord]:
    check_schema(table.schema, "table")
    return [VideoRecord.from_row(r) for r in table.to_pylist()]


def check_schema(schema: pa.Schema, where: str) -> None:
    """Raise RecordError naming the file/table when its columns are not the video schema's."""
    missing = [n for n in VIDEO_SCHEMA.names if n not in schema.names]
    if missing:
        raise RecordError(
            f"{where} is not a physar video table: missing column(s) {', '.join(missing)}"
        )
