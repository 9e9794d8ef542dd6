"""dlcv.data: embedded data, the CIFAR-10 loader (on files in the official format written here),
splits and toy data."""

import pickle

import numpy as np
import pytest

from dlcv import data


def write_cifar_batch(path, n, seed):
    """A batch in CIFAR-10's official python format: dict with 'data' (n, 3072) uint8 in
    channel-major order (1024 red, 1024 green, 1024 blue) and 'labels' (list of int)."""
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    d = {"batch_label": f"batch {seed}", "labels": labels,
         "data": imgs.transpose(0, 3, 1, 2).reshape(n, 3072), "filenames": [f"{i}.png" for i in range(n)]}
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)
    return imgs, np.array(labels)


@pytest.fixture
def cifar_dir(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    train = [write_cifar_batch(root / f"data_batch_{b}", 7, seed=b) for b in range(1, 6)]
    test = write_cifar_batch(root / "test_batch", 5, seed=99)
    return root, train, test


def test_digits_shapes_and_range():
    X, y = data.load_digits()
    assert X.shape == (1797, 8, 8) and X.dtype == np.float64
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    assert X.min() == 0 and X.max() == 16


def test_cifar10_loader_reads_official_format(cifar_dir):
    root, train, test = cifar_dir
    X_train, y_train, X_test, y_test = data.load_cifar10(root)
    assert X_train.shape == (35, 32, 32, 3) and X_train.dtype == np.uint8
    np.testing.assert_array_equal(X_train[:7], train[0][0])  # HWC order restored exactly
    np.testing.assert_array_equal(y_train[7:14], train[1][1])
    np.testing.assert_array_equal(X_test, test[0])
    np.testing.assert_array_equal(y_test, test[1])
    X2, y2, _, _ = data.load_cifar10(root, num_batches=2)
    assert X2.shape == (14, 32, 32, 3)


def test_cifar10_missing_gives_instructions(tmp_path):
    with pytest.raises(data.DataSetNotFound, match="get_cifar10.sh") as e:
        data.load_cifar10(tmp_path)
    assert data.CIFAR10_URL in str(e.value)  # what a student with only the notebooks can do
    assert not data.cifar10_available(tmp_path)


def test_cifar10_corrupt_batch_is_named(cifar_dir):
    root, _, _ = cifar_dir
    (root / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_3"):
        data.load_cifar10(root)


def _repickle(path, transform, protocol=4):
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="latin1")
    with open(path, "wb") as f:
        pickle.dump(transform(d), f, protocol=protocol)


@pytest.mark.parametrize("variant", ["bytes keys", "str keys, protocol 5", "label array", "images NCHW",
                                     "images NHWC", "python 2 style"])
def test_cifar10_loader_accepts_repickled_variants(cifar_dir, variant):
    """Copies that people re-pickle under Python 3: keys as bytes (pickle.load(encoding="bytes")),
    str keys, labels as an array, data as images; and a protocol-2 pickle as the originals are."""
    root, train, _ = cifar_dir
    transform, protocol = {
        "bytes keys": (lambda d: {k.encode(): v for k, v in d.items()}, 4),
        "str keys, protocol 5": (lambda d: d, 5),
        "label array": (lambda d: {**d, "labels": np.array(d["labels"], dtype=np.int32)}, 4),
        "images NCHW": (lambda d: {**d, "data": d["data"].reshape(-1, 3, 32, 32)}, 4),
        "images NHWC": (lambda d: {**d, "data": d["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)}, 4),
        "python 2 style": (lambda d: d, 2),
    }[variant]
    _repickle(root / "data_batch_2", transform, protocol)
    X_train, y_train, _, _ = data.load_cifar10(root)
    np.testing.assert_array_equal(X_train[7:14], train[1][0])
    np.testing.assert_array_equal(y_train[7:14], train[1][1])


@pytest.mark.parametrize("content, message", [
    (b"\x1f\x8b\x08\x00 compressed", "gzip file: unpack"),
    (b"<!DOCTYPE html><html>Not found</html>", "web page"),
    (b"", "empty"),
    (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, protocol=4)[:200], "truncated"),
    (pickle.dumps([1, 2, 3], protocol=4), "holds a list"),
    (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 1]}, protocol=4), "CIFAR-100"),
    (pickle.dumps({"images": np.zeros((2, 3072), np.uint8)}, protocol=4), "keys ['images']"),
    (pickle.dumps({"data": np.zeros((2, 3072)), "labels": [0, 1]}, protocol=4), "uint8"),
    (pickle.dumps({"data": np.zeros((2, 1024), np.uint8), "labels": [0, 1]}, protocol=4), "(2, 1024)"),
    (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 12]}, protocol=4), "0..9"),
    (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, protocol=4),
     "2 images but 1 labels"),
])
def test_cifar10_loader_says_what_is_wrong(cifar_dir, content, message):
    root, _, _ = cifar_dir
    (root / "data_batch_4").write_bytes(content)
    with pytest.raises(ValueError, match="data_batch_4") as e:
        data.load_cifar10(root)
    assert message in str(e.value)


