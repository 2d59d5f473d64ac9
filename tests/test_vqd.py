"""Video quality diagnosis on real footage (the PETS 2009 clip) with faults injected."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from lookout.cli import app
from lookout.health.vqd import FAULTS, BadFrame, diagnose, reference_limits


@pytest.fixture(scope="module")
def pets_frames(pets_video):
    frames = []
    with av.open(str(pets_video)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 3 == 0:
                frames.append(f.to_ndarray(format="bgr24"))
            if len(frames) == 24:
                break
    return frames


def _clip(frames, start=0, n=8):
    return frames[start:start + n]


def _with_clock(picture, n):
    """``n`` frames of one frozen picture with an on-screen clock ticking over it."""
    frames = []
    for i in range(n):
        f = picture.copy()
        cv2.putText(f, f"14:03:{10 + i:02d}", (16, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
        frames.append(f)
    return frames


def test_clean_footage_has_no_fault(pets_frames):
    d = diagnose(_clip(pets_frames, 8), pets_frames[0])
    assert d.faults == [], d.scores
    assert set(d.scores) == set(FAULTS)
    assert all(0 <= v <= 100 for v in d.scores.values())
    assert diagnose(pets_frames[5]).faults == []


def test_black_screen_with_osd_is_signal_loss_only(pets_frames):
    black = np.full_like(pets_frames[0], 16)
    cv2.putText(black, "2026-11-22 14:03:27 CAM 07", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (235, 235, 235), 2)
    assert diagnose(black, pets_frames[0]).faults == ["signal_loss"]
    blue = np.zeros_like(pets_frames[0])
    blue[:] = (170, 40, 10)
    cv2.putText(blue, "NO VIDEO", (250, 300), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    assert diagnose([blue, blue.copy()]).faults == ["signal_loss"]


def test_frozen_picture_with_ticking_clock_is_frozen(pets_frames):
    still = pets_frames[4]
    assert "frozen" in diagnose(_with_clock(still, 8)).faults
    assert "frozen" not in diagnose(_clip(pets_frames, 0)).faults
    assert diagnose(still).scores["frozen"] == 0  # one picture cannot show time passing


def test_a_change_on_the_coding_grid_is_the_coders_not_a_sensors():
    """Between neighbouring frames a sensor's noise changes every pixel on its own; an encoder
    refining a still picture changes whole 4×4 blocks, stepping at their edges."""
    from lookout.health.vqd.frozen import on_grid

    rng = np.random.default_rng(3)
    base = rng.integers(60, 190, (128, 384)).astype(np.float32)

    def frame(change: np.ndarray) -> np.ndarray:
        return np.clip(base + change, 0, 255).astype(np.uint8)

    def sensor() -> np.ndarray:
        return frame(rng.normal(0, 2.0, base.shape))

    def coder(offset: int) -> np.ndarray:  # each 4×4 block shifted by its own small amount
        blocks = rng.normal(0, 2.0, (32, 96)).repeat(4, axis=0).repeat(4, axis=1)
        return frame(np.roll(blocks, offset, axis=(0, 1)))

    assert on_grid([sensor() for _ in range(3)]) < 1.2
    assert on_grid([coder(0) for _ in range(3)]) > 2.0
    assert on_grid([coder(2) for _ in range(3)]) > 2.0  # wherever the crops start on the grid
    assert on_grid([frame(np.zeros_like(base))] * 2) == 1.0  # nothing changed


def test_a_still_picture_is_frozen_only_if_it_is_the_one_the_last_patrol_saw(pets_frames):
    """A patrol that finds the picture frozen again compares it with the picture the last patrol found
    frozen (kept as a JPEG): the same picture (its clock ticked on) stays frozen; a still scene whose
    light moved in the meantime (12 % brighter) is no longer frozen."""
    from lookout.health.vqd import frozen_since

    still = pets_frames[4]

    def clip_at(picture, second):
        out = []
        for i in range(4):
            f = picture.copy()
            cv2.putText(f, f"14:{second // 60:02d}:{second % 60 + i:02d}", (16, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                        (255, 255, 255), 2)
            out.append(f)
        return out

    earlier = clip_at(still, 10)[-1]
    kept = cv2.imdecode(cv2.imencode(".jpg", earlier, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_COLOR)
    now = clip_at(still, 1810)  # half an hour on
    d = diagnose(now)
    assert "frozen" in d.faults
    same = frozen_since(d, kept, now[-1])
    assert "frozen" in same.faults and same.measures["changed_since"] < 0.02, same.measures["changed_since"]
    lit = clip_at(np.clip(still.astype(np.float32) * 1.12, 0, 255).astype(np.uint8), 1810)
    d = diagnose(lit)
    assert "frozen" in d.faults  # within its own few seconds it is still
    moved = frozen_since(d, kept, lit[-1])
    assert "frozen" not in moved.faults and moved.scores["frozen"] < 50, moved.measures["changed_since"]
    assert frozen_since(diagnose(_clip(pets_frames, 0)), kept, pets_frames[7]).faults == diagnose(_clip(pets_frames, 0)).faults


def test_each_injected_fault_is_found(pets_frames):
    f = pets_frames[6]
    ref = pets_frames[0]
    h, w = f.shape[:2]
    kernel = np.zeros((17, 17), np.float32)
    cv2.circle(kernel, (8, 8), 8, 1.0, -1)
    blurred = cv2.filter2D(f, -1, kernel / kernel.sum())
    dark = np.clip(f.astype(np.float32) * 0.15, 0, 255).astype(np.uint8)
    bright = np.clip(f.astype(np.float32) * 2.5 + 60, 0, 255).astype(np.uint8)
    cast = np.clip(f.astype(np.float32) * np.array([0.7, 0.95, 1.4], np.float32), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(1)
    noisy = np.clip(f.astype(np.float32) + rng.normal(0, 25, f.shape[:2])[..., None], 0, 255).astype(np.uint8)
    yy = np.arange(h, dtype=np.float32)[:, None, None]
    striped = np.clip(f.astype(np.float32) + 22 * np.sin(2 * np.pi * yy / 19.0), 0, 255).astype(np.uint8)
    covered = f.copy()
    covered[:, : int(0.4 * w)] = (70, 75, 80)
    covered = cv2.GaussianBlur(covered, (0, 0), 1.0)
    turned = cv2.resize(f[:, w // 3:], (w, h))
    cases = {"blur": blurred, "too_dark": dark, "too_bright": bright, "color_cast": cast, "noise": noisy,
             "stripes": striped, "occlusion": covered, "scene_change": turned}
    for fault, img in cases.items():
        d = diagnose(img, ref)
        assert fault in d.faults, (fault, d.faults, d.scores)


def test_grey_night_picture_is_not_a_colour_cast(pets_frames):
    grey = cv2.cvtColor(cv2.cvtColor(pets_frames[3], cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    d = diagnose(grey, pets_frames[0])
    assert "color_cast" not in d.faults
    assert d.scores["color_cast"] < 20


def test_a_dark_night_picture_decoded_from_h264_is_grey(tmp_path, pets_frames):
    """Coding a grey picture to H.264 (yuv420p) and back to BGR leaves its channels a level or two
    apart; in a dark infrared picture that is a few per cent of the level, and it is still grey: no
    colour cast, no cover against the daytime reference, and no colour cast without one."""
    from lookout.health.vqd.reference import chroma_blocks, is_grey_picture

    night = [cv2.cvtColor((cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) * 0.3).astype(np.uint8), cv2.COLOR_GRAY2BGR)
             for f in pets_frames[:8]]
    _write_clip(tmp_path / "night.mp4", night)
    with av.open(str(tmp_path / "night.mp4")) as c:
        decoded = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    spread = decoded[0].max(axis=2).astype(int) - decoded[0].min(axis=2)
    assert 0 < spread.max() <= 3  # the coder's and decoder's rounding, nothing more
    assert is_grey_picture(chroma_blocks(cv2.resize(decoded[0], (320, 240), interpolation=cv2.INTER_AREA)))
    d = diagnose(decoded, pets_frames[0])
    assert d.measures["grey_now"] == 1.0
    assert not {"color_cast", "occlusion", "scene_change"} & set(d.faults), d.scores
    assert "color_cast" not in diagnose(decoded).faults
    # a dark picture in colour is still colour
    tinted = np.clip(night[0].astype(np.float32) * (0.6, 1.0, 1.5), 0, 255).astype(np.uint8)
    assert not is_grey_picture(chroma_blocks(cv2.resize(tinted, (320, 240), interpolation=cv2.INTER_AREA)))


def test_bad_frames_are_refused_clearly():
    with pytest.raises(BadFrame, match="uint8"):
        diagnose(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(BadFrame, match="too small"):
        diagnose(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="no frame"):
        diagnose([])


def _write_clip(path, frames, fps=5, bpp=None, key_every=None):
    """H.264 at constant quality (with ``key_every``: a key frame every so many frames, as the
    corpus codes), or at a constant bit rate of `bpp` bits per pixel and frame (a key frame every 5
    frames, as cameras code)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        if bpp is None and key_every:
            st.options = {"crf": "20", "preset": "veryfast", "g": str(key_every)}
        elif bpp is None:
            st.options = {"crf": "20", "preset": "ultrafast"}
        else:
            kbps = f"{int(w * h * fps * bpp / 1000)}k"
            st.options = {"preset": "veryfast", "g": "5", "b": kbps, "minrate": kbps, "maxrate": kbps,
                          "bufsize": kbps, "x264-params": "nal-hrd=cbr"}
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)


