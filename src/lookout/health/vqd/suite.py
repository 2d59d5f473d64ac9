"""The full diagnosis: measures per frame, one score 0–100 per fault, faults over threshold.

Pure functions on numpy frames (BGR uint8). A clip is diagnosed as a whole: per-frame
measures are combined by their median (a fault present through most of the clip), the
covered blocks by their per-block median, and ``frozen`` compares the frames with each
other. The whole diagnosis runs with one OpenCV thread (see ``frames.single_thread``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from lookout.health.vqd import color, exposure, frozen, noise, pan, reference, sharpness, signal, stripes
from lookout.health.vqd.frames import FrameView, median, prepare, ramp, single_thread
from lookout.health.vqd.reference import RefView

FAULTS = ("signal_loss", "frozen", "blur", "occlusion", "too_dark", "too_bright", "color_cast", "noise",
          "stripes", "scene_change")


@dataclass(frozen=True)
class Ramp:
    zero: float  # raw measure where the score is 0
    full: float  # raw measure where the score is 100

    def __call__(self, x: float) -> float:
        return ramp(x, self.zero, self.full)


def _default_ramps() -> dict[str, Ramp]:
    return {
        "signal_loss": Ramp(0.80, 0.96),  # share of the picture at one grey level
        "frozen_changed": Ramp(0.06, 0.02),  # share of the picture that changed over the clip
        "frozen_live": Ramp(0.026, 0.012),  # live-noise level between neighbouring frames
        # … and between key frames coded at one quality: one frozen picture's differ by up to 1.45
        # (the corpus's 603 frozen clips), a live still scene's whose P-frames skip its noise by 1.79 and more
        "frozen_key_live": Ramp(1.75, 1.45),
        "blur": Ramp(0.39, 0.55),  # blur effect 0..1 (no reference)
        "blur_vs_reference": Ramp(0.025, 0.065),  # median per-block blur effect above the reference's
        "blur_grey_vs_reference": Ramp(0.016, 0.048),  # the same at half size, for a grey-scale picture
        # … and what a colour picture's blur needs there too: above what coding at 0.05 bit per
        # pixel takes from a clean view (bench/vqd/coding_loss.py), well below a mild defocus
        "blur_coarse_vs_reference": Ramp(0.02, 0.04),
        "blur_edges_vs_reference": Ramp(0.28, 0.38),  # how much flatter the reference's steepest edges are, 0..1
        "occlusion": Ramp(0.045, 0.125),  # largest covered region vs. the reference, share of the whole view
        "occlusion_noref": Ramp(0.22, 0.38),  # largest flat region at the border, share of view
        "too_dark": Ramp(110.0, 50.0),  # 95th percentile grey level
        "too_dark_drop": Ramp(0.7, 0.45),  # … as a share of the reference's (a dark view was dark when marked correct)
        "too_bright_floor": Ramp(130.0, 160.0),  # 5th percentile grey level (washed out)
        "too_bright_mean": Ramp(160.0, 190.0),  # mean grey level (with burnt-out parts)
        "too_bright_burnt": Ramp(0.08, 0.20),  # share of burnt-out pixels
        # with a reference the picture must also have become brighter than it: the levels alone
        # may then be judged less strictly
        "too_bright_mean_ref": Ramp(140.0, 170.0),
        "too_bright_burnt_ref": Ramp(0.05, 0.12),
        "too_bright_mean_rise": Ramp(45.0, 75.0),  # mean grey level above the reference's
        "too_bright_burnt_rise": Ramp(0.15, 0.35),  # burnt-out share above the reference's
        "too_bright_floor_rise": Ramp(40.0, 80.0),  # 5th percentile above the reference's
        # … and, for the same view, a lifted black level with a much brighter picture is too bright
        # at any level (a dark forest over-exposed stays below the levels above)
        "too_bright_lift_floor": Ramp(40.0, 60.0),  # 5th percentile above the reference's
        "too_bright_lift_mean": Ramp(60.0, 80.0),  # mean above the reference's
        "color_cast": Ramp(1.5, 2.7),  # cast factor K (no reference): threshold above every non-cast tune item
        "color_cast_vs_reference": Ramp(1.8, 4.8),  # median chromaticity change from the reference, points
        # … where enough blocks are unclipped: how unequally the three channels changed, points
        "color_cast_gains": Ramp(5.5, 7.5),
        # … once one tone curve common to the channels is taken out (a brighter, paler vivid view)
        "color_cast_tone": Ramp(4.0, 6.5),
        "noise": Ramp(7.0, 10.0),  # noise sigma, grey levels
        "stripes": Ramp(1.25, 2.25),  # spectral peak prominence, any colour channel, log units
        "stripes_vs_reference": Ramp(1.05, 2.05),  # … of a peak the reference does not have
        "stripes_own_over_reference": Ramp(0.9, 1.4),  # the largest peak over the reference at its frequency
        # … after a scene change a new view's own texture period (bricks, blinds) is no band: the peak
        # must also stand well above the reference's spectrum there
        "stripes_vs_reference_turned": Ramp(1.55, 2.55),
        "stripes_spread": Ramp(0.6, 0.85),  # how evenly the peak covers the picture (bands: about 1)
        "stripes_one_direction": Ramp(-0.2, -0.4),  # next peak in another direction, less the peak (log units)
        "scene_change": Ramp(0.55, 0.85),  # share of informative blocks that no longer match
        "scene_shift": Ramp(0.05, 0.12),  # global shift, share of width
    }


RAMPS = _default_ramps()  # the default ramps: what is worth measuring at all
#: a clip whose view travels this share of its width per frame pair is a camera turning (see ``pan``)
MOVING_VIEW = 0.012
#: Without a reference, a washed-out reading (a lifted black level) counts only with this share of
#: burnt-out pixels (or a 95th percentile at 254 or more)
WASHED_OUT_BURNT_SHARE = 0.01


@dataclass(frozen=True)
class VqdConfig:
    """Thresholds (0–100) per fault and the measure→score ramps. A fault whose threshold is None is
    not judged (a view that is still by nature, such as a corridor at night whose encoder codes the
    sensor noise away, need not be judged frozen)."""

    thresholds: dict[str, float | None] = field(default_factory=lambda: {f: 50.0 for f in FAULTS})
    ramps: dict[str, Ramp] = field(default_factory=_default_ramps)
    min_cast_offset: float = 4.0  # Lab units: a smaller mean chroma offset is never a cast
    min_shift_response: float = 0.15
    cover_rest_unmatched: float = 0.7  # a cover leaves most of the rest of the view matching the reference
    blur_over_stripes_margin: float = 10.0  # score points
    cover_concentration: float = 0.07  # … and the view's mismatch drops by this much outside the cover
    moving_view: float = MOVING_VIEW
    # with a reference: block levels correlating this well with it are the view, however dark (a
    # black screen or a "no video" card measured ≤ 0.38 on the tuning data, darkened views ≥ 0.99)
    view_still_shown: float = 0.8
    # a picture correlating this well with the reference moved by the measured shift is the same
    # scene, turned (turns on the tuning data ≥ 0.75 with a confident shift, other pictures ≤ 0.43)
    same_scene_match: float = 0.6
    # beside a concentrated cover, exposure and bands count only from this score (a cover's own
    # effect on levels and spectrum measured 52–63 on the tuning data)
    beside_cover_from: float = 70.0

    def threshold(self, fault: str) -> float:
        """The score from which ``fault`` is reported; infinite when it is not judged."""
        value = self.thresholds.get(fault, 50.0)
        return math.inf if value is None else float(value)

    def with_thresholds(self, overrides: Mapping[str, float | None]) -> VqdConfig:
        """This configuration with some faults' thresholds changed (0–100: a fault is reported from
        that score; None: not judged); a fault name that does not exist or a threshold that is not a
        number in 0–100 raises ValueError naming it."""
        for fault, value in overrides.items():
            if fault not in FAULTS:
                raise ValueError(f"threshold for {fault!r}: no such fault (one of {', '.join(FAULTS)})")
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 100.0:
                raise ValueError(f"threshold for {fault}: {value!r} is outside 0–100")
        return replace(self, thresholds={**self.thresholds,
                                         **{f: None if v is None else float(v) for f, v in overrides.items()}})


@dataclass(frozen=True)
class Diagnosis:
    faults: list[str]
    scores: dict[str, float]
    measures: dict[str, float]
    reference: int | None = None  # which of the given reference pictures it was judged against (None: none)

    def to_json(self) -> dict:
        return {"faults": list(self.faults), "scores": {k: round(v, 1) for k, v in self.scores.items()}}


@dataclass(frozen=True)
class Reference:
    """A reference picture prepared for comparison with pictures of one size."""

    view: RefView
    blur: sharpness.BlurBlocks
    blur_effect: float
    spectra: stripes.RefSpectra | None = None
    coarse_blur: sharpness.BlurBlocks | None = None  # at half size: grey-scale pictures, and colour ones softer in fine detail
    exposure: tuple[float, float, float, float] | None = None  # grey 5th percentile, mean, 95th percentile, (nearly) burnt-out share
    edges: sharpness.EdgeProfile | None = None  # its steepest edges, when too few blocks are detailed to judge focus by


def prepare_reference(reference_frame: np.ndarray, size: tuple[int, int]) -> Reference:
    """Prepare `reference_frame` once for current pictures whose small copy is `size` (w, h)."""
    rv = prepare(reference_frame)
    bb = sharpness.blur_blocks(rv, denoise=True)
    return Reference(view=reference.prepare_reference(rv, size), blur=bb, blur_effect=sharpness.blur_effect(rv, bb),
                     spectra=stripes.reference_spectra(rv), coarse_blur=sharpness.coarse_blur_blocks(rv),
                     exposure=_reference_exposure(rv), edges=None if sharpness.focus_judged(bb) else sharpness.edge_profile(rv))


def reference_limits(reference_frame: np.ndarray) -> list[str]:
    """The faults a picture cannot help judge as a reference, to tell the operator marking it:
    ``blur`` when it shows too little detail and no long steep edge (a pale wall filling the
    view), since then focus is not judged at all against it."""
    rv = prepare(reference_frame)
    if sharpness.focus_judged(sharpness.blur_blocks(rv, denoise=True)) or sharpness.edge_profile(rv) is not None:
        return []
    return ["blur"]


def _reference_exposure(view: FrameView) -> tuple[float, float, float, float]:
    """A reference's grey levels; its burnt-out share counts what was nearly burnt out, which the
    auto-exposure's ordinary steps burn out (a picture is too bright by the share it burns beyond)."""
    return (*exposure.percentiles(view), exposure.saturated_fraction(view, exposure.NEAR_BURNT))


