"""Person detectors behind one interface (``base.Detector``), chosen per channel.

``create_detector(spec)``: ``{"kind": "ssdlite", "score": 0.3, "input": [300, 300]}`` (the
default, shipped in an installed package; a larger input sees small people better), ``{"kind": "yolo", "path": "model.onnx", "layout": "auto"}`` (a YOLO or
YOLOX ONNX export the deployment brings). Density maps for dense crowds are a different
output (a count, not boxes): see ``density.DensityCounter``.
"""

from __future__ import annotations

from typing import Any

from lookout.counting.detectors.base import Detector, DetectorError, PersonBoxes

__all__ = ["Detector", "DetectorError", "PersonBoxes", "create_detector"]


def create_detector(spec: dict[str, Any] | str | None = None) -> Detector:
    if spec is None:
        spec = {"kind": "ssdlite"}
    if isinstance(spec, str):
        spec = {"kind": spec}
    kind = spec.get("kind", "ssdlite")
    if kind == "ssdlite":
        from lookout.counting.detectors.ssd import SsdLiteDetector

        size = spec.get("input") or (300, 300)
        if len(size) != 2 or min(int(v) for v in size) < 32:
            raise DetectorError(f"ssdlite input must be [width, height] ≥ 32, got {size!r}")
        return SsdLiteDetector(score_threshold=float(spec.get("score", 0.3)), threads=spec.get("threads"),
                               input_size=(int(size[0]), int(size[1])))
    if kind == "yolo":
        from lookout.counting.detectors.yolo_onnx import YoloOnnxDetector

        if not spec.get("path"):
            raise DetectorError("a yolo detector needs 'path' to an ONNX model")
        return YoloOnnxDetector(spec["path"], layout=spec.get("layout", "auto"),
                                score_threshold=float(spec.get("score", 0.3)),
                                person_class=int(spec.get("person_class", 0)), threads=spec.get("threads"))
    raise DetectorError(f"unknown detector kind {kind!r} (ssdlite, yolo)")