def test_a_view_coded_at_a_low_bit_rate_is_no_defocus_but_a_defocus_coded_so_is(tmp_path, pets_frames):
    """A camera at a low constant bit rate (0.03 bit per pixel and frame: 1080p at 25 frames/s at
    1.5 Mbit/s) loses its finest texture to the coder, not to the lens: read as a patrol reads it,
    it is not blurred against its reference; a mild defocus coded at the same rate still is."""
    from lookout.health.patrol import grab_patrol_frames

    def defocus(frame):  # the corpus' mild defocus: a disc of 0.6 % of the width
        r = round(0.006 * frame.shape[1])
        kernel = cv2.circle(np.zeros((2 * r + 1, 2 * r + 1), np.float32), (r, r), r, 1.0, -1)
        return cv2.filter2D(frame, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)

    ref = pets_frames[0]
    _write_clip(tmp_path / "coded.mp4", pets_frames[:16], bpp=0.03)
    _write_clip(tmp_path / "defocused.mp4", [defocus(f) for f in pets_frames[:16]], bpp=0.03)
    coded = diagnose(grab_patrol_frames(str(tmp_path / "coded.mp4"), keyframes=2).frames, ref)
    assert coded.measures["ref_blur_increase"] > 0.04  # the coder did take fine detail away
    assert "blur" not in coded.faults, coded.scores
    defocused = diagnose(grab_patrol_frames(str(tmp_path / "defocused.mp4"), keyframes=2).frames, ref)
    assert "blur" in defocused.faults, defocused.scores