def frame_measures(view: FrameView, ref: Reference | None = None, steady: bool = True,
                   chroma: np.ndarray | None = None) -> tuple[dict[str, float], np.ndarray | None]:
    """Raw measures of one picture, and its per-block covered share (0..1) when a reference is given.

    `steady`: also what does not change within a few seconds, focus and interference bands (a
    clip measures those on every other frame; see ``clip_measures``). `chroma`: the picture's
    ``chroma_blocks`` when the caller has them already."""
    p5, mean, p95 = exposure.percentiles(view)
    solid, solid_level = signal.solid_fraction(view)
    m = {
        "solid": solid,
        "solid_level": float(solid_level),
        "p5": p5,
        "mean": mean,
        "p95": p95,
        "saturated": exposure.saturated_fraction(view),
        "noise_sigma": noise.noise_sigma(view),
    }
    bb = None
    if steady:
        bb = sharpness.blur_blocks(view, denoise=ref is not None)
        pk = stripes.peaks(view, ref.spectra if ref is not None else None, own_from=RAMPS["stripes"].zero,
                           new_from=RAMPS["stripes_vs_reference"].zero)
        m.update(blur_effect=sharpness.blur_effect(view, bb), stripe_peak=pk.own, stripe_spread=pk.own_spread,
                 stripe_second=pk.own_second)
        if pk.new is not None:
            m["stripe_new_peak"] = pk.new
            m["stripe_new_spread"] = pk.new_spread
            m["stripe_new_second"] = pk.new_second
            m["stripe_own_over_ref"] = pk.own_over_ref
    if ref is None:
        # without a reference: the cast factor and the flat border region (with one, the change from it)
        m["cast_k"], m["cast_d"] = color.cast_factor(view)
        m["flat_region"] = reference.flat_region(view)  # occlusion without a reference
        return m, None
    cur_chroma = color.chroma_blocks(view.color) if chroma is None else chroma
    rc = reference.compare(view, ref.view, cur_chroma)
    usable = rc.exposed & ~rc.covered
    grey_now = reference.is_grey_picture(cur_chroma)
    m.update(ref_shift=rc.shift, ref_response=rc.shift_response, ref_unmatched=rc.unmatched,
             ref_region=reference.largest_region(rc.cover), ref_informative=rc.informative,
             ref_rest_unmatched=rc.rest_unmatched, ref_level_corr=rc.level_corr, ref_shift_match=rc.shift_match,
             ref_chroma_shift=color.chroma_shift(cur_chroma, ref.view.chroma),
             night_vs_day=float(grey_now and not ref.view.is_grey), grey_now=float(grey_now))
    if rc.gains is not None:
        m["ref_gain_cast"] = color.gain_cast(rc.gains)
    if ref.exposure is not None:
        m["ref_p5"], m["ref_mean"], m["ref_p95"], m["ref_saturated"] = ref.exposure
    if bb is None:
        return m, rc.cover
    m["ref_blur_increase"] = sharpness.blur_rise(bb, ref.blur, usable)
    if ref.edges is not None:
        scale = view.mid.shape[1] / max(view.grey.shape[1], 1)  # the shift is in small pixels
        softening = sharpness.edge_softening(view, ref.edges, rc.aligned_by[0] * scale, rc.aligned_by[1] * scale)
        if softening is not None:
            m["ref_edge_softening"] = softening
    # at half size: for a grey-scale picture always; for a colour one only when the fine measure
    # would see lost focus, to tell a defocus from coding loss (see _blur_score)
    if ref.coarse_blur is not None and (grey_now or m["ref_blur_increase"] >= RAMPS["blur_vs_reference"].zero):
        m["ref_blur_increase_coarse"] = sharpness.blur_rise(sharpness.coarse_blur_blocks(view), ref.coarse_blur,
                                                            usable)
    return m, rc.cover


