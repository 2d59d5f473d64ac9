"""Evaluate the video quality diagnosis on the corpus made by build_corpus.py.

    .venv/bin/python bench/vqd/evaluate.py [--corpus bench/out/vqd-corpus] [--split test|tune|holdout|tune2|fresh|fresh2|fresh3|fresh3a|fresh3b|fresh4|fresh4a|fresh4b|dev|dev5|all]
        [--no-reference] [--dump measures.csv] [--json figures.json] [--jobs 2]

Prints precision and recall per fault (an item counts for a fault when the fault was
injected into it; any other fault reported on it is a false positive of that fault), the
false-alarm rate on clean items (any fault reported), and the worst misses.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import multiprocessing
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from lookout.health.vqd import FAULTS, diagnose  # noqa: E402
from lookout.health.vqd.load import read_any, read_image  # noqa: E402
from lookout.health.workorders import WITHOUT_REFERENCE  # noqa: E402

from build_corpus import SPLIT_PARTS  # noqa: E402  (the builder beside this file)


def _diagnose_item(job: tuple[str, dict, bool]):  # noqa: ANN202
    corpus, it, no_reference = job
    ref = None
    if it.get("reference") and not no_reference:
        ref = _reference(str(Path(corpus) / it["reference"]))
    clip = read_any(Path(corpus) / it["file"])
    return diagnose(clip.frames, ref, key_frames=clip.key_frames)


@functools.lru_cache(maxsize=64)
def _reference(path: str):  # noqa: ANN202
    return read_image(path)


# what each round's tuning could look at; fresh3 was looked at once whole, then halved
ALIASES = {
    "dev": ("tune", "tune2", "holdout", "fresh"),
    "dev5": ("tune", "tune2", "holdout", "fresh", "fresh2", "fresh3a"),
    **SPLIT_PARTS,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(REPO / "bench" / "out" / "vqd-corpus"))
    ap.add_argument("--split", default="test",
                    help="test, tune, holdout, tune2, fresh, fresh2, fresh3 (= fresh3a and fresh3b), fresh4 (= fresh4a and "
                         "fresh4b), dev (= tune, tune2, "
                         "holdout and fresh: what the third and fourth rounds' tuning looked at), dev5 (= dev, fresh2 and "
                         "fresh3a: the fifth round's), all, or several joined by commas")
    ap.add_argument("--no-reference", action="store_true", help="diagnose without the reference pictures")
    ap.add_argument("--dump", help="write every item's measures and scores to this CSV")
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (the figures do not depend on it)")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    items = json.loads((corpus / "manifest.json").read_text())
    if args.split != "all":
        wanted = {s for name in args.split.split(",") for s in ALIASES.get(name, (name,))}
        unknown = wanted - {i["split"] for i in items}
        if unknown:
            raise SystemExit(f"no such split in the corpus: {', '.join(sorted(unknown))}")
        items = [i for i in items if i["split"] in wanted]
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    clean_n = clean_alarm = clean_order = 0
    rows, misses, alarms = [], [], []
    t0 = time.perf_counter()
    jobs = [(str(corpus), it, args.no_reference) for it in items]
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            results = pool.map(_diagnose_item, jobs, chunksize=4)
    else:
        results = [_diagnose_item(j) for j in jobs]
    for it, d in zip(items, results):
        ref = it.get("reference") if not args.no_reference else None
        truth = set(it["faults"])
        got = set(d.faults)
        scoreable = set(FAULTS)
        if ref is None:
            scoreable.discard("scene_change")  # cannot be told without the reference view
        if it["kind"] == "still":
            scoreable.discard("frozen")
        for f in scoreable:
            if f in truth and f in got:
                tp[f] += 1
            elif f in got:
                fp[f] += 1
                alarms.append((f, it["file"], round(d.scores[f])))
            elif f in truth:
                fn[f] += 1
                misses.append((f, it["file"], round(d.scores[f])))
        if not truth:
            clean_n += 1
            if got:
                clean_alarm += 1
            if got & WITHOUT_REFERENCE if ref is None else got:
                clean_order += 1  # would open a work order after two patrols (workorders.Policy)
        rows.append({"file": it["file"], "truth": ",".join(sorted(truth)), "got": ",".join(d.faults),
                     **{f"m_{k}": round(v, 4) for k, v in d.measures.items()},
                     **{f"s_{k}": round(v, 1) for k, v in d.scores.items()}})
    elapsed = time.perf_counter() - t0
    table = {}
    print(f"split={args.split} items={len(items)} reference={'no' if args.no_reference else 'yes'} "
          f"({elapsed:.1f} s incl. decoding)")
    print(f"{'fault':<14}{'items':>6}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>11}{'recall':>8}")
    for f in FAULTS:
        n = tp[f] + fn[f]
        p = tp[f] / (tp[f] + fp[f]) if tp[f] + fp[f] else float("nan")
        r = tp[f] / n if n else float("nan")
        table[f] = {"items": n, "tp": tp[f], "fp": fp[f], "fn": fn[f], "precision": round(p, 3), "recall": round(r, 3)}
        print(f"{f:<14}{n:>6}{tp[f]:>5}{fp[f]:>5}{fn[f]:>5}{p:>11.3f}{r:>8.3f}")
    far = clean_alarm / clean_n if clean_n else float("nan")
    print(f"clean items: {clean_n}, with any alarm: {clean_alarm} (false-alarm rate {far:.3%})")
    print(f"clean items with a fault that opens a work order (without a reference only "
          f"{', '.join(sorted(WITHOUT_REFERENCE))}): {clean_order}")
    for name, lst in (("misses", misses), ("false alarms", alarms)):
        if lst:
            print(f"{name}:")
            for f, file, s in sorted(lst)[:400]:
                print(f"  {f:<13} score {s:>3}  {file}")
    if args.dump:
        keys = sorted({k for r in rows for k in r})
        with open(args.dump, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    if args.json:
        Path(args.json).write_text(json.dumps({"split": args.split, "reference": not args.no_reference,
                                               "faults": table, "clean_items": clean_n,
                                               "clean_with_alarm": clean_alarm, "clean_with_order_fault": clean_order},
                                              indent=1))


if __name__ == "__main__":
    main()
