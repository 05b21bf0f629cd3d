"""Sample sheets: frame grids with the true trajectory drawn over them, and GIFs.

``show`` samples a video dataset (`physar data show`, the run's ``samples/``); ``show_generated`` puts the videos
the policies generated next to the ground truth of the same conditions (the run's ``samples/generated/``).
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from physar_ray import storage  # noqa: E402
from physar_ray.records import VideoRecord, table_to_records  # noqa: E402
from physar_ray.report.plots import figure_png  # noqa: E402
from physar_ray.sim.render import world_to_pixel  # noqa: E402

log = logging.getLogger("physar.report")
TRACK_COLOURS = ("darkorange", "green")


def pick_samples(records: list[VideoRecord], per_scenario: int) -> dict[str, list[VideoRecord]]:
    """Up to ``per_scenario`` videos per scenario, spread over its splits (round robin)."""
    by_split: dict[str, dict[str, list[VideoRecord]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        by_split[rec.scenario][rec.split].append(rec)
    picked = {}
    for scenario, splits in sorted(by_split.items()):
        queues = [sorted(v, key=lambda r: r.index) for _, v in sorted(splits.items())]
        chosen: list[VideoRecord] = []
        while len(chosen) < per_scenario and any(queues):
            for q in queues:
                if q and len(chosen) < per_scenario:
                    chosen.append(q.pop(0))
        picked[scenario] = chosen
    return picked


def frame_grid(samples: list[VideoRecord], columns: int = 6, labels: list[str] | None = None) -> bytes:
    """PNG: one row per video, ``columns`` frames spread over it, true centres drawn as a path; ``labels``
    name the rows' sources (row titles then read ``LABEL`` above the split and index)."""
    fig, axes = plt.subplots(len(samples), columns, figsize=(2 * columns, 2.1 * len(samples)), squeeze=False)
    for r, (row, rec) in enumerate(zip(axes, samples)):
        t, h, w, _ = rec.frames.shape
        path = world_to_pixel(rec.states.positions, rec.states.world_size, h, w)
        for ax, f in zip(row, np.linspace(0, t - 1, columns).round().astype(int)):
            ax.imshow(rec.frames[f], extent=(0, w, h, 0), interpolation="nearest")
            for ball in range(rec.states.num_balls):
                ax.plot(path[:, ball, 0], path[:, ball, 1], "-", lw=0.8, color=TRACK_COLOURS[ball % 2])
                ax.plot(*path[f, ball], "+", color="black", ms=6)
            ax.set_xlim(0, w), ax.set_ylim(h, 0), ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"t={f}", fontsize=7)
        source = f"{labels[r]}\n" if labels else ""
        row[0].set_ylabel(f"{source}{rec.split} #{rec.index}\nood {rec.ood_level}", fontsize=7)
    return figure_png(fig, dpi=80)


def gif_bytes(frames: np.ndarray, frame_ms: int = 100) -> bytes:
    """An animated GIF of [T, H, W, 3] uint8 frames at the video's own pace (0.1 s per frame)."""
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buf.getvalue()


def _first_videos(data_uri: str, per_folder: int) -> list[VideoRecord]:
    """The first videos of the first shard in each folder: a sample sheet never reads a whole dataset."""
    firsts: dict[str, str] = {}
    for uri in storage.list_files(data_uri):
        firsts.setdefault(uri.rsplit("/", 1)[0], uri)
    records = []
    for uri in firsts.values():
        records.extend(table_to_records(storage.read_table(uri).slice(0, per_folder)))
    if not records:
        raise ValueError(f"{data_uri} holds no videos")
    return records


def show(data_uri: str, out: str, per_scenario: int = 4) -> list[str]:
    """Write ``<out>/<scenario>.png`` and ``<out>/gifs/<scenario>-<split>-<index>.gif``; return the URIs."""
    records = _first_videos(data_uri, per_scenario)
    written = []
    for scenario, samples in pick_samples(records, per_scenario).items():
        uri = storage.join(out, f"{scenario}.png")
        storage.write_bytes(uri, frame_grid(samples))
        written.append(uri)
        for rec in samples:
            gif = storage.join(out, "gifs", f"{scenario}-{rec.split}-{rec.index}.gif")
            storage.write_bytes(gif, gif_bytes(rec.frames, round(rec.states.dt * 1000)))
            written.append(gif)
    log.info("wrote %d sample files under %s", len(written), out)
    return written


GENERATED_SPLITS = ("eval_iid", "eval_ood")
"""The conditions ``show_generated`` draws: the first of each evaluation set per scenario."""


def _keys(uri: str) -> dict[tuple[str, str, int], tuple[str, int]]:
    """(scenario, split, index) → (file, row) of every video under ``uri``, reading the key columns only."""
    where = {}
    for file in storage.list_files(uri):
        keys = storage.read_table(file, columns=["scenario", "split", "index"]).to_pylist()
        for row, k in enumerate(keys):
            where.setdefault((k["scenario"], k["split"], k["index"]), (file, row))
    return where


def _read(places: list[tuple[str, int]]) -> list[VideoRecord]:
    """The videos at (file, row) places, each file read once."""
    tables = {file: storage.read_table(file) for file in dict.fromkeys(f for f, _ in places)}
    return [table_to_records(tables[file].slice(row, 1))[0] for file, row in places]


def side_by_side(videos: list[VideoRecord], gap_px: int = 2) -> np.ndarray:
    """[T, H, W·n + gaps, 3]: the videos' frames next to each other, white gaps between (a GIF of the sources)."""
    t = min(v.frames.shape[0] for v in videos)
    h = videos[0].frames.shape[1]
    gap = np.full((t, h, gap_px, 3), 255, np.uint8)
    parts = [p for v in videos for p in (v.frames[:t], gap)][:-1]
    return np.concatenate(parts, axis=2)


def show_generated(sources: dict[str, str], out: str) -> list[str]:
    """For each scenario and evaluation set, its first condition that every source holds, as it is in each source:
    ``<out>/<scenario>.png`` (one row per source and condition, the true trajectory drawn over every row) and
    ``<out>/gifs/<scenario>-<split>-<index>.gif`` (the sources side by side, in ``sources``' order).
    ``sources``: label → video dataset (e.g. ground truth → data/, sft → eval/sft/videos/); returns the URIs."""
    places = {label: _keys(uri) for label, uri in sources.items()}
    shared = set.intersection(*(set(p) for p in places.values()))
    chosen: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for split in GENERATED_SPLITS:
        for scenario in sorted({k[0] for k in shared}):
            keys = sorted(k for k in shared if k[0] == scenario and k[1] == split)
            chosen[scenario] += keys[:1]
    written = []
    for scenario, keys in sorted(chosen.items()):
        videos = {label: _read([places[label][k] for k in keys]) for label in sources}
        rows = [(label, videos[label][i]) for i in range(len(keys)) for label in sources]
        uri = storage.join(out, f"{scenario}.png")
        storage.write_bytes(uri, frame_grid([rec for _, rec in rows], labels=[label for label, _ in rows]))
        written.append(uri)
        for i, (_, split, index) in enumerate(keys):
            gif = storage.join(out, "gifs", f"{scenario}-{split}-{index}.gif")
            truth = videos[next(iter(sources))][i]
            storage.write_bytes(gif, gif_bytes(side_by_side([videos[label][i] for label in sources]),
                                               round(truth.states.dt * 1000)))
            written.append(gif)
    log.info("wrote %d generated-video sample files under %s", len(written), out)
    return written
