"""blasfast.nn data loaders: the IDX reader on small files written here, the real MNIST files
from ../shared/data/mnist (skipped when absent), and the digits split."""

import gzip
import hashlib
import os
import pathlib

import numpy as np
import pytest

from blasfast.nn import load_digits_split, load_idx, load_mnist

ROOT = pathlib.Path(__file__).resolve().parents[1]
MNIST = pathlib.Path(os.environ.get("BLASFAST_DATA", ROOT.parent / "shared" / "data")) / "mnist"

# From shared/data/README.md.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_IMAGES_SHA256 = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"


def idx_bytes(arr, magic=None):
    arr = np.asarray(arr, dtype=np.uint8)
    magic = (0x0800 | arr.ndim) if magic is None else magic
    dims = np.array(arr.shape, dtype=">u4").tobytes()
    return magic.to_bytes(4, "big") + dims + arr.tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(7,), (5, 4, 3), (2, 3)])
def test_load_idx_round_trips(tmp_path, rng, gz, shape):
    arr = rng.integers(0, 256, shape, dtype=np.uint8)
    got = load_idx(write(tmp_path / "f.idx", idx_bytes(arr), gz))
    assert got.dtype == np.uint8 and got.shape == shape and np.array_equal(got, arr)
    assert got.flags.writeable


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("magic", [0x00000D03, 0x01000803, 0x12345678, 0x00000800])
def test_load_idx_bad_magic(tmp_path, rng, gz, magic):
    data = idx_bytes(rng.integers(0, 256, (2, 3, 3)), magic=magic)
    with pytest.raises(ValueError, match=f"bad magic number 0x{magic:08X}"):
        load_idx(write(tmp_path / "f.idx", data, gz))


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_truncated(tmp_path, rng, gz):
    data = idx_bytes(rng.integers(0, 256, (4, 5, 5)))
    with pytest.raises(ValueError, match=r"truncated data, header says shape \(4, 5, 5\) "
                                         r"\(100 bytes\) but only 99"):
        load_idx(write(tmp_path / "f.idx", data[:-1], gz))
    with pytest.raises(ValueError, match="truncated header"):
        load_idx(write(tmp_path / "f.idx", data[:10], gz))
    with pytest.raises(ValueError, match="truncated"):
        load_idx(write(tmp_path / "f.idx", data[:3], gz))


def test_load_idx_truncated_gzip_stream(tmp_path, rng):
    packed = gzip.compress(idx_bytes(rng.integers(0, 256, (50, 28, 28))))
    path = tmp_path / "f.idx.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        load_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_size_mismatch(tmp_path, rng, gz):
    data = idx_bytes(rng.integers(0, 256, (3, 4)))
    with pytest.raises(ValueError, match="size mismatch.*12 bytes.*13 bytes follow"):
        load_idx(write(tmp_path / "f.idx", data + b"\x00", gz))


def test_load_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_idx(tmp_path / "nope")


def fake_mnist(directory, rng, n_train=12, n_test=5, gz=True, labels_train=None):
    suffix = ".gz" if gz else ""
    sets = {"train": n_train, "t10k": n_test}
    for stem, n in sets.items():
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        if stem == "train" and labels_train is not None:
            labels = labels_train
        write(directory / f"{stem}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
        write(directory / f"{stem}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_on_small_files(tmp_path, rng, gz):
    fake_mnist(tmp_path, rng, gz=gz)
    x, y, xt, yt = load_mnist(tmp_path)
    assert x.shape == (12, 784) and xt.shape == (5, 784)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    raw = load_idx(tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}")
    assert np.array_equal(x, raw.reshape(12, -1) / np.float32(255))


def test_load_mnist_errors(tmp_path, rng):
    fake_mnist(tmp_path, rng, labels_train=rng.integers(0, 10, 11))
    with pytest.raises(ValueError, match="12 images but labels of shape"):
        load_mnist(tmp_path)
    fake_mnist(tmp_path, rng, labels_train=np.full(12, 10))
    with pytest.raises(ValueError, match="not a digit"):
        load_mnist(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((12, 28, 27))), True)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        load_mnist(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"real MNIST data not found at {MNIST}")
def test_real_mnist_files():
    x, y, xt, yt = load_mnist(MNIST)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(yt, minlength=10).tolist() == TEST_COUNTS
    assert x.min() == 0 and x.max() == 1 and 0.1 < x.mean() < 0.15
    raw = gzip.decompress((MNIST / "train-images-idx3-ubyte.gz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == TRAIN_IMAGES_SHA256
    assert np.array_equal(np.frombuffer(raw, np.uint8, offset=16) / np.float32(255),
                          x.ravel())


def test_digits_split_is_stratified_and_reproducible():
    x, y, xt, yt = load_digits_split(test_size=0.25, seed=0)
    assert x.shape == (1347, 64) and xt.shape == (450, 64)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert x.min() == 0 and x.max() == 1
    total = np.bincount(y, minlength=10) + np.bincount(yt, minlength=10)
    assert np.array_equal(np.bincount(yt, minlength=10), np.round(0.25 * total))
    # disjoint and covering: every image lands in exactly one set
    from sklearn.datasets import load_digits

    ref = (load_digits().data / 16).astype(np.float32)
    assert sorted(r.tobytes() for r in np.concatenate([x, xt])) == \
        sorted(r.tobytes() for r in ref)
    again = load_digits_split(test_size=0.25, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((x, y, xt, yt), again))
    assert not np.array_equal(yt, load_digits_split(test_size=0.25, seed=1)[3]) or \
        not np.array_equal(xt, load_digits_split(test_size=0.25, seed=1)[2])
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="test_size"):
            load_digits_split(test_size=bad)