def _textured_wall(h=480, w=640, seed=1):
    """A grey picture textured at every scale (stone, foliage), with no flat area."""
    rng = np.random.default_rng(seed)
    out = np.full((h, w), 128.0, np.float32)
    for step, amplitude in ((2, 14), (6, 20), (24, 30), (96, 40)):
        coarse = rng.normal(0, 1, (h // step + 2, w // step + 2)).astype(np.float32)
        out += amplitude * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def test_a_live_still_scene_whose_p_frames_skip_its_noise_is_told_live_by_its_key_frames(tmp_path):
    """A coder at constant quality skips a textured still scene's sensor noise in every P-frame, so
    neighbouring frames are identical as a frozen picture's are; each key frame is coded anew and
    keeps the noise, so two key frames differ where a frozen picture's do not. Read as the CLI reads
    a video (with its key frames), the live scene is not frozen; the same picture frozen still is."""
    from lookout.health.vqd.load import read_video

    wall = _textured_wall()
    rng = np.random.default_rng(7)
    live = [np.clip(wall + rng.normal(0, 2.0, wall.shape), 0, 255).astype(np.uint8) for _ in range(16)]
    frozen = _with_clock(wall, 16)
    _write_clip(tmp_path / "live.mp4", live, key_every=5)
    _write_clip(tmp_path / "frozen.mp4", frozen, key_every=5)
    clip = read_video(tmp_path / "live.mp4")
    assert clip.key_frames == (0, 5, 10, 15)
    blind = diagnose(clip.frames)  # key frames not known: the neighbours alone
    assert blind.measures["live_noise"] < 0.012 and "frozen" in blind.faults, blind.measures
    d = diagnose(clip.frames, key_frames=clip.key_frames)
    assert d.measures["key_noise"] > 1.75 and "frozen" not in d.faults, d.measures["key_noise"]
    still = read_video(tmp_path / "frozen.mp4")
    d = diagnose(still.frames, key_frames=still.key_frames)
    assert d.measures["key_noise"] < 1.45 and "frozen" in d.faults, d.measures["key_noise"]
    runner = CliRunner()
    for name, faults in (("live.mp4", []), ("frozen.mp4", ["frozen"])):
        r = runner.invoke(app, ["vqd", "diagnose", str(tmp_path / name), "--json"])
        assert r.exit_code == 0 and json.loads(r.stdout)["faults"] == faults, (name, r.output)


def test_cli_diagnose_and_batch(tmp_path, pets_frames):
    small = [cv2.resize(f, (384, 288), interpolation=cv2.INTER_AREA) for f in pets_frames]
    cv2.imwrite(str(tmp_path / "ref.jpg"), small[0])
    cv2.imwrite(str(tmp_path / "ok.jpg"), small[5])
    cv2.imwrite(str(tmp_path / "black.png"), np.zeros_like(small[0]))
    _write_clip(tmp_path / "live.mp4", small[:12])
    _write_clip(tmp_path / "frozen.mp4", [small[4]] * 12)
    runner = CliRunner()
    r = runner.invoke(app, ["vqd", "diagnose", str(tmp_path / "ok.jpg"), "--reference", str(tmp_path / "ref.jpg"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["faults"] == []
    r = runner.invoke(app, ["vqd", "diagnose", str(tmp_path / "frozen.mp4"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["faults"] == ["frozen"]
    manifest = [
        {"file": "black.png", "reference": None, "note": "ignored"},
        {"file": "live.mp4", "reference": "ref.jpg"},
        {"file": "frozen.mp4", "reference": "ref.jpg"},
        {"file": "missing.jpg", "reference": None},
    ]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    r = runner.invoke(app, ["vqd", "batch", str(tmp_path / "m.json"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [o["file"] for o in out] == ["black.png", "live.mp4", "frozen.mp4", "missing.jpg"]
    assert out[0]["faults"] == ["signal_loss"]
    assert out[1]["faults"] == []
    assert out[2]["faults"] == ["frozen"]
    assert "no such file" in out[3]["error"]
    r = runner.invoke(app, ["vqd", "diagnose", str(tmp_path / "nope.mp4"), "--json"])
    assert r.exit_code == 2
    assert "no such file" in r.output
    cv2.imwrite(str(tmp_path / "wall.png"), np.full_like(small[0], 214))  # a reference with nothing to focus on
    r = runner.invoke(app, ["vqd", "diagnose", str(tmp_path / "ok.jpg"), "--reference", str(tmp_path / "wall.png"),
                            "--json"])
    assert r.exit_code == 0 and "blur" in json.loads(r.stdout)["scores"]
    assert "wall.png: too little detail to judge blur" in r.stderr
    # thresholds: a fault reported from a lower score, for a view or a deployment that wants it
    r = runner.invoke(app, ["vqd", "diagnose", str(tmp_path / "ok.jpg"), "--json"])
    scores = json.loads(r.stdout)["scores"]
    fault, score = "noise", scores["noise"]
    assert score < 50
    r = runner.invoke(app, ["vqd", "diagnose", str(tmp_path / "ok.jpg"), "--json", "--threshold", f"{fault}={score}"])
    assert r.exit_code == 0 and fault in json.loads(r.stdout)["faults"]
    r = runner.invoke(app, ["vqd", "batch", str(tmp_path / "m.json"), "--json", "--threshold", "frozen=100.5"])
    assert r.exit_code == 2 and "frozen: 100.5 is outside 0–100" in r.stderr
    r = runner.invoke(app, ["vqd", "diagnose", str(tmp_path / "ok.jpg"), "--threshold", "blurr=60"])
    assert r.exit_code == 2 and "'blurr': no such fault" in r.stderr


def test_cover_over_a_plain_area_is_occlusion_and_lighting_is_not(pets_frames):
    f, ref = pets_frames[6], pets_frames[0]
    h, w = f.shape[:2]
    # a plain grey cloth over the top-right quarter-and-more: little texture under it in PETS
    covered = f.copy()
    covered[: int(0.55 * h), int(0.55 * w):] = (150, 150, 150)
    covered = cv2.GaussianBlur(covered, (0, 0), 1.5)
    d = diagnose(covered, ref)
    assert "occlusion" in d.faults, d.scores
    # the whole picture dimmer with a gamma change, or turned grey as at night: nothing covered
    dim = np.clip(255.0 * np.power(f / 255.0, 1.1) * 0.65, 0, 255).astype(np.uint8)
    night = cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    for img in (dim, night):
        d = diagnose(img, ref)
        assert "occlusion" not in d.faults and "blur" not in d.faults, d.scores


def test_prepared_reference_gives_the_same_diagnosis(pets_frames):
    from lookout.health.vqd import prepare_reference

    clip = _clip(pets_frames, 8)
    ref = prepare_reference(pets_frames[0], (320, 240))
    a, b = diagnose(clip, pets_frames[0]), diagnose(clip, ref)
    assert a.faults == b.faults and a.scores == b.scores


def test_diagnosis_runs_on_one_opencv_thread_and_restores_the_setting(pets_frames):
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        diagnose(pets_frames[1])
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_full_hd_frame_is_diagnosed_like_its_smaller_copy(pets_frames):
    big = cv2.resize(pets_frames[2], (1920, 1080), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(pets_frames[2], (1280, 720), interpolation=cv2.INTER_LINEAR)
    assert diagnose(big).faults == diagnose(small).faults == []


def test_concurrent_diagnoses_agree_and_restore_the_thread_setting(pets_frames):
    from concurrent.futures import ThreadPoolExecutor

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        clips = [_clip(pets_frames, i, 4) for i in range(0, 16, 4)]
        alone = [diagnose(c, pets_frames[0]).scores for c in clips]
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda c: diagnose(c, pets_frames[0]).scores, clips))
        assert together == alone
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_regular_scene_pattern_is_not_stripes_but_new_bands_on_one_channel_are(pets_frames):
    # a chequered paving over the lower half of the view, in the reference and now
    ref, f = pets_frames[0].astype(np.float32), pets_frames[6].astype(np.float32)
    h, w = f.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    tiles = np.where(((yy // 12) + (xx // 12)) % 2 == 0, 30.0, -30.0).astype(np.float32)
    tiles[: h // 2] = 0
    ref_t = np.clip(ref + tiles[..., None], 0, 255).astype(np.uint8)
    cur_t = np.clip(f + tiles[..., None], 0, 255).astype(np.uint8)
    d = diagnose(cur_t, ref_t)
    assert "stripes" not in d.faults, d.scores
    # faint interference on the blue channel only: 1.7 grey levels in the grey picture
    banded = cur_t.astype(np.float32)
    banded[..., 0] += 15 * np.sin(2 * np.pi * (yy * 0.94 + xx * 0.34) / 17.0)
    banded = np.clip(banded, 0, 255).astype(np.uint8)
    d = diagnose(banded, ref_t)
    assert "stripes" in d.faults, d.scores


def test_grey_night_picture_of_a_grey_camera_is_not_blur_but_its_defocus_is(pets_frames):
    rng = np.random.default_rng(3)
    grey_ref = cv2.cvtColor(cv2.cvtColor(pets_frames[0], cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    g = cv2.cvtColor(pets_frames[6], cv2.COLOR_BGR2GRAY).astype(np.float32)
    night = cv2.GaussianBlur(0.75 * g + 10, (0, 0), 0.7) + rng.normal(0, 2.5, g.shape).astype(np.float32)
    night = cv2.cvtColor(np.clip(night, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    d = diagnose(night, grey_ref)
    assert "blur" not in d.faults, d.scores
    kernel = np.zeros((13, 13), np.float32)
    cv2.circle(kernel, (6, 6), 6, 1.0, -1)
    d = diagnose(cv2.filter2D(night, -1, kernel / kernel.sum()), grey_ref)
    assert "blur" in d.faults, d.scores


def _board(shape, x0, y0, size, square):
    """A chequered board (±40 grey levels) of `size` pixels at (x0, y0); zero elsewhere."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    inside = (xx >= x0) & (xx < x0 + size) & (yy >= y0) & (yy < y0 + size)
    return np.where(inside, np.where(((yy - y0) // square + (xx - x0) // square) % 2 == 0, 40.0, -40.0), 0.0)


def test_a_chequered_board_is_not_stripes(pets_frames):
    """A board held up in front of the camera: a strong regular pattern, but repeating in two
    directions and over part of the view only; bands over the same picture are still found."""
    f, ref = pets_frames[6].astype(np.float32), pets_frames[0].astype(np.float32)
    h, w = f.shape[:2]
    size, square = int(0.7 * h), h // 28
    now = np.clip(f + _board(f.shape, int(0.35 * w), h // 10, size, square)[..., None], 0, 255).astype(np.uint8)
    then = np.clip(ref + _board(f.shape, w // 50, h // 7, size, square)[..., None], 0, 255).astype(np.uint8)
    for d in (diagnose(now), diagnose(now, then)):  # a panning camera has no reference
        assert "stripes" not in d.faults, d.scores
    assert diagnose(now).measures["stripe_peak"] >= 2.25  # as high as the peak of strong bands
    yy, xx = np.mgrid[0:h, 0:w]
    banded = np.clip(now + 14 * np.sin(2 * np.pi * yy / (0.03 * h))[..., None], 0, 255).astype(np.uint8)
    assert "stripes" in diagnose(banded, then).faults


def test_a_view_bright_or_dark_by_nature_is_judged_against_its_reference(pets_frames):
    """Haze over a beach is washed out and a night scene dark when the view is marked correct;
    only a change from the reference is a fault."""
    f, ref = pets_frames[6].astype(np.float32), pets_frames[0].astype(np.float32)
    hazy, hazy_ref = (np.clip(0.5 * x + 135, 0, 255).astype(np.uint8) for x in (f, ref))
    assert "too_bright" not in diagnose(hazy, hazy_ref).faults
    assert "too_bright" in diagnose(hazy).faults  # without a reference the levels (and burnt highlights) decide
    assert "too_bright" in diagnose(np.clip(2.0 * f + 40, 0, 255).astype(np.uint8), ref.astype(np.uint8)).faults
    dusk, dusk_ref = (np.clip(0.35 * x, 0, 255).astype(np.uint8) for x in (f, ref))
    assert "too_dark" not in diagnose(dusk, dusk_ref).faults
    assert "too_dark" in diagnose(np.clip(0.35 * f, 0, 255).astype(np.uint8), ref.astype(np.uint8)).faults


def test_a_hazy_view_burnt_out_a_little_more_than_its_reference_is_not_too_bright(pets_frames):
    """Fog whose sky is burnt out: the reference, marked at a moment 8 % darker, shows that sky just
    below white; the auto-exposure's ordinary step burns it out again. Burning out much more of the
    view than the reference nearly did is still over-exposure."""
    f = pets_frames[6].astype(np.float32)
    fog = np.clip(0.4 * f + 150, 0, 255)
    fog[: int(0.4 * fog.shape[0])] = 255.0  # the top 40 % burnt out, as the photograph was
    picture = fog.astype(np.uint8)
    ref = np.clip(0.92 * fog, 0, 255).astype(np.uint8)  # the burnt sky at 235
    d = diagnose(picture, ref)
    assert "too_bright" not in d.faults, d.scores
    assert "too_bright" in diagnose(np.clip(1.5 * fog, 0, 255).astype(np.uint8), ref).faults


def test_a_pale_room_without_reference_is_not_too_bright_but_burnt_highlights_are(pets_frames):
    """A white room or a pale wall is light all over with nothing burnt out; without a reference
    that is no over-exposure. Burnt-out highlights over a lifted black level are."""
    f = pets_frames[6].astype(np.float32)
    pale = np.clip(0.25 * f + 185, 0, 255).astype(np.uint8)  # black level ≈ 185, highlights below 250
    d = diagnose(pale)
    assert "too_bright" not in d.faults, d.scores
    burnt = pale.copy()
    burnt[: burnt.shape[0] // 5] = 255  # a fifth of the picture burnt out
    assert "too_bright" in diagnose(burnt).faults


def test_a_camera_turned_onto_a_pale_view_is_a_scene_change_not_over_exposure(pets_frames):
    """The reference's levels belong to the view it shows: a camera turned onto a white wall is
    brighter than its reference because it looks elsewhere."""
    ref = pets_frames[0]
    other = np.ascontiguousarray(pets_frames[6][::-1, ::-1])  # another view
    pale = np.clip(0.3 * other.astype(np.float32) + 170, 0, 255).astype(np.uint8)
    d = diagnose(pale, ref)
    assert "scene_change" in d.faults and "too_bright" not in d.faults, d.scores


def test_a_view_made_nearly_black_is_too_dark_not_signal_loss(pets_frames):
    """Nearly one grey level, as a black screen is; but its light and shade still follow the
    reference's, so the camera still shows its view: too dark."""
    f, ref = pets_frames[6], pets_frames[0]
    pale = np.clip(0.25 * f.astype(np.float32) + 185, 0, 255)  # a pale view, as a white room is
    dark = np.clip(0.12 * pale, 0, 255).astype(np.uint8)  # grey levels ≈ 22–28
    pale_ref = np.clip(0.25 * ref.astype(np.float32) + 185, 0, 255).astype(np.uint8)
    assert diagnose(dark).faults == ["signal_loss"]  # without a reference it cannot be told apart
    d = diagnose(dark, pale_ref)
    assert "signal_loss" not in d.faults and "too_dark" in d.faults, d.scores
    black = np.full_like(f, 16)
    cv2.putText(black, "2026-11-22 14:03:27 CAM 07", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (235, 235, 235), 2)
    assert diagnose(black, pale_ref).faults == ["signal_loss"]


def test_a_view_without_detail_is_not_judged_for_focus():
    """Calm water or a dusk sky: sensor noise and a softer encoder frame change the 'blur' of a
    faint texture; focus cannot be judged against such a reference, so it is not reported."""
    h, w = 360, 640
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = (90 + 60 * yy / h + 8 * np.sin(xx / 90.0))[..., None] * np.float32([1.1, 1.0, 0.8])

    def shot(seed, soften=0.0):
        f = sky + np.random.default_rng(seed).normal(0, 1.5, sky.shape)
        if soften:
            f = cv2.GaussianBlur(f, (0, 0), soften)
        return np.clip(f, 0, 255).astype(np.uint8)

    assert "blur" not in diagnose(shot(2, soften=0.8), shot(1)).faults


def test_an_over_exposed_dark_view_is_too_bright_against_its_reference(pets_frames):
    """A dark view (a forest path) whose black level and brightness jump against its reference
    is over-exposed even though its levels stay below those of a bright scene."""
    f, ref = pets_frames[6].astype(np.float32), pets_frames[0].astype(np.float32)
    dark_ref = np.clip(0.35 * ref, 0, 255).astype(np.uint8)
    over = np.clip(2.0 * (0.35 * f) + 60, 0, 255).astype(np.uint8)
    d = diagnose(over, dark_ref)
    assert "too_bright" in d.faults, d.scores
    assert "too_bright" not in diagnose(over).faults  # its levels alone are not too bright


def _pan(frame, n=8, frac=0.6):
    """A camera turning across `frame`: crops of `frac` of its width, moving left to right."""
    h, w = frame.shape[:2]
    cw = int(frac * w)
    return [np.ascontiguousarray(frame[:, x:x + cw]) for x in np.linspace(0, w - cw, n).astype(int)]


def test_focus_and_bands_are_measured_on_every_other_frame_of_a_still_view_and_on_every_frame_of_a_turn(
        pets_frames, monkeypatch):
    """What does not change within seconds while the camera holds still is measured on half the
    frames (about a sixth of the cost); a turning camera's view changes, so every frame counts there."""
    from lookout.health.vqd import prepare_reference, sharpness, stripes
    from lookout.health.vqd.frames import prepare

    h, w = prepare(pets_frames[0]).grey.shape
    ref = prepare_reference(pets_frames[12], (w, h))
    calls = {"focus": 0, "bands": 0}
    real_blur, real_peaks = sharpness.blur_blocks, stripes.peaks

    def counted(name, fn):  # noqa: ANN001, ANN202
        def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
            calls[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(sharpness, "blur_blocks", counted("focus", real_blur))
    monkeypatch.setattr(stripes, "peaks", counted("bands", real_peaks))
    diagnose(_clip(pets_frames, 0, 8), ref)
    assert calls == {"focus": 4, "bands": 4}
    calls.update(focus=0, bands=0)
    d = diagnose(_pan(pets_frames[0]))
    assert d.measures["pan"] >= 0.012 and calls == {"focus": 8, "bands": 8}, (d.measures["pan"], calls)


def test_a_turning_camera_without_reference_waits_for_a_still_view(pets_frames):
    """Without a reference, a passing view's colours are not a cast (nor its flat border a cover,
    nor its texture bands); a picture too dark to use is reported while it turns."""
    from lookout.health.vqd.suite import VqdConfig

    moving = VqdConfig().moving_view
    tinted = np.clip(pets_frames[3].astype(np.float32) * (0.55, 1.0, 0.55), 0, 255).astype(np.uint8)
    assert "color_cast" in diagnose(_pan(tinted)[0]).faults  # the same picture, still: a cast
    d = diagnose(_pan(tinted))
    assert d.measures["pan"] >= moving and "color_cast" not in d.faults, d.scores
    dark = (pets_frames[3] * 0.15).astype(np.uint8)
    assert "too_dark" in diagnose(_pan(dark)).faults
    # people walking through a still view, and a camera shaking back and forth, are not a turn
    assert diagnose(_clip(pets_frames, 0, 12)).measures["pan"] < moving / 2
    h, w = pets_frames[3].shape[:2]
    shaking = [np.ascontiguousarray(pets_frames[3][8:h - 8, 8 + dx:w - 8 + dx]) for dx in (0, 6, -6, 6, -6, 0, 6, -6)]
    assert diagnose(shaking).measures["pan"] < moving / 2


def test_a_camera_touring_presets_is_judged_against_the_preset_it_shows(pets_frames):
    """One reference per PTZ preset: another preset is not a turned camera, a cover still counts."""
    from lookout.health.vqd import diagnose_views

    h, w = pets_frames[0].shape[:2]
    left = [np.ascontiguousarray(f[:, : w // 2]) for f in pets_frames]
    right = [np.ascontiguousarray(f[:, w // 2: 2 * (w // 2)]) for f in pets_frames]
    at_right = right[8:16]
    assert "scene_change" in diagnose_views(at_right, [left[0]]).faults  # only the other preset marked
    d = diagnose_views(at_right, [left[0], right[0]])
    assert d.faults == [] and d.reference == 1, d.scores  # judged against the right-hand preset
    assert diagnose_views(right[0:8], [right[0], left[0]]).reference == 0
    assert diagnose_views(at_right, [left[0]]).reference == 0
    assert diagnose_views(at_right, []).scores["scene_change"] == 0  # no reference: as diagnose(…, None)
    assert diagnose_views(at_right, []).reference is None
    covered = [f.copy() for f in at_right]
    for f in covered:
        f[: h // 2, : w // 4] = (40, 60, 50)  # a cloth over a quarter of the view
    assert "occlusion" in diagnose_views(covered, [left[0], right[0]]).faults


def _pale_room(frame, gain=0.1, lift=215.0):
    """A pale, nearly plain view (a white room), with dark furniture along the bottom left."""
    h, w = frame.shape[:2]
    room = np.clip(gain * frame.astype(np.float32) + lift, 0, 255)
    room[int(0.8 * h):, : int(0.45 * w)] *= 0.35
    return room.astype(np.uint8)


def _paint(frame, colour, share, seed=1):
    """Paint sprayed on the dome: soft-edged blobs of one colour over `share` of the view."""
    h, w = frame.shape[:2]
    rng, mask = np.random.default_rng(seed), np.zeros((h, w), np.float32)
    while mask.sum() < share * h * w:
        centre = (int(0.4 * w + rng.normal(0, 0.15 * w)), int(0.45 * h + rng.normal(0, 0.15 * h)))
        cv2.circle(mask, centre, int(rng.uniform(0.04, 0.09) * w), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.008 * w))[..., None]
    return np.clip(frame * (1 - mask) + np.float32(colour) * mask, 0, 255).astype(np.uint8)


def test_paint_over_a_pale_room_is_occlusion_not_a_turned_camera(pets_frames):
    """Over a plain wall the cover's soft edge is new texture beside it, and the wall's levels
    span little: neither may make the view look turned."""
    ref, now = _pale_room(pets_frames[0], 0.06, 225.0), _pale_room(pets_frames[6], 0.06, 225.0)
    for colour in ((250, 40, 170), (160, 60, 140), (200, 120, 60)):
        d = diagnose(_paint(now, colour, 0.35), ref)
        assert d.faults == ["occlusion"], (colour, d.scores)


def test_a_pale_room_turned_sideways_is_a_scene_change_not_a_cover(pets_frames):
    """All of the view moved, confidently: a cover does not shift the picture, however plain the
    part of the view that no longer matches looks."""
    wide = np.concatenate([pets_frames[0], pets_frames[0][:, ::-1]], axis=1)
    w = pets_frames[0].shape[1]
    for gain, lift in ((0.25, 185.0), (0.1, 215.0)):
        room = _pale_room(wide, gain, lift)
        for share in (0.12, 0.21):
            s = int(share * w)
            d = diagnose(room[:, s:s + w], room[:, :w])
            assert d.faults == ["scene_change"], (gain, share, d.scores)


def test_faint_bands_over_a_real_view_are_stripes(pets_frames):
    """Bands of ±8–10 grey levels: their peak over the reference's spectrum at their own frequency
    is plain, though not the largest difference between the two spectra."""
    f, ref = pets_frames[6], pets_frames[0]
    h, w = f.shape[:2]
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    for amplitude in (8, 10):
        banded = np.clip(f + amplitude * np.sin(2 * np.pi * yy / 20.0)[..., None], 0, 255).astype(np.uint8)
        d = diagnose(banded, ref)
        assert d.faults == ["stripes"], (amplitude, d.scores)
    assert "stripes" not in diagnose(f, ref).faults


def test_a_smooth_sky_coded_with_half_size_colour_is_not_stripes():
    """JPEG and H.264 code colour at half size, in blocks of 16 picture pixels: a smooth sky
    compressed shows that grid in its colour, which is no interference."""
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = 0.8 * yy / h + 0.3 * xx / w
    sky = np.stack([200 - 60 * t, 120 + 50 * t, 150 + 60 * t], axis=2)
    for sigma in (1, 3):
        noisy = np.clip(sky + np.random.default_rng(0).normal(0, sigma, sky.shape), 0, 255).astype(np.uint8)
        for quality in (40, 50):
            ok, buf = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, quality])
            d = diagnose(cv2.imdecode(buf, cv2.IMREAD_COLOR))
            assert "stripes" not in d.faults, (sigma, quality, d.scores)


def _vivid(frame, hue):
    """The view as a saturated close-up of one hue (a flower bed): most blocks near clipping in
    one or two channels."""
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = hue
    hsv[..., 1] = np.clip(3.0 * hsv[..., 1] + 150, 0, 255)
    hsv[..., 2] = np.clip(1.2 * hsv[..., 2] + 40, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


def test_a_brighter_vivid_view_is_no_colour_cast_but_a_mild_cast_over_it_is(pets_frames):
    """Brighter light clips a saturated colour's strong channels, so its blocks turn paler: not a
    cast, which changes the channels unequally in the blocks that do not clip."""
    for hue in (15, 60):
        ref, now = _vivid(pets_frames[0], hue), _vivid(pets_frames[6], hue)
        brighter = np.clip(255.0 * np.power(np.clip(1.3 * now.astype(np.float32) / 255.0, 0, 1), 0.9), 0, 255)
        d = diagnose(brighter.astype(np.uint8), ref)
        assert "color_cast" not in d.faults, (hue, d.scores)
        reddish = np.clip(now.astype(np.float32) * np.float32([0.85, 0.97, 1.21]), 0, 255).astype(np.uint8)
        d = diagnose(reddish, ref)
        assert d.faults == ["color_cast"], (hue, d.scores)


def _sunset(frame):
    """A view in warm evening light: red strong, green middling, blue nearly black in most of it."""
    g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return np.clip(np.stack([0.04 * g + 2, 0.3 * g + 8, 1.0 * g + 30], axis=2), 0, 255).astype(np.uint8)


def test_a_view_brightened_through_the_tone_curve_is_no_colour_cast_but_unequal_gains_are(pets_frames):
    """More light passes all three channels through the camera's tone curve (a power, not a plain
    gain), which moves a vivid view's colours towards grey; with its blue channel nearly black in
    most blocks, the channels' gains cannot be compared block by block. One curve common to the
    channels is fitted instead, and only unequal gains left over it are a cast."""
    ref, now = _sunset(pets_frames[0]), _sunset(pets_frames[6]).astype(np.float32)
    brighter = np.clip(255.0 * np.power(now / 255.0, 0.9) * 1.3, 0, 255).astype(np.uint8)
    d = diagnose(brighter, ref)
    assert "color_cast" not in d.faults and d.scores["color_cast"] == 0.0, d.scores
    for gains in ((1.25, 1.0, 0.85), (0.85, 1.0, 1.2)):  # bluish, reddish
        d = diagnose(np.clip(now * np.float32(gains), 0, 255).astype(np.uint8), ref)
        assert d.faults == ["color_cast"], (gains, d.scores)


def test_interference_on_one_colour_channel_is_bands_not_also_a_cast(pets_frames):
    """Bands riding on one colour channel tint the picture unevenly; they explain its colour."""
    from lookout.health.vqd.suite import VqdConfig, decide

    scores = dict.fromkeys(FAULTS, 0.0) | {"stripes": 90.0, "color_cast": 80.0}
    assert decide(scores, VqdConfig(), {}) == ["stripes"]
    assert decide(scores | {"stripes": 10.0}, VqdConfig(), {}) == ["color_cast"]


def test_a_camera_turned_along_a_pale_room_with_a_bright_window_is_a_scene_change(pets_frames):
    """A turn along the same scene (the picture is the reference's, shifted): its light is the
    reference's, so a pale room with a burnt-out window is judged against the reference and is
    not over-exposed because the window now fills more of the view."""
    f = pets_frames[0]
    h, w = f.shape[:2]
    room = np.clip(0.3 * np.concatenate([f, f[:, ::-1]], axis=1).astype(np.float32) + 170, 0, 255)
    room[int(0.1 * h):int(0.5 * h), int(0.95 * w):int(1.25 * w)] = 255  # the window
    room = room.astype(np.uint8)
    for share in (0.12, 0.21, 0.3):
        s = int(share * w)
        d = diagnose(room[:, s:s + w], room[:, :w])
        assert d.faults == ["scene_change"], (share, d.scores)


def test_a_marginal_exposure_or_band_finding_beside_a_concentrated_cover_is_the_cover():
    """A large cover changes the picture's levels and spectrum by itself. When the rest of the view
    still matches the reference, a marginal darkness or band score beside it is the cover's doing;
    a strong one, or one beside a cover that leaves the rest mismatched, is still reported."""
    from lookout.health.vqd.suite import VqdConfig, decide

    cfg = VqdConfig()
    scores = dict.fromkeys(FAULTS, 0.0) | {"occlusion": 100.0}
    concentrated = {"ref_unmatched": 0.45, "ref_rest_unmatched": 0.05}
    for fault in ("too_dark", "too_bright", "stripes"):
        assert decide(scores | {fault: 60.0}, cfg, concentrated) == ["occlusion"]
        assert decide(scores | {fault: 95.0}, cfg, concentrated) == [fault]
        assert decide(scores | {fault: 60.0}, cfg, {"ref_unmatched": 0.9, "ref_rest_unmatched": 0.85}) == [fault]


def _orange_room(frame):
    """An orange wall with faint texture and a dark brown shelf, plain, at the bottom left."""
    h, w = frame.shape[:2]
    g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    g -= g.mean()
    room = np.stack([base + 0.15 * g for base in (120.0, 170.0, 225.0)], axis=2)
    shelf = (slice(int(0.55 * h), None), slice(None, int(0.4 * w)))
    room[shelf] = np.float32([20, 35, 60]) + 0.03 * g[shelf][..., None]
    return np.clip(room, 0, 255)


def test_a_strong_cast_that_clips_the_wall_is_a_cast_not_a_cover(pets_frames):
    """A strong red cast clips the red of an orange wall but not of a dark shelf, so the two change
    their grey level differently: taken through the colour change, the shelf is no cover."""
    ref = _orange_room(pets_frames[0]).astype(np.uint8)
    for gains in ((0.6, 0.92, 1.56), (0.5, 0.9, 1.7)):
        cast = np.clip(_orange_room(pets_frames[6]) * np.float32(gains), 0, 255).astype(np.uint8)
        d = diagnose(cast, ref)
        assert d.faults == ["color_cast"], (gains, d.scores)


def test_a_shift_of_many_picture_widths_has_no_overlap():
    """Phase correlation of a flat "no video" card against its reference gave a shift of about
    30 000 by 70 000 pixels on the tuning data: the two pictures then share nothing, and the
    turn measure must say so, not average an empty overlap."""
    import warnings

    from lookout.health.vqd.reference import _overlap_corr

    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 255, (2, 239, 320)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _overlap_corr(a, b, 29931.0, -69458.1) == 0.0
        assert _overlap_corr(a, a, 0.0, 0.0) == pytest.approx(1.0)


def _plain_wall(frame, seed):
    """A pale wall filling the view (almost no texture: the view of a badly placed camera), lit from
    one side, with its sensor noise."""
    h, w = frame.shape[:2]
    light = np.linspace(-14, 10, w, dtype=np.float32)[None, :, None] + np.linspace(-6, 6, h, dtype=np.float32)[:, None, None]
    wall = 0.02 * frame.astype(np.float32) + np.float32([200, 207, 209]) + light
    return np.clip(wall + np.random.default_rng(seed).normal(0, 1.2, wall.shape), 0, 255).astype(np.uint8)


def test_a_cover_over_a_plain_wall_is_occlusion_not_a_turned_camera(pets_frames):
    """Against a reference with almost no texture, the only structure now is the cover's own edge,
    so nearly every informative block mismatches; the wall's plain blocks, still at their level and
    colour beside the cover, are the rest of the view unchanged."""
    ref, now = _plain_wall(pets_frames[0], 1), _plain_wall(pets_frames[6], 2)
    h, w = now.shape[:2]
    pillar = now.astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    mask[:, : int(0.22 * w)] = 1
    mask = cv2.GaussianBlur(mask, (0, 0), 0.008 * w)[..., None]
    pillar = np.clip(pillar * (1 - mask) + np.float32([70, 72, 75]) * mask, 0, 255).astype(np.uint8)
    for covered in (pillar, _paint(now, (40, 80, 35), 0.3)):
        d = diagnose(covered, ref)
        assert d.faults == ["occlusion"], d.scores
    assert diagnose(now, ref).faults == []


def test_the_operator_is_told_when_a_reference_cannot_judge_focus(pets_frames):
    """A pale wall filling the view, or a black picture, has no detail to judge focus by: marking
    it as the reference says so (focus is then not judged against it); a real view is fine."""
    assert reference_limits(_plain_wall(pets_frames[0], 1)) == ["blur"]
    assert reference_limits(np.full_like(pets_frames[0], 16)) == ["blur"]
    assert reference_limits(pets_frames[0]) == []
    assert "blur" not in diagnose(cv2.GaussianBlur(_plain_wall(pets_frames[6], 2), (0, 0), 3), _plain_wall(pets_frames[0], 1)).faults


def _wall_with_a_post(frame, seed, shift=0):
    """The pale wall with one sharp object in it (a dark post over a third of the height): too few
    detailed blocks to judge focus by, but two long steep edges."""
    wall = _plain_wall(frame, seed)
    h, w = wall.shape[:2]
    x0 = int(0.8 * w) + shift
    cv2.rectangle(wall, (x0, int(0.32 * h)), (x0 + int(0.03 * w), int(0.68 * h)), (150, 140, 130), -1)
    return wall


def test_focus_against_a_plain_view_is_judged_on_its_steepest_edges(pets_frames):
    """A reference with one sharp object on a pale wall: a defocus flattens the object's edges; another
    moment, coding, a dimmer picture or a slight shake do not."""
    def defocus(frame, radius_share):  # a lens out of focus: a disc kernel
        r = max(1, round(radius_share * frame.shape[1]))
        kernel = cv2.circle(np.zeros((2 * r + 1, 2 * r + 1), np.float32), (r, r), r, 1.0, -1)
        return cv2.filter2D(frame, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)

    ref = _wall_with_a_post(pets_frames[0], 1)
    assert reference_limits(ref) == []  # the operator is not warned: focus can be judged here
    now = _wall_with_a_post(pets_frames[6], 2)
    for radius in (0.006, 0.010, 0.016):  # the corpus' mild, medium and strong defocus
        d = diagnose(defocus(now, radius), ref)
        assert "blur" in d.faults, (radius, d.scores)
    dim = np.clip(now.astype(np.float32) * 0.8, 0, 255).astype(np.uint8)
    coded = cv2.imdecode(cv2.imencode(".jpg", now, [cv2.IMWRITE_JPEG_QUALITY, 35])[1], cv2.IMREAD_COLOR)
    for clean in (now, dim, coded, _wall_with_a_post(pets_frames[6], 3, shift=5)):
        assert "blur" not in diagnose(clean, ref).faults, diagnose(clean, ref).scores


def _defocus(frame, r_frac=0.006):
    r = r_frac * frame.shape[1]
    k = int(np.ceil(r)) * 2 + 1
    kernel = np.zeros((k, k), np.float32)
    cv2.circle(kernel, (k // 2, k // 2), max(1, int(round(r))), 1.0, -1)
    return cv2.filter2D(frame, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def test_a_colour_picture_is_blurred_only_when_it_is_softer_at_half_size_too(pets_frames):
    """Coding loss (a low JPEG quality, a starved bitrate) takes a smooth view's finest texture
    (fog, a dusk sea, clouds) and leaves it as it was at half size; a defocus softens both. A colour
    picture whose fine detail fell is measured at half size as well, and is blurred only if that
    fell too."""
    from lookout.health.vqd.suite import VqdConfig, clip_measures, scores_from_measures

    ref, cur = pets_frames[0], pets_frames[2]
    cfg = VqdConfig()
    m = clip_measures([_defocus(cur)], ref)
    assert m["ref_blur_increase"] > 0.065 and m["ref_blur_increase_coarse"] > 0.018  # a mild defocus, both scales
    assert scores_from_measures(m, cfg)["blur"] == 100
    sharp = clip_measures([cur], ref)
    assert "ref_blur_increase_coarse" not in sharp  # sharp at the fine scale: not measured at half size
    # the fine scale alone fell (as JPEG quality 25 did to fresh4's dusk sea: 0.065 there, 0.007 at half size)
    coding_loss = {**sharp, "ref_blur_increase": m["ref_blur_increase"], "ref_blur_increase_coarse": 0.004}
    assert scores_from_measures(coding_loss, cfg)["blur"] == 0
