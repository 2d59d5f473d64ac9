"""Detector plug-ins: the YOLO ONNX loader/decoders on tiny ONNX models built here, the
default SSDLite model on a real frame, and clear errors for bad models and frames."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from lookout.counting.detectors import create_detector  # noqa: E402
from lookout.counting.detectors.base import DetectorError  # noqa: E402
from lookout.counting.detectors.yolo_onnx import YoloOnnxDetector, yolox_grids  # noqa: E402


def constant_model(path, output: np.ndarray, size: int = 64) -> str:
    """An ONNX model whose output is ``output`` whatever the image (it still reads the image)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0.0, np.float32))),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(output.astype(np.float32))),
        helper.make_node("Add", ["c", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def test_ultralytics_layout_is_decoded_and_letterbox_undone(tmp_path):
    out = np.zeros((1, 6, 16), np.float32)  # 4 box values + 2 classes (person, car), 16 candidates
    out[0, :, 0] = [32, 32, 10, 20, 0.9, 0.0]  # a person
    out[0, :, 1] = [10, 10, 8, 8, 0.1, 0.0]  # too unsure
    out[0, :, 2] = [50, 40, 10, 10, 0.05, 0.95]  # a car
    det = create_detector({"kind": "yolo", "path": constant_model(tmp_path / "u.onnx", out)})
    frame = np.zeros((64, 128, 3), np.uint8)  # letterboxed: scale 0.5, 16 px grey bands above and below
    boxes = det.detect(frame)
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes.xyxy[0], [54, 12, 74, 52], atol=0.5)
    assert boxes.scores[0] == pytest.approx(0.9)
    assert det.layout == "ultralytics"
    # a region of interest gives boxes in full-frame coordinates
    roi_boxes = det.detect(np.zeros((200, 300, 3), np.uint8), roi=(100, 50, 228, 114))
    np.testing.assert_allclose(roi_boxes.xyxy[0], [154, 62, 174, 102], atol=0.5)


def test_yolox_raw_head_is_decoded_with_grids(tmp_path):
    grids, _ = yolox_grids(64, 64)
    out = np.zeros((1, len(grids), 7), np.float32)  # x, y, w, h, obj, person, car
    idx = 4 * 8 + 3  # stride 8, cell (3, 4)
    out[0, idx] = [0.5, 0.5, np.log(2), np.log(4), 0.9, 1.0, 0.0]
    det = YoloOnnxDetector(constant_model(tmp_path / "x.onnx", out), layout="auto")
    boxes = det.detect(np.zeros((128, 128, 3), np.uint8))  # scale 0.5, no padding
    assert det.layout == "yolox"
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes.xyxy[0], [40, 40, 72, 104], atol=0.5)
    assert boxes.scores[0] == pytest.approx(0.9)


def test_bad_models_and_frames_get_clear_errors(tmp_path):
    with pytest.raises(DetectorError, match="not found"):
        YoloOnnxDetector(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot load"):
        YoloOnnxDetector(junk)
    with pytest.raises(DetectorError, match="unknown detector kind"):
        create_detector({"kind": "hog"})
    out = np.zeros((1, 6, 16), np.float32)
    det = YoloOnnxDetector(constant_model(tmp_path / "u.onnx", out))
    with pytest.raises(DetectorError, match="BGR uint8"):
        det.detect(np.zeros((64, 64), np.uint8))
    one_class = np.zeros((1, 5, 16), np.float32)
    det = YoloOnnxDetector(constant_model(tmp_path / "one.onnx", one_class), person_class=2)
    with pytest.raises(DetectorError, match="person class 2"):
        det.detect(np.zeros((64, 64, 3), np.uint8))


def test_default_ssdlite_finds_people_on_a_pets_frame(pets_video):
    import av

    with av.open(str(pets_video)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="bgr24")
    det = create_detector("ssdlite")
    boxes = det.detect(frame)
    assert 2 <= len(boxes) <= 5  # three people are annotated on the first frame
    assert (boxes.xyxy[:, 2] > boxes.xyxy[:, 0]).all() and (boxes.xyxy[:, 3] <= 576).all()
    # people are taller than wide
    assert ((boxes.xyxy[:, 3] - boxes.xyxy[:, 1]) > (boxes.xyxy[:, 2] - boxes.xyxy[:, 0])).all()
    assert len(det.detect(np.zeros((576, 768, 3), np.uint8))) == 0


def density_model(path) -> str:
    """A tiny CSRNet-style model: the first channel pooled 8×8 (output H/8 × W/8)."""
    nodes = [
        helper.make_node("Slice", ["input", "s", "e", "a"], ["c0"]),
        helper.make_node("AveragePool", ["c0"], ["map"], kernel_shape=[8, 8], strides=[8, 8]),
    ]
    inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("s", [0]), ("e", [1]), ("a", [1]))]
    graph = helper.make_graph(nodes, "dens", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("map", TensorProto.FLOAT, [1, 1, "h8", "w8"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_density_counter_sums_the_map_inside_the_mask(tmp_path):
    from lookout.counting.detectors.density import MEAN, STD, DensityCounter

    model = density_model(tmp_path / "d.onnx")
    frame = np.zeros((64, 96, 3), np.uint8)  # channel 0 of the model is red
    frame[:, 48:, 2] = 255  # right half red
    full = DensityCounter(model).count(frame)
    red, black = (1 - MEAN[0]) / STD[0], (0 - MEAN[0]) / STD[0]
    assert full == pytest.approx(8 * 6 * red + 8 * 6 * black, rel=1e-4)  # 8×12 cells, half of each
    mask = np.zeros((64, 96), np.uint8)
    mask[:, 48:] = 1
    assert DensityCounter(model, mask=mask).count(frame) == pytest.approx(8 * 6 * red, rel=1e-4)
    with pytest.raises(DetectorError, match="mask is"):
        DensityCounter(model, mask=np.ones((10, 10))).count(frame)


@pytest.mark.slow
def test_csrnet_weights_from_the_package_count_a_pets_frame(tmp_path, pets_video):
    import av

    from lookout.counting.detectors.density import DensityCounter, csrnet_onnx

    with av.open(str(pets_video)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="bgr24")
    counter = DensityCounter(csrnet_onnx(tmp_path / "csrnet.onnx"), scale=0.5)
    assert counter.density(frame).shape == (36, 48)
    assert 1.0 <= counter.count(frame) <= 8.0  # three people are annotated
