"""YOLO-family person detectors given as an ONNX file, run with ONNX Runtime.

Two output layouts are decoded:
- ``ultralytics`` (YOLOv5u/v8/v11 exports): ``[1, 4 + classes, N]`` — box centre x, y, width,
  height in input pixels, then one score per class (no objectness). Input RGB / 255,
  letterboxed to the centre with grey (114) borders.
- ``yolox``: ``[1, N, 5 + classes]`` — x, y, w, h, objectness, class scores. Input BGR 0–255,
  letterboxed into the top-left corner. Raw exports (``decode_in_inference=False``, N equal to
  the number of grid cells over strides 8/16/32) are decoded with the grids; decoded exports
  are used as they are.
``layout="auto"`` picks by shape: more rows than columns is YOLOX, otherwise Ultralytics.
Boxes of ``person_class`` above ``score_threshold`` are kept after NMS.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lookout.counting.detectors.base import DetectorError, PersonBoxes, check_frame, nms

LAYOUTS = ("auto", "ultralytics", "yolox")


def letterbox(image: np.ndarray, size: tuple[int, int], centre: bool) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping the aspect ratio and pad with grey to ``size`` (w, h).
    Returns the padded image, the scale and the x/y padding."""
    h, w = image.shape[:2]
    tw, th = size
    r = min(tw / w, th / h)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.full((th, tw, 3), 114, np.uint8)
    px, py = ((tw - nw) // 2, (th - nh) // 2) if centre else (0, 0)
    out[py:py + nh, px:px + nw] = resized
    return out, r, float(px), float(py)


def yolox_grids(width: int, height: int, strides: tuple[int, ...] = (8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    grids, expanded = [], []
    for s in strides:
        gx, gy = np.meshgrid(np.arange(width // s), np.arange(height // s))
        g = np.stack([gx, gy], -1).reshape(-1, 2)
        grids.append(g)
        expanded.append(np.full((len(g), 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(expanded).astype(np.float32)


class YoloOnnxDetector:
    name = "yolo-onnx"

    def __init__(self, path: str | Path, layout: str = "auto", score_threshold: float = 0.3, person_class: int = 0,
                 nms_iou: float = 0.45, threads: int | None = None, input_size: tuple[int, int] | None = None) -> None:
        import onnxruntime as ort

        if layout not in LAYOUTS:
            raise DetectorError(f"unknown YOLO layout {layout!r} (one of {', '.join(LAYOUTS)})")
        p = Path(path)
        if not p.is_file():
            raise DetectorError(f"ONNX model not found: {p}")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DetectorError(f"cannot load ONNX model {p}: {exc}") from exc
        inp = self.session.get_inputs()[0]
        if len(inp.shape) != 4:
            raise DetectorError(f"{p}: expected an image input [1, 3, H, W], got {inp.shape}")
        h, w = inp.shape[2], inp.shape[3]
        if input_size is None:
            input_size = (w if isinstance(w, int) else 640, h if isinstance(h, int) else 640)
        self.input_name, self.input_size = inp.name, input_size
        self.layout, self.score_threshold, self.person_class, self.nms_iou = layout, score_threshold, person_class, nms_iou
        self._grids: tuple[np.ndarray, np.ndarray] | None = None

    def _layout_of(self, out: np.ndarray) -> str:
        if self.layout != "auto":
            return self.layout
        return "yolox" if out.shape[0] > out.shape[1] else "ultralytics"

    def _run(self, image: np.ndarray) -> PersonBoxes:
        yolox = self.layout == "yolox"
        if self.layout == "auto":
            yolox = None  # decided from the output; preprocess as Ultralytics first if unknown
        centre = yolox is not True
        padded, r, px, py = letterbox(image, self.input_size, centre=centre)
        if yolox is True:
            blob = padded.transpose(2, 0, 1)[None].astype(np.float32)
        else:
            blob = (padded[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)) / 255.0
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(blob)})[0]
        if out.ndim != 3 or out.shape[0] != 1:
            raise DetectorError(f"unexpected YOLO output shape {out.shape} (want [1, 4+C, N] or [1, N, 5+C])")
        out = out[0]
        layout = self._layout_of(out)
        if layout == "yolox" and yolox is None:
            # auto mode found YOLOX: redo with YOLOX preprocessing (decided once)
            self.layout = "yolox"
            return self._run(image)
        if self.layout == "auto":
            self.layout = layout
        if layout == "ultralytics":
            n_cls = out.shape[0] - 4
            if n_cls <= self.person_class:
                raise DetectorError(f"model has {n_cls} classes, person class {self.person_class} is missing")
            boxes, scores = out[:4].T, out[4 + self.person_class]
        else:
            n_cls = out.shape[1] - 5
            if n_cls <= self.person_class:
                raise DetectorError(f"model has {n_cls} classes, person class {self.person_class} is missing")
            boxes = out[:, :4].copy()
            w, h = self.input_size
            grids, strides = self._grids or yolox_grids(w, h)
            self._grids = (grids, strides)
            if len(out) == len(grids):  # raw head: offsets on the grid, log sizes
                boxes[:, :2] = (boxes[:, :2] + grids) * strides
                boxes[:, 2:4] = np.exp(boxes[:, 2:4]) * strides
            scores = out[:, 4] * out[:, 5 + self.person_class]
        keep = scores >= self.score_threshold
        boxes, scores = boxes[keep], scores[keep]
        xyxy = np.stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2,
                         boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2], 1) if len(boxes) else np.zeros((0, 4))
        xyxy = (xyxy - np.array([px, py, px, py])) / r
        ih, iw = image.shape[:2]
        xyxy = np.clip(xyxy, 0, [iw, ih, iw, ih]).astype(np.float32)
        return nms(PersonBoxes(xyxy, scores.astype(np.float32)), self.nms_iou)

    def detect(self, frame: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> PersonBoxes:
        frame = check_frame(frame)
        if roi is None:
            return self._run(frame)
        x1, y1, x2, y2 = (int(v) for v in roi)
        crop = frame[y1:y2, x1:x2]
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            return PersonBoxes.empty()
        return self._run(crop).shifted(x1, y1)
