"""Line crossings with hysteresis: jitter and turning back count nothing, real crossings
count once in the right direction — both in the pure counter and through the real tracker."""

from __future__ import annotations

import numpy as np
import pytest

from lookout.counting.detectors.base import PersonBoxes
from lookout.counting.lines import Line, LineCounter
from lookout.counting.pipeline import CountingPipeline, PipelineConfig

# horizontal line from (0, 300) to (800, 300): s(p) = 800 * (py - 300), so "in" is downwards
LINE = Line(0, 300, 800, 300, margin=10, name="gate")


def feed(counter: LineCounter, ys: list[float], x: float = 400, tid: int = 1) -> list:
    out = []
    for i, y in enumerate(ys):
        out += counter.update([(tid, x, y)], ts=i * 0.2)
    return out


def test_direction_follows_the_contract_formula():
    c = LineCounter(LINE)
    assert LINE.s(400, 350) > 0 and LINE.s(400, 250) < 0
    crossings = feed(c, list(range(250, 410, 20)))
    assert [x.direction for x in crossings] == ["in"]
    crossings = feed(c, list(range(400, 180, -20)))
    assert [x.direction for x in crossings] == ["out"]
    assert (c.entered, c.exited) == (1, 1)


def test_jitter_back_and_forth_across_the_line_counts_nothing():
    c = LineCounter(LINE)
    rng = np.random.default_rng(3)
    ys = [250, 270] + list(300 + rng.uniform(-9, 9, 200)) + [270, 250]  # inside the ±10 px band
    assert feed(c, ys) == []
    # larger flicker, alternating sides every frame beyond the margin: never settles
    ys = [250] + [285 if i % 2 else 315 for i in range(100)] + [250]
    assert feed(c, ys, tid=2) == []
    assert (c.entered, c.exited) == (0, 0)


def test_person_who_stops_on_the_line_and_turns_back_counts_nothing():
    c = LineCounter(LINE)
    walk_up = list(range(200, 296, 8))  # approaches from above
    stand = [298 + (i % 3) for i in range(40)]  # stands on the line, swaying a little
    back = list(range(296, 180, -8))  # turns back
    assert feed(c, walk_up + stand + back) == []
    assert (c.entered, c.exited) == (0, 0)


def test_bounded_line_ignores_crossings_beyond_its_ends():
    c = LineCounter(Line(300, 300, 500, 300, margin=10, bounded=True))
    assert feed(c, list(range(250, 400, 15)), x=700) == []
    assert len(feed(c, list(range(250, 400, 15)), x=400, tid=2)) == 1


def test_parse_rejects_bad_lines():
    assert Line.parse("0,300,800,300").y2 == 300
    with pytest.raises(ValueError, match="4 numbers"):
        Line.parse("1,2,3")
    with pytest.raises(ValueError, match="same point"):
        Line.parse("5,5,5,5")


class ScriptedDetector:
    """Boxes given per frame, standing in for the network (the tracker and lines are real)."""

    name = "scripted"

    def __init__(self, frames: list[list[tuple[float, float, float, float, float]]]) -> None:
        self.frames, self.i = frames, 0

    def detect(self, frame, roi=None) -> PersonBoxes:
        boxes = self.frames[self.i] if self.i < len(self.frames) else []
        if not boxes:
            return PersonBoxes.empty()
        a = np.array(boxes, np.float32)
        return PersonBoxes(a[:, :4], a[:, 4])


def run_pipeline(frames: list[list[tuple]], line: Line = LINE) -> CountingPipeline:
    det = ScriptedDetector(frames)
    pipe = CountingPipeline(det, PipelineConfig(analysis_fps=5, tiles=None, motion_gating=False), lines=[line])
    img = np.zeros((600, 800, 3), np.uint8)
    for i in range(len(frames)):
        det.i = i
        pipe.process(img, ts=i / 5)
    return pipe


def person(foot_y: float, x: float = 400, score: float = 0.9) -> tuple:
    return (x - 20, foot_y - 90, x + 20, foot_y, score)


def test_tracked_walk_across_counts_exactly_once():
    pipe = run_pipeline([[person(y)] for y in range(200, 420, 10)])
    assert pipe.line_totals()["gate"] == {"in": 1, "out": 0}


def test_tracked_box_flickering_on_the_line_counts_nothing():
    rng = np.random.default_rng(5)
    frames = [[person(250)], [person(270)]]
    for i in range(60):  # the box jitters ±15 px across the line and drops out every third frame
        frames.append([] if i % 3 == 2 else [person(300 + rng.uniform(-15, 15))])
    frames += [[person(270)], [person(250)]]
    pipe = run_pipeline(frames)
    assert pipe.line_totals()["gate"] == {"in": 0, "out": 0}


def test_unconfirmed_track_counts_nothing():
    # a detection seen on two frames only (a false positive) jumps across the line
    frames = [[], [person(280)], [person(330)], [], [], []]
    pipe = run_pipeline(frames)
    assert pipe.line_totals()["gate"] == {"in": 0, "out": 0}


@pytest.mark.parametrize("fps", [2.0, 5.0, 10.0, 25.0])
def test_line_rules_scale_with_the_analysis_rate(fps):
    line = LINE.at_rate(fps)
    assert line.settle == max(1, round(0.2 * fps + 1e-9)) and line.smooth >= 2

    def run(ys, tid):
        return [c for i, y in enumerate(ys) for c in counter.update([(tid, 400, y)], ts=i / fps)]

    counter = LineCounter(line)
    step = 80 / fps  # a walk at 80 px/s
    walk = [250 + step * i for i in range(int(150 / step) + 2)]
    assert [c.direction for c in run(walk, 1)] == ["in"]
    rng = np.random.default_rng(5)
    assert run([250, 270] + list(300 + rng.uniform(-9, 9, 60)) + [270, 250], 2) == []
    assert run([250] + [285 if i % 2 else 315 for i in range(60)] + [250], 3) == []
    stand = [298 + (i % 3) for i in range(20)]
    assert run(list(np.arange(200, 296, step)) + stand + list(np.arange(296, 180, -step)), 4) == []
    assert (counter.entered, counter.exited) == (1, 0)


def test_confirmation_is_a_duration():
    assert PipelineConfig(analysis_fps=10.0).confirm_count() == 3
    assert PipelineConfig(analysis_fps=5.0).confirm_count() == 2
    assert PipelineConfig(analysis_fps=1.0).confirm_count() == 2  # never a single detection
    assert PipelineConfig(analysis_fps=5.0, confirm_frames=4).confirm_count() == 4
