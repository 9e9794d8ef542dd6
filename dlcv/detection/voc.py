"""PASCAL VOC annotations: read real detection data in VOC's format with the course's code.

A VOC-format data set is a folder with
    Annotations/<id>.xml            one XML file per image (objects with names and boxes)
    JPEGImages/<id>.jpg             the images
    ImageSets/Main/<split>.txt      the image ids of each split (train, val, trainval, test)

VOC stores boxes as 1-based, inclusive pixel indices (xmin, ymin, xmax, ymax). The course uses
pixel edges (see dlcv.shapes): pixel column c covers [c, c+1). A VOC box therefore becomes
(xmin - 1, ymin - 1, xmax, ymax), and its width xmax - xmin + 1 is unchanged.

    ann = parse_voc_xml("Annotations/000005.xml")     # VOCAnnotation
    data = load_voc("VOCdevkit/VOC2007", "val")       # DetectionData, like the shapes scenes

No VOC data ships with the course (VOC 2007 is 460 MB); point load_voc at a copy if you have one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcv.shapes import DetectionData

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)


class VOCFormatError(ValueError):
    """A VOC annotation file is not what the format says it should be."""


@dataclass
class VOCAnnotation:
    """One image's annotation.

    boxes: (K, 4) float32, (x1, y1, x2, y2) with pixel edges (course convention)
    names: K class names as written in the file; difficult, truncated: (K,) bool
    """

    filename: str
    width: int
    height: int
    boxes: np.ndarray
    names: list[str]
    difficult: np.ndarray
    truncated: np.ndarray


def _text(node, tag: str, where: str, default: str | None = None) -> str:
    child = node.find(tag)
    if child is None or child.text is None:
        if default is not None:
            return default
        raise VOCFormatError(f"{where}: missing <{tag}>")
    return child.text.strip()


def parse_voc_xml(source: str | Path) -> VOCAnnotation:
    """Parse one VOC annotation, given a path to the .xml file or the XML text itself."""
    text = str(source)
    where = "VOC annotation"
    try:
        if text.lstrip().startswith("<"):
            root = ET.fromstring(text)
        else:
            where = str(source)
            root = ET.parse(source).getroot()
    except ET.ParseError as e:
        raise VOCFormatError(f"{where}: not valid XML ({e})") from None
    if root.tag != "annotation":
        raise VOCFormatError(f"{where}: the root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    if size is None:
        raise VOCFormatError(f"{where}: missing <size>")
    width, height = int(float(_text(size, "width", where))), int(float(_text(size, "height", where)))
    boxes, names, difficult, truncated = [], [], [], []
    for k, obj in enumerate(root.findall("object")):
        bb = obj.find("bndbox")
        if bb is None:
            raise VOCFormatError(f"{where}: object {k} has no <bndbox>")
        x1, y1, x2, y2 = (float(_text(bb, t, where)) for t in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 or y2 < y1:
            raise VOCFormatError(f"{where}: object {k} has xmax < xmin or ymax < ymin "
                                 f"({x1}, {y1}, {x2}, {y2})")
        boxes.append((x1 - 1, y1 - 1, x2, y2))
        names.append(_text(obj, "name", where))
        difficult.append(_text(obj, "difficult", where, "0") == "1")
        truncated.append(_text(obj, "truncated", where, "0") == "1")
    return VOCAnnotation(_text(root, "filename", where, ""), width, height,
                         np.array(boxes, dtype=np.float32).reshape(-1, 4), names,
                         np.array(difficult, dtype=bool), np.array(truncated, dtype=bool))


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255


def load_voc(root: str | Path, split: str = "val", classes: Sequence[str] = VOC_CLASSES,
             limit: int | None = None, keep_difficult: bool = True) -> DetectionData:
    """A VOC-format data set as DetectionData (images as a list of (H, W, 3) float32 in [0, 1]).

    root: the folder holding Annotations/, JPEGImages/ and ImageSets/Main/ (e.g. VOC2007);
    split: the name of an ImageSets/Main/<split>.txt file; classes: the class names, in order
    (objects of other classes are skipped); limit: read only the first `limit` images.
    """
    root = Path(root)
    ids_file = root / "ImageSets" / "Main" / f"{split}.txt"
    if not ids_file.is_file():
        raise FileNotFoundError(
            f"load_voc: no split file {ids_file}. Expected a VOC folder with Annotations/, "
            "JPEGImages/ and ImageSets/Main/<split>.txt (for example VOCdevkit/VOC2007).")
    ids = [line.split()[0] for line in ids_file.read_text().splitlines() if line.strip()]
    if limit is not None:
        ids = ids[:limit]
    index = {name: i for i, name in enumerate(classes)}
    images, boxes, labels, difficult = [], [], [], []
    for image_id in ids:
        ann = parse_voc_xml(root / "Annotations" / f"{image_id}.xml")
        keep = np.array([n in index and (keep_difficult or not d)
                         for n, d in zip(ann.names, ann.difficult, strict=True)], dtype=bool)
        image = _read_image(root / "JPEGImages" / (ann.filename or f"{image_id}.jpg"))
        if image.shape[:2] != (ann.height, ann.width):
            raise VOCFormatError(f"{image_id}: the image is {image.shape[1]}x{image.shape[0]} but "
                                 f"the annotation says {ann.width}x{ann.height}")
        images.append(image)
        boxes.append(ann.boxes[keep])
        labels.append(np.array([index[n] for n, k in zip(ann.names, keep, strict=True) if k], dtype=np.int64))
        difficult.append(ann.difficult[keep])
    if images and all(im.shape == images[0].shape for im in images):
        images = np.stack(images)
    return DetectionData(images, boxes, labels, tuple(classes), difficult)