def _blur_score(m: dict[str, float], r: dict[str, Ramp]) -> float:
    if "ref_blur_increase" not in m:
        return r["blur"](m["blur_effect"])
    if "ref_edge_softening" in m:  # a reference with few detailed blocks: its steepest edges tell
        return r["blur_edges_vs_reference"](m["ref_edge_softening"])
    if m.get("grey_now", 0.0) >= 0.5 and "ref_blur_increase_coarse" in m:
        # a grey-scale (night, IR) picture is softer at the pixel scale (focus shift, noise
        # reduction): judged at half size, where only a defocus still shows
        return r["blur_grey_vs_reference"](m["ref_blur_increase_coarse"])
    fine = r["blur_vs_reference"](m["ref_blur_increase"])
    if "ref_blur_increase_coarse" in m:
        # coding loss (a low JPEG quality, a starved bitrate) takes the finest texture of a smooth
        # view (fog, sky, water) and nothing at half size; a defocus softens both
        return min(fine, r["blur_coarse_vs_reference"](m["ref_blur_increase_coarse"]))
    return fine


def _stripes_score(m: dict[str, float], r: dict[str, Ramp], key: str) -> float:
    """Bands: a high spectral peak (`key` "stripe_new": one the reference does not have) that
    covers the whole picture evenly, in one direction (a chequered board, tiles or a lattice
    repeat in two)."""
    height = r["stripes_vs_reference" if key == "stripe_new" else "stripes"](m[f"{key}_peak"])
    score = min(height, r["stripes_spread"](m[f"{key}_spread"]), r["stripes_one_direction"](m[f"{key}_second"]))
    if key == "stripe_new" and "stripe_own_over_ref" in m:
        # the picture's largest peak, if the reference is much lower there (one frequency looked at,
        # not the largest difference over all of them, which the two spectra's noise alone makes high)
        at_own_peak = r["stripes_own_over_reference"](m["stripe_own_over_ref"])
        score = max(score, min(_stripes_score(m, r, "stripe"), at_own_peak))
    return score