class _Boom:
    def __reduce__(self):
        return (print, ("this ran",))


def test_cifar10_loader_runs_no_code_from_a_file(cifar_dir, capsys):
    """A data file is unpickled with only numpy's array classes allowed: a pickle that would call
    a function is refused, not run."""
    root, _, _ = cifar_dir
    (root / "test_batch").write_bytes(pickle.dumps({"data": _Boom(), "labels": [0]}, protocol=4))
    with pytest.raises(ValueError, match="builtins.print"):
        data.load_cifar10(root)
    assert "this ran" not in capsys.readouterr().out


def test_cifar10_bad_num_batches(cifar_dir):
    with pytest.raises(ValueError, match="num_batches"):
        data.load_cifar10(cifar_dir[0], num_batches=0)


def test_load_classification_uses_cifar_when_present(cifar_dir, monkeypatch):
    root, _, _ = cifar_dir
    monkeypatch.setattr(data, "CIFAR10_DIR", root)
    s = data.load_classification("auto", num_train=20, num_val=5, num_test=4, num_dev=3)
    assert s.name == "cifar10" and s.class_names == data.CIFAR10_CLASSES
    assert (s.X_train.shape, s.X_val.shape, s.X_test.shape, s.X_dev.shape) == (
        (20, 32, 32, 3), (5, 32, 32, 3), (4, 32, 32, 3), (3, 32, 32, 3))


def test_load_classification_falls_back_to_digits(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CIFAR10_DIR", tmp_path / "nothing")
    with pytest.warns(UserWarning, match="digits"):
        s = data.load_classification("auto")
    assert s.name == "digits"
    assert (len(s.y_train), len(s.y_val), len(s.y_test), len(s.y_dev)) == (1257, 180, 360, 200)
    with pytest.raises(ValueError, match="unknown data set"):
        data.load_classification("mnist")


def test_split_is_disjoint_stratified_and_deterministic():
    X, y = data.load_digits()
    s = data.split_data(X.reshape(len(X), -1), y, num_val=0.1, num_test=0.2, num_dev=50, seed=3)
    rows = lambda A: {a.tobytes() for a in A}
    assert len(s.y_train) + len(s.y_val) + len(s.y_test) == len(y)
    assert not rows(s.X_test) & rows(s.X_val)
    assert rows(s.X_dev) <= rows(s.X_train)
    # stratified: every class is within one or two samples of its share in the test set
    share = np.bincount(y) / len(y) * len(s.y_test)
    assert np.all(np.abs(np.bincount(s.y_test, minlength=10) - share) <= 2)
    s2 = data.split_data(X.reshape(len(X), -1), y, num_val=0.1, num_test=0.2, num_dev=50, seed=3)
    np.testing.assert_array_equal(s.y_train, s2.y_train)


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_val=1000, num_test=1000), "no training data"),
    (dict(num_val=-1, num_test=10), "num_val"),
    (dict(num_val=10, num_test=10, num_dev=10_000), "num_dev"),
])
def test_split_rejects_bad_sizes(kwargs, match):
    X, y = data.load_digits()
    with pytest.raises(ValueError, match=match):
        data.split_data(X, y, **kwargs)


def test_split_rejects_mismatched_or_float_labels():
    with pytest.raises(ValueError, match="same first dimension"):
        data.split_data(np.zeros((5, 2)), np.zeros(4, dtype=int), 1, 1)
    with pytest.raises(TypeError, match="integer labels"):
        data.split_data(np.zeros((5, 2)), np.zeros(5), 1, 1)


@pytest.mark.parametrize("name", data.PHOTOS)
def test_every_photo_loads_as_rgb_uint8(name):
    img = data.load_photo(name, size=64)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert max(img.shape[:2]) == 64
    assert img.std() > 5  # a real picture, not a blank


def test_photo_gray_and_errors():
    assert data.load_photo("coffee", gray=True).ndim == 2
    with pytest.raises(ValueError, match="unknown photo"):
        data.load_photo("lena")
    with pytest.raises(ValueError, match="size"):
        data.load_photo("camera", size=0)


@pytest.mark.parametrize("kind", data.TOY_KINDS)
def test_toy_2d(kind):
    X, y = data.make_toy_2d(kind, n=120, noise=0.1, num_classes=3, seed=1)
    assert X.shape == (120, 2) and y.shape == (120,)
    assert len(np.unique(y)) == (3 if kind in ("blobs", "spiral") else 2)
    X2, _ = data.make_toy_2d(kind, n=120, noise=0.1, num_classes=3, seed=1)
    np.testing.assert_array_equal(X, X2)


def test_toy_2d_errors():
    with pytest.raises(ValueError, match="unknown kind"):
        data.make_toy_2d("swirl")
    with pytest.raises(ValueError, match="noise"):
        data.make_toy_2d(noise=-1)
