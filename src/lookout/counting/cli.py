"""Visitor-counting commands: ``lookout count VIDEO``.

Contract: ``lookout count VIDEO [--line X1,Y1,X2,Y2] [--every N] --json`` runs the whole
pipeline on a video file (frames numbered from 0, every Nth frame analysed and reported)
and prints one JSON object ``{"frames": [{"frame": 0, "count": 3}, …], "line": {"in": A,
"out": B}, "fps": F}`` where F is the pipeline's throughput in analysed frames per second of
wall time. "in" counts crossings of the directed line P1→P2 from s < 0 to s > 0 with
s(p) = (X2−X1)(py−Y1) − (Y2−Y1)(px−X1) at a person's anchor (box bottom-centre).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def count(
    video: Path = typer.Argument(..., help="video file"),
    line: str | None = typer.Option(None, "--line", help="counting line X1,Y1,X2,Y2 (pixels)"),
    every: int = typer.Option(1, "--every", min=1, help="analyse every Nth frame"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    profile: str = typer.Option("accurate", "--profile", help="accurate (512x384), fast (300x300) or tiles (2x2)"),
    model: Path | None = typer.Option(None, "--model", help="ONNX YOLO/YOLOX person model instead of the default"),
    margin: float = typer.Option(10.0, "--margin", help="line hysteresis margin in pixels"),
) -> None:
    """Count people in a video file (per frame, and crossings of a line)."""
    from lookout.counting.detectors import create_detector
    from lookout.counting.lines import Line
    from lookout.counting.pipeline import CountingPipeline
    from lookout.counting.pipeline import profile as make_profile
    from lookout.counting.video import VideoError, read_frames, video_fps

    try:
        lines = [Line.parse(line, margin=margin, name="line")] if line else []
        rate = video_fps(video) / every
        spec, cfg = make_profile(profile, rate, {"kind": "yolo", "path": str(model)} if model else None)
        detector = create_detector(spec)
        pipe = CountingPipeline(detector, cfg, lines=lines)
        frames = []
        t0 = time.perf_counter()
        for index, ts, frame in read_frames(video, every):
            res = pipe.process(frame, ts, index)
            frames.append({"frame": index, "count": res.count})
        elapsed = time.perf_counter() - t0
    except (ValueError, VideoError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    totals = pipe.lines[0] if pipe.lines else None
    out = {
        "frames": frames,
        "line": {"in": totals.entered if totals else 0, "out": totals.exited if totals else 0},
        "fps": round(len(frames) / elapsed, 2) if elapsed > 0 else 0.0,
    }
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
        return
    counts = [f["count"] for f in frames]
    typer.echo(f"{video}: {len(frames)} frames analysed at {out['fps']} frames/s")
    if counts:
        typer.echo(f"people per frame: min {min(counts)}, mean {sum(counts) / len(counts):.2f}, max {max(counts)}")
    if line:
        typer.echo(f"line {line}: in {out['line']['in']}, out {out['line']['out']}")
