"""Train a tokenizer for its budget on simulator frames, then measure reconstructions.

The budget is tokenizer.max_steps (and tokenizer.time_budget_s when set).

Prints, per scenario of held-out eval_iid videos: mean centre error (px), v_err (eq. 4,
units/s), the found fraction (ball tracked at all in predicted frames where it is fully in
view) and the valid fraction (tracked cleanly: contact and border frames excluded, as the
reward does) on the decoded videos next to the same numbers on the originals (the tracker
floor, the baseline of this run), r_err and the phyworld metric, codebook usage / perplexity
on the eval tokens, and encode / decode frames/s. Scoring is physar_ray.measure.score_video,
the same function the reward and `physar eval score` use.

    nice -n 10 .venv/bin/python benchmarks/bench_tokenizer.py --preset tiny \
        --set data.resolution=64 --out runs/bench_tokenizer
    # evaluate a saved tokenizer (a run's checkpoint/ folder) without training:
    .venv/bin/python benchmarks/bench_tokenizer.py --set data.resolution=64 --checkpoint runs/x/checkpoint
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from physar_ray.config import load
from physar_ray.measure.score import VideoScore, score_video
from physar_ray.measure.tracker import MISSING, track
from physar_ray.sim.engine import fully_in_view
from physar_ray.sim.render import BALL_COLOURS
from physar_ray.sim.video import make_video
from physar_ray.tokenizer.ddt import DDTokenizer
from physar_ray.train.ddt import train_ddt
from physar_ray.train.frames import simulator_frames


METRICS = ("centre_err_px", "v_err", "valid_fraction", "r_err", "phyworld")


def found_flags(frames: np.ndarray, record, cond_frames: int) -> np.ndarray:
    """[F] bool over (predicted frame, ball) pairs with the true ball fully in view: the tracker
    found the ball at all (any status but missing; contact and clipped frames count as found)."""
    n = record.states.num_balls
    status = track(frames, record.states.world_size, BALL_COLOURS[:n]).status[cond_frames:]
    return (status != MISSING)[fully_in_view(record.states)[cond_frames:]]


def summarise(scores: list[VideoScore], found: list[np.ndarray]) -> dict[str, float]:
    """Means over videos (NaN entries, e.g. phyworld on videos its rules exclude, left out)."""
    out = {m: float(np.nanmean([getattr(s, m) for s in scores])) for m in METRICS}
    out["found"] = float(np.concatenate(found).mean())
    return out


def evaluate(tok: DDTokenizer, cfg, videos: int) -> tuple[dict, np.ndarray, float, float, int]:
    """Per-scenario rows (recon and floor), all eval tokens, encode/decode seconds, frames."""
    rows, all_tokens, enc_s, dec_s, n_frames = {}, [], 0.0, 0.0, 0
    for scenario in cfg.data.scenarios:
        floor, recon, found_floor, found_recon = [], [], [], []
        for index in range(videos):
            record, _ = make_video(scenario, "eval_iid", cfg.data.seed, index, cfg.data)
            t0 = time.perf_counter()
            tokens = tok.encode(record.frames)
            t1 = time.perf_counter()
            decoded = tok.decode(tokens)
            enc_s, dec_s = enc_s + t1 - t0, dec_s + time.perf_counter() - t1
            n_frames += len(record.frames)
            all_tokens.append(tokens.ravel())
            floor.append(score_video(record.frames, record.states, cfg.measure, cfg.data.cond_frames))
            recon.append(score_video(decoded, record.states, cfg.measure, cfg.data.cond_frames))
            found_floor.append(found_flags(record.frames, record, cfg.data.cond_frames))
            found_recon.append(found_flags(decoded, record, cfg.data.cond_frames))
        rows[scenario] = {"recon": summarise(recon, found_recon), "floor": summarise(floor, found_floor)}
    return rows, np.concatenate(all_tokens), enc_s, dec_s, n_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default=None)
    parser.add_argument("--set", nargs="*", default=[], help="dotted overrides, e.g. tokenizer.max_steps=300")
    parser.add_argument("--out", default="runs/bench_tokenizer")
    parser.add_argument("--videos", type=int, default=20, help="eval_iid videos per scenario")
    parser.add_argument("--checkpoint", default=None, help="evaluate this saved tokenizer instead of training one")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads; on cores shared with other jobs 1 thread avoids OpenMP spin-wait stalls")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(args.threads)
    cfg = load(args.preset, args.set)
    tc, res = cfg.tokenizer, cfg.data.resolution
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.checkpoint:
        tok = DDTokenizer.load(args.checkpoint, expect=tc, resolution=res)
        summary: dict = {"checkpoint": args.checkpoint}
    else:
        result = train_ddt(tc, res, lambda start: simulator_frames(cfg.data, tc.batch_size, start), out)
        last = result.history[-1] if result.history else {}
        print(f"trained {result.step} steps in {result.elapsed_s:.0f} s ({tc.family}/{tc.size}/{tc.decoder}, {res} px); "
              f"final loss {last.get('ddt/loss', float('nan')):.3e}")
        tok, summary = result.tokenizer, {"steps": result.step, "elapsed_s": result.elapsed_s}
    rows, tokens, enc_s, dec_s, n_frames = evaluate(tok, cfg, args.videos)
    counts = np.bincount(tokens, minlength=tc.codebook_size)
    p = counts / counts.sum()
    perplexity = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))
    print(f"{'scenario':<10} {'centre px':>9} {'floor':>7} {'ratio':>6} {'v_err':>6} {'floor':>6} {'found':>6} "
          f"{'valid':>6} {'floor':>6} {'r_err':>6} {'phyworld':>8} {'floor':>6}")
    for scenario, r in rows.items():
        a, f = r["recon"], r["floor"]
        print(f"{scenario:<10} {a['centre_err_px']:>9.4f} {f['centre_err_px']:>7.4f} "
              f"{a['centre_err_px'] / f['centre_err_px']:>6.1f} {a['v_err']:>6.3f} {f['v_err']:>6.3f} "
              f"{a['found']:>6.3f} {a['valid_fraction']:>6.3f} {f['valid_fraction']:>6.3f} "
              f"{a['r_err']:>6.3f} {a['phyworld']:>8.4f} {f['phyworld']:>6.4f}")
    print(f"codes used {int((counts > 0).sum())}/{tc.codebook_size}, perplexity {perplexity:.1f}; "
          f"encode {n_frames / enc_s:.0f} frames/s, decode {n_frames / dec_s:.0f} frames/s "
          f"({torch.get_num_threads()} threads)")
    summary.update({"scenarios": rows, "codes_used": int((counts > 0).sum()), "perplexity": perplexity,
                    "encode_fps": n_frames / enc_s, "decode_fps": n_frames / dec_s})
    (out / "bench.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