def _too_bright_score(m: dict[str, float], r: dict[str, Ramp], same_view: bool = False, turned: bool = False) -> float:
    """`same_view`: the picture still shows the reference's view (no scene change); `turned`: it
    does not, so the reference's levels belong to another view and the picture is judged on its own."""
    if "ref_mean" not in m or turned:
        # a light picture with nothing burnt out is what a white room, a pale wall or fog looks like;
        # over-exposure burns the highlights (with a reference, the rise above it tells instead)
        burnt = m["saturated"] >= WASHED_OUT_BURNT_SHARE or m["p95"] >= 254
        return max(r["too_bright_floor"](m["p5"]) if burnt else 0.0,
                   min(r["too_bright_mean"](m["mean"]), r["too_bright_burnt"](m["saturated"])))
    # a view that is bright by nature (a beach, snow, haze) was bright when it was marked correct
    level = max(r["too_bright_floor"](m["p5"]),
                min(r["too_bright_mean_ref"](m["mean"]), r["too_bright_burnt_ref"](m["saturated"])))
    rise = max(r["too_bright_mean_rise"](m["mean"] - m["ref_mean"]),
               r["too_bright_burnt_rise"](m["saturated"] - m["ref_saturated"]),
               r["too_bright_floor_rise"](m["p5"] - m["ref_p5"]))
    score = min(level, rise)
    if same_view:
        # a lifted black level with a much brighter picture is over-exposure at any level
        score = max(score, min(r["too_bright_lift_floor"](m["p5"] - m["ref_p5"]),
                               r["too_bright_lift_mean"](m["mean"] - m["ref_mean"])))
    return score


