"""Camera-health commands: ``lookout vqd diagnose`` and ``lookout vqd batch``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from lookout.health.vqd import BadFrame, VqdConfig, diagnose, diagnose_views, reference_limits
from lookout.health.vqd.load import SourceError, is_stream, read_any, read_image

log = logging.getLogger(__name__)

vqd_app = typer.Typer(help="Video quality diagnosis.", no_args_is_help=True)


ThresholdOption = Annotated[list[str] | None, typer.Option(
    "--threshold", metavar="FAULT=SCORE",
    help="report FAULT from this score (0–100) instead of 50; repeated, e.g. --threshold blur=60")]


def _config(thresholds: list[str] | None) -> VqdConfig:
    """The diagnosis configuration with ``FAULT=SCORE`` thresholds; a bad one exits 2 naming it."""
    overrides: dict[str, float] = {}
    try:
        for item in thresholds or ():
            fault, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"threshold {item!r}: write FAULT=SCORE, e.g. blur=60")
            try:
                overrides[fault.strip()] = float(value)
            except ValueError:
                raise ValueError(f"threshold {item!r}: {value!r} is not a number") from None
        return VqdConfig().with_thresholds(overrides)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e


def _print_human(d: dict) -> None:
    faults = d["faults"]
    typer.echo("faults: " + (", ".join(faults) if faults else "none"))
    for k, v in d["scores"].items():
        typer.echo(f"  {k:<13} {v:5.1f}")


@vqd_app.command("diagnose")
def diagnose_cmd(
    path: Annotated[str, typer.Argument(help="a picture, a video file or a stream URL (rtsp://…)")],
    reference: Annotated[list[Path] | None, typer.Option(
        "--reference", help="the channel's reference picture; repeated, one per PTZ preset (the best match is used)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    threshold: ThresholdOption = None,
) -> None:
    """Diagnose one picture, video (as a whole) or stream; prints faults and 0–100 scores."""
    config = _config(threshold)
    try:
        clip = read_any(path)
        refs = [read_image(r) for r in reference or ()]
        result = diagnose_views(clip.frames, refs, config, key_frames=clip.key_frames).to_json()
        for rp, img in zip(reference or (), refs):
            limits = reference_limits(img)
            if limits:  # on stderr: the JSON on stdout stays as it is
                typer.echo(f"note: {rp}: too little detail to judge {', '.join(limits)} against; "
                           "not judged (mark a view with sharp objects in it)", err=True)
    except (SourceError, BadFrame) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_human(result)


def _resolve(base: Path, p: str) -> str:
    if is_stream(p):
        return p
    q = Path(p)
    return str(q if q.is_absolute() else base / q)


def run_batch(manifest: Path, config: VqdConfig | None = None) -> list[dict]:
    """Diagnose every entry of a manifest; an unreadable entry gets an ``error`` and no faults."""
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SourceError(f"{manifest}: cannot read manifest ({e})") from e
    if not isinstance(entries, list):
        raise SourceError(f"{manifest}: expected a JSON list of {{'file', 'reference'}} objects")
    base = manifest.parent
    refs: dict[str, object] = {}
    out = []
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("file"), str):
            out.append({"file": e.get("file") if isinstance(e, dict) else None, "faults": [], "scores": {},
                        "error": f"entry {n}: needs a 'file' string"})
            continue
        try:
            ref = None
            rp = e.get("reference")
            if rp:
                key = _resolve(base, rp)
                if key not in refs:
                    refs[key] = read_image(key)
                ref = refs[key]
            clip = read_any(_resolve(base, e["file"]))
            result = diagnose(clip.frames, ref, config, key_frames=clip.key_frames).to_json()
            out.append({"file": e["file"], **result})
        except (SourceError, BadFrame, ValueError) as err:
            log.warning("vqd batch: %s: %s", e["file"], err)
            out.append({"file": e["file"], "faults": [], "scores": {}, "error": str(err)})
    return out


@vqd_app.command("batch")
def batch_cmd(
    manifest: Annotated[Path, typer.Argument(help='JSON list of {"file": …, "reference": … or null}')],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    threshold: ThresholdOption = None,
) -> None:
    """Diagnose every file of a manifest in one process; results in the manifest's order."""
    config = _config(threshold)
    try:
        results = run_batch(manifest, config)
    except SourceError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    if as_json:
        typer.echo(json.dumps(results))
    else:
        for r in results:
            typer.echo(f"{r['file']}: {', '.join(r['faults']) or 'ok'}" + (f" (error: {r['error']})" if "error" in r else ""))
