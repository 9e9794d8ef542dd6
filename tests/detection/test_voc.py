"""dlcv.detection.voc: PASCAL VOC annotations, on a small folder the test writes in VOC's format."""

import numpy as np
import pytest
from PIL import Image

from dlcv.detection.voc import VOC_CLASSES, VOCFormatError, load_voc, parse_voc_xml

XML = """<annotation>
  <folder>VOC2007</folder><filename>{name}.jpg</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
  <object><name>dog</name><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>
  <object><name>person</name><truncated>1</truncated><difficult>1</difficult>
    <bndbox><xmin>5</xmin><ymin>5</ymin><xmax>30</xmax><ymax>25</ymax></bndbox></object>
  <object><name>unicorn</name><difficult>0</difficult>
    <bndbox><xmin>3</xmin><ymin>3</ymin><xmax>4</xmax><ymax>4</ymax></bndbox></object>
</annotation>"""


def write_voc(root, ids=("000001", "000002"), w=40, h=30):
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(ids):
        (root / "Annotations" / f"{name}.xml").write_text(XML.format(name=name, w=w, h=h))
        img = np.full((h, w, 3), 40 * (i + 1), dtype=np.uint8)
        Image.fromarray(img).save(root / "JPEGImages" / f"{name}.jpg")
    (root / "ImageSets" / "Main" / "val.txt").write_text("\n".join(ids) + "\n")
    return root


def test_parse_converts_to_pixel_edges(tmp_path):
    root = write_voc(tmp_path)
    ann = parse_voc_xml(root / "Annotations" / "000001.xml")
    assert (ann.filename, ann.width, ann.height) == ("000001.jpg", 40, 30)
    assert ann.names == ["dog", "person", "unicorn"]
    np.testing.assert_array_equal(ann.boxes[0], [0, 1, 10, 20])  # 1-based inclusive -> edges
    assert ann.boxes[0, 2] - ann.boxes[0, 0] == 10  # width 10 - 1 + 1 pixels
    np.testing.assert_array_equal(ann.difficult, [False, True, False])
    np.testing.assert_array_equal(ann.truncated, [False, True, False])
    assert parse_voc_xml(XML.format(name="x", w=4, h=4)).boxes.shape == (3, 4)


def test_load_voc(tmp_path):
    data = load_voc(write_voc(tmp_path), "val")
    assert len(data) == 2 and data.images.shape == (2, 30, 40, 3)
    assert data.class_names == VOC_CLASSES
    np.testing.assert_array_equal(data.labels[0], [VOC_CLASSES.index("dog"),
                                                   VOC_CLASSES.index("person")])
    np.testing.assert_array_equal(data.difficult[1], [False, True])
    assert abs(data.images[1].mean() - 80 / 255) < 0.02
    easy = load_voc(tmp_path, "val", classes=("person", "dog"), keep_difficult=False, limit=1)
    assert len(easy) == 1 and list(easy.labels[0]) == [1]


def test_missing_split_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="ImageSets/Main/val.txt"):
        load_voc(tmp_path, "val")
    with pytest.raises(VOCFormatError, match="not valid XML"):
        parse_voc_xml("<annotation><size>")
    with pytest.raises(VOCFormatError, match="root element"):
        parse_voc_xml("<notes></notes>")
    with pytest.raises(VOCFormatError, match="bndbox"):
        parse_voc_xml("<annotation><size><width>4</width><height>4</height></size>"
                      "<object><name>dog</name></object></annotation>")
    with pytest.raises(VOCFormatError, match="xmax < xmin"):
        parse_voc_xml("<annotation><size><width>4</width><height>4</height></size><object>"
                      "<name>dog</name><bndbox><xmin>3</xmin><ymin>1</ymin><xmax>2</xmax>"
                      "<ymax>2</ymax></bndbox></object></annotation>")
    root = write_voc(tmp_path / "voc", ids=("a",), w=40, h=30)
    (root / "Annotations" / "a.xml").write_text(XML.format(name="a", w=50, h=30))
    with pytest.raises(VOCFormatError, match="annotation says 50x30"):
        load_voc(root, "val")