def _shift_score(shift: float, shift_response: float, cfg: VqdConfig) -> float:
    """All of the view moved (a shift only counts when it is well defined)."""
    return cfg.ramps["scene_shift"](shift) if shift_response >= cfg.min_shift_response else 0.0


def _moved_along_scene(m: dict[str, float], cfg: VqdConfig) -> bool:
    """All of the view moved, confidently, and the picture is the reference's moved by that much
    (a camera turned along the same scene), not a different view with a chance peak."""
    return (_shift_score(m.get("ref_shift", 0.0), m.get("ref_response", 0.0), cfg) >= cfg.threshold("scene_change")
            and m.get("ref_shift_match", 0.0) >= cfg.same_scene_match)


def _scene_change_score(unmatched: float, shift: float, shift_response: float, cfg: VqdConfig) -> float:
    """The view no longer matches the reference, or all of it moved."""
    return max(cfg.ramps["scene_change"](unmatched), _shift_score(shift, shift_response, cfg))


def scores_from_measures(m: dict[str, float], cfg: VqdConfig) -> dict[str, float]:
    r = cfg.ramps
    s = {
        # a burnt-out white picture is judged as too bright, not as a lost signal; a nearly uniform
        # picture whose light and shade still follow the reference's is the view made dark
        "signal_loss": (r["signal_loss"](m["solid"])
                        if m["solid_level"] < 245 and m.get("ref_level_corr", 0.0) < cfg.view_still_shown else 0.0),
        "frozen": 0.0,
        "blur": _blur_score(m, r),
        "too_dark": (min(r["too_dark"](m["p95"]), r["too_dark_drop"](m["p95"] / max(m["ref_p95"], 1.0)))
                     if "ref_p95" in m else r["too_dark"](m["p95"])),
        "too_bright": _too_bright_score(m, r),
        "color_cast": (r["color_cast_tone"](m["ref_tone_cast"]) if "ref_tone_cast" in m
                       else r["color_cast_gains"](m["ref_gain_cast"]) if "ref_gain_cast" in m
                       else r["color_cast_vs_reference"](m["ref_chroma_shift"]) if "ref_chroma_shift" in m
                       else r["color_cast"](m["cast_k"]) if m["cast_d"] >= cfg.min_cast_offset else 0.0),
        "noise": r["noise"](m["noise_sigma"]),
        "stripes": _stripes_score(m, r, "stripe_new" if "stripe_new_peak" in m else "stripe"),
    }
    if not np.isnan(m.get("changed", float("nan"))):
        s["frozen"] = min(r["frozen_changed"](m["changed"]), r["frozen_live"](m["live_noise"]))
        if not np.isnan(m["key_noise"]):
            s["frozen"] = min(s["frozen"], r["frozen_key_live"](m["key_noise"]))
    if "ref_unmatched" in m:
        s["scene_change"] = _scene_change_score(m["ref_unmatched"], m["ref_shift"], m["ref_response"], cfg)
        s["occlusion"] = r["occlusion"](m["ref_region"])
        if s["scene_change"] < cfg.threshold("scene_change"):
            s["too_bright"] = _too_bright_score(m, r, same_view=True)
        elif _moved_along_scene(m, cfg):
            # the camera turned along the same scene (the picture is the reference's, shifted): its
            # light is the reference's, and a spectrum does not change with a shift, so exposure
            # and bands are still judged against the reference
            s["too_bright"] = _too_bright_score(m, r)
        else:
            s["too_bright"] = _too_bright_score(m, r, turned=True)
            # the view is no longer the reference's: every spectral peak of the new view is "new",
            # so bands are judged as without a reference, and must also rise well above the
            # reference's spectrum
            s["stripes"] = _stripes_score(m, r, "stripe")
            if "stripe_new_peak" in m:
                s["stripes"] = min(s["stripes"], r["stripes_vs_reference_turned"](m["stripe_new_peak"]))
    else:
        s["scene_change"] = 0.0
        s["occlusion"] = r["occlusion_noref"](m["flat_region"])
    return {f: float(s[f]) for f in FAULTS}


