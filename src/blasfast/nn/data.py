"""Real datasets for the examples and tests: MNIST (IDX files) and scikit-learn's digits.

Nothing is downloaded: MNIST is read from a directory the caller names, and the digits
come bundled with scikit-learn.
"""

import gzip
import os
import zlib

import numpy as np
import numpy.typing as npt

from .._typing import Int, Real
from . import _args

__all__ = ["load_idx", "load_mnist", "load_digits_split"]

_GZIP_MAGIC = b"\x1f\x8b"
#: What the loaders return: ``(x_train, y_train, x_test, y_test)``.
Split = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float32],
              npt.NDArray[np.int64]]

_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def load_idx(path: str | os.PathLike[str]) -> npt.NDArray[np.uint8]:
    """Read an IDX file of unsigned bytes (the MNIST format), gzip-compressed or raw.

    Layout: a 4-byte magic ``0x00 0x00 0x08 D`` (``0x08`` = uint8 data, ``D`` = number of
    dimensions; ``0x00000803`` for MNIST images, ``0x00000801`` for labels), then ``D``
    big-endian uint32 sizes, then the ``prod(sizes)`` data bytes in C order. Compression
    is detected from the content (the gzip magic ``1f 8b``), not the file name.

    Parameters
    ----------
    path : str or os.PathLike
        The file, ``.gz`` or raw.

    Returns
    -------
    numpy.ndarray
        uint8, with the shape read from the header, e.g. (60000, 28, 28).

    Raises
    ------
    TypeError
        If ``path`` is not a str or os.PathLike.
    FileNotFoundError
        If ``path`` does not exist or is a directory.
    ValueError
        On an empty ``path``, a bad magic number (not IDX, or a data type other than
        uint8), a truncated header or body, trailing bytes after the data, or a corrupt
        gzip stream. The message names the file.

    References
    ----------
    Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits",
    http://yann.lecun.com/exdb/mnist/ (file format section).
    """
    path = _args.path("load_idx", "path", path)
    if not os.path.isfile(path):
        what = "is a directory, not a file" if os.path.isdir(path) else "does not exist"
        raise FileNotFoundError(f"load_idx: path {path!r} {what}")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise ValueError(f"load_idx: {path}: corrupt or truncated gzip data ({e})") from None
    if len(raw) < 4:
        raise ValueError(f"load_idx: {path}: truncated, {len(raw)} bytes is shorter than "
                         "the 4-byte magic number")
    magic = int.from_bytes(raw[:4], "big")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] == 0:
        raise ValueError(f"load_idx: {path}: bad magic number 0x{magic:08X}; expected "
                         "0x000008DD (uint8 IDX with DD dimensions), e.g. 0x00000803 for "
                         "images or 0x00000801 for labels")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"load_idx: {path}: truncated header, {len(raw)} bytes for "
                         f"{ndim} dimensions needs {header}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    size = int(np.prod(shape, dtype=np.int64))
    body = len(raw) - header
    if body < size:
        raise ValueError(f"load_idx: {path}: truncated data, header says shape {shape} "
                         f"({size} bytes) but only {body} bytes follow")
    if body > size:
        raise ValueError(f"load_idx: {path}: size mismatch, header says shape {shape} "
                         f"({size} bytes) but {body} bytes follow")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _find(directory, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError(f"load_mnist: neither {stem}.gz nor {stem} found in {directory}")


def load_mnist(directory: str | os.PathLike[str]) -> Split:
    """Load the four MNIST IDX files from ``directory`` as flattened, scaled arrays.

    The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each with or without a
    ``.gz`` suffix (the compressed one is preferred when both exist).

    Parameters
    ----------
    directory : str or os.PathLike
        The folder holding the four files.

    Returns
    -------
    x_train : (60000, 784) float32 array
        The training images, in [0, 1] (pixel / 255).
    y_train : (60000,) int64 array
        Their labels, 0..9.
    x_test : (10000, 784) float32 array
        The test images, in [0, 1].
    y_test : (10000,) int64 array
        Their labels, 0..9.

    Raises
    ------
    TypeError
        If ``directory`` is not a str or os.PathLike.
    FileNotFoundError
        If ``directory`` or a file in it is missing.
    ValueError
        If a file is not valid IDX (see :func:`load_idx`), images are not (N, 28, 28),
        labels are not (N,), image and label counts differ, or a label exceeds 9.

    References
    ----------
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
    document recognition", Proc. IEEE 86(11), 1998.
    """
    directory = _args.path("load_mnist", "directory", directory)
    if not os.path.isdir(directory):
        what = "is a file, not a directory" if os.path.exists(directory) else \
            "does not exist"
        raise FileNotFoundError(f"load_mnist: directory {directory!r} {what} (it should "
                                f"hold {', '.join(_MNIST_FILES)}, each raw or .gz)")
    arrays = [load_idx(_find(directory, stem)) for stem in _MNIST_FILES]
    out = []
    for i in (0, 2):
        images, labels = arrays[i], arrays[i + 1]
        names = f"{_MNIST_FILES[i]} / {_MNIST_FILES[i + 1]}"
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"load_mnist: {names}: images must be (N, 28, 28), got "
                             f"{images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"load_mnist: {names}: {images.shape[0]} images but labels "
                             f"of shape {labels.shape}")
        if labels.size and labels.max() > 9:
            raise ValueError(f"load_mnist: {names}: label {labels.max()} is not a digit")
        out += [images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255),
                labels.astype(np.int64)]
    return tuple(out)


def load_digits_split(test_size: Real = 0.25, seed: Int | np.random.Generator = 0) -> Split:
    """Load scikit-learn's 8x8 digits, scaled to [0, 1], as stratified train/test sets.

    The 1797 images (:func:`sklearn.datasets.load_digits`, the UCI optical digits test
    set, bundled with scikit-learn, no download) are split per class: for each digit
    ``c`` with ``n_c`` images, ``round(test_size * n_c)`` of them, chosen by a
    ``numpy.random.default_rng(seed)`` permutation, go to the test set and the rest to
    the training set. Both sets keep the original order of the images. The same seed
    always gives the same split.

    Parameters
    ----------
    test_size : float in (0, 1)
        Fraction of each class held out. Default 0.25 (450 test images).
    seed : int or numpy.random.Generator
        Seeds the per-class permutation. Default 0.

    Returns
    -------
    x_train : (N_train, 64) float32 array
        The training images, in [0, 1] (pixel / 16).
    y_train : (N_train,) int64 array
        Their labels, 0..9.
    x_test : (N_test, 64) float32 array
        The test images, in [0, 1].
    y_test : (N_test,) int64 array
        Their labels, 0..9.

    Raises
    ------
    TypeError
        If ``test_size`` is not a real number, or ``seed`` is not a seed or Generator.
    ValueError
        If ``test_size`` is not strictly between 0 and 1, or ``seed`` is negative.
    ImportError
        If scikit-learn is not installed (``pip install blasfast[examples]``).

    References
    ----------
    E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine
    Learning Repository, 1998.
    """
    test_size = _args.real("load_digits_split", "test_size", test_size, lo=0, hi=1,
                           lo_open=True, hi_open=True)
    rng = _args.generator("load_digits_split", "seed", seed)
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test[rng.permutation(members)[:round(test_size * len(members))]] = True
    return x[~test], y[~test], x[test], y[test]