def _cover_concentrated(m: dict[str, float], cfg: VqdConfig) -> bool:
    """The mismatch with the reference lies under the cover; much of the rest of the view still matches."""
    rest = m.get("ref_rest_unmatched", 1.0)
    return rest < cfg.cover_rest_unmatched and m.get("ref_unmatched", 0.0) - rest >= cfg.cover_concentration


def decide(scores: dict[str, float], cfg: VqdConfig, measures: dict[str, float] | None = None) -> list[str]:
    over = [f for f in FAULTS if scores[f] >= cfg.threshold(f)]
    if "signal_loss" in over:
        return ["signal_loss"]  # no picture: nothing else can be judged
    if measures is not None and "ref_unmatched" not in measures and measures.get("pan", 0.0) >= cfg.moving_view:
        # a turning camera without a reference: the composition is passing, so a flat border, a
        # close-up's colours and a texture's period say nothing yet; they wait for a still view
        over = [f for f in over if f not in ("occlusion", "color_cast", "stripes")]
    if "occlusion" in over and measures is not None and _cover_concentrated(measures, cfg):
        # a large cover changes the picture's levels and spectrum by itself: beside a cover that
        # leaves the rest of the view matching, a marginal exposure or band finding is its doing
        over = [f for f in over
                if f not in ("too_dark", "too_bright", "stripes") or scores[f] >= cfg.beside_cover_from]
    if {"too_dark", "too_bright", "noise", "stripes"} & set(over):
        # the picture itself is degraded all over: comparing it with the reference says nothing more
        over = [f for f in over if f not in ("occlusion", "scene_change")]
    if {"too_dark", "too_bright", "noise"} & set(over):
        # detail lost in the dark, burnt out or under snow: sharpness cannot be judged
        over = [f for f in over if f != "blur"]
    if "stripes" in over and "blur" in over:
        # strong bands read as lost fine detail, and a blurred regular pattern (windows, tiles) as a
        # lone spectral peak: the stronger evidence explains the other; bands are the more specific
        # finding, so blur has to be clearly stronger to win
        blur_wins = scores["blur"] > scores["stripes"] + cfg.blur_over_stripes_margin
        over = [f for f in over if f != ("stripes" if blur_wins else "blur")]
    if {"too_dark", "too_bright", "occlusion", "noise", "stripes"} & set(over):
        # exposure or a coloured cover explains the colour; so does snow, whose colour noise is
        # clipped unevenly on strong colours, and interference riding on one colour channel
        over = [f for f in over if f != "color_cast"]
    if "scene_change" in over and "occlusion" in over and measures is not None:
        # a large cover also mismatches the reference; if the mismatch is concentrated under the cover
        # and much of the rest of the view still matches, it is a cover
        # (unless all of the view moved along the scene: a cover does not shift the picture)
        if _cover_concentrated(measures, cfg) and not _moved_along_scene(measures, cfg):
            over = [f for f in over if f != "scene_change"]
    if "scene_change" in over:
        # a turned camera mismatches everywhere, and its sharpness is not the reference's
        over = [f for f in over if f not in ("occlusion", "blur", "color_cast")]
    if "occlusion" in over:
        over = [f for f in over if f != "blur"]  # a cover near the lens is out of focus itself
    return over


def _tone_cast(m: dict[str, float], chromas: Sequence[np.ndarray], ref: Reference) -> None:
    """``ref_tone_cast`` of a clip whose frames' ``chroma_blocks`` are `chromas`: the cast left once
    one tone curve is fitted from the reference's block colours to the clip's (each block's median
    over the frames: people walk on), once per clip. A grey-scale picture (night, infrared) has no
    colour to cast; against a grey-scale reference, or with too few usable blocks, the measure is
    left out (the others judge the cast)."""
    chroma = chromas[0] if len(chromas) == 1 else np.median(chromas, axis=0)
    if reference.is_grey_picture(chroma):
        m["ref_tone_cast"] = 0.0
    elif not ref.view.is_grey:
        cast = color.tone_cast(chroma, ref.view.chroma)
        if cast is not None:
            m["ref_tone_cast"] = cast


def clip_measures(frames: Sequence[np.ndarray], reference_frame: np.ndarray | Reference | None = None,
                  moving_view: float = MOVING_VIEW, key_frames: Sequence[int] = ()) -> dict[str, float]:
    """Raw measures of a clip (median over frames) plus the clip's motion measures (``changed``,
    ``live_noise``, ``key_noise``; ``key_frames``: the indices of the frames coded as key frames).

    Focus and interference bands do not change within a few seconds while the camera holds still:
    they are measured on every other frame (the first, the third, …), which saves about a sixth of
    the diagnosis per frame; a turning camera's view changes (``pan`` ≥ `moving_view`, as the rules
    judge a turn), so there every frame is measured.

    With a reference, ``ref_region`` is the largest covered region of the per-block median
    cover over the frames: a cover stays, people walking through do not.
    """
    if len(frames) == 0:
        raise ValueError("no frame to diagnose")
    views = [prepare(f) for f in frames]
    ref = reference_frame
    if isinstance(reference_frame, np.ndarray):
        h, w = views[0].grey.shape
        ref = prepare_reference(reference_frame, (w, h))
    per, masks = [], []
    pan_rate = pan.pan_rate(views)
    # per-block colours, with a reference: each frame's comparison and the clip's tone fit use them
    chromas = [color.chroma_blocks(v.color) for v in views] if isinstance(ref, Reference) else [None] * len(views)
    for k, (v, chroma) in enumerate(zip(views, chromas)):
        fm, covered = frame_measures(v, ref, steady=k % 2 == 0 or pan_rate >= moving_view, chroma=chroma)
        per.append(fm)
        if covered is not None:
            masks.append(covered)
    keys = dict.fromkeys(k for p in per for k in p)  # a few measures exist only for some frames (grey ones)
    m = {k: median([p[k] for p in per if k in p]) for k in keys}
    if masks and all(mk.shape == masks[0].shape for mk in masks):
        m["ref_region"] = reference.largest_region(np.median(masks, axis=0))
    if isinstance(ref, Reference):
        _tone_cast(m, chromas, ref)
    mm = frozen.motion_measures(views, key_frames)
    m["changed"], m["live_noise"], m["key_noise"] = (float("nan"),) * 3 if mm is None else mm
    m["pan"] = pan_rate
    return m


def _as_clip(frames: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """One picture (a 2-D or 3/4-channel array) as a clip of one; a clip as a list."""
    if isinstance(frames, np.ndarray) and frames.ndim in (2, 3) and (frames.ndim == 2 or frames.shape[2] in (3, 4)):
        return [frames]
    return list(frames)


def diagnose(frames: Sequence[np.ndarray] | np.ndarray, reference_frame: np.ndarray | Reference | None = None,
             config: VqdConfig | None = None, *, key_frames: Sequence[int] = ()) -> Diagnosis:
    """Diagnose one picture or a clip (a sequence of frames in time order).

    ``key_frames``: the indices of the clip's frames that were coded as key frames, where known
    (:class:`lookout.health.vqd.load.Clip`); the frozen check compares them (see ``frozen``).

    `reference_frame` is the channel's reference picture (BGR), or one prepared with
    ``prepare_reference`` for pictures of this size (a patrol diagnosing many clips of one
    channel prepares it once).
    """
    cfg = config or VqdConfig()
    with single_thread():
        m = clip_measures(_as_clip(frames), reference_frame, cfg.moving_view, key_frames)
    scores = scores_from_measures(m, cfg)
    return Diagnosis(faults=decide(scores, cfg, m), scores=scores, measures=m)


def diagnose_views(frames: Sequence[np.ndarray] | np.ndarray,
                   references: Sequence[np.ndarray | Reference] = (), config: VqdConfig | None = None, *,
                   key_frames: Sequence[int] = ()) -> Diagnosis:
    """Diagnose against the best-matching of several reference pictures (one per PTZ preset).

    A camera touring its presets shows one of its marked views at a time: the clip's middle
    picture is compared with each reference (the scene-change measures only), and the whole
    diagnosis runs against the one it matches best, so another preset is not a turned camera
    while a view matching none of them still is. With no reference this is ``diagnose``
    without one; with one, ``diagnose`` with it. ``reference`` of the answer: the one used.
    """
    cfg = config or VqdConfig()
    frames = _as_clip(frames)
    if len(references) <= 1:
        return replace(diagnose(frames, references[0] if len(references) else None, cfg, key_frames=key_frames),
                       reference=0 if len(references) else None)
    if not frames:
        raise ValueError("no frame to diagnose")
    with single_thread():
        middle = prepare(frames[len(frames) // 2])
        h, w = middle.grey.shape
        prepared = [r if isinstance(r, Reference) else prepare_reference(r, (w, h)) for r in references]

        def mismatch(ref: Reference) -> tuple[float, float]:
            unmatched, shift, response = reference.view_mismatch(middle, ref.view)
            return _scene_change_score(unmatched, shift, response, cfg), unmatched

        best = min(range(len(prepared)), key=lambda i: mismatch(prepared[i]))
    return replace(diagnose(frames, prepared[best], cfg, key_frames=key_frames), reference=best)


def frozen_since(d: Diagnosis, before: np.ndarray, now: np.ndarray, config: VqdConfig | None = None) -> Diagnosis:
    """``d`` found the picture ``now`` frozen and an earlier patrol found ``before`` frozen: frozen only
    if the picture is still the same (its score at most what the change between them allows,
    measure ``changed_since``); else a still scene whose light moved in the meantime."""
    if "frozen" not in d.faults:
        return d
    cfg = config or VqdConfig()
    with single_thread():
        changed = frozen.changed_since(prepare(before), prepare(now))
    score = min(d.scores["frozen"], cfg.ramps["frozen_changed"](changed))
    faults = d.faults if score >= cfg.threshold("frozen") else [f for f in d.faults if f != "frozen"]
    return replace(d, faults=faults, scores={**d.scores, "frozen": score}, measures={**d.measures, "changed_since": changed})
