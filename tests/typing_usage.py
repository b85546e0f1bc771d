"""A small user program over the public API, as the README's tour calls it, for mypy.

Not a test module (pytest collects ``test_*.py`` only): ``tests/test_typing.py`` runs mypy
on it (it must report nothing) and runs it (it must work: CPU path, small sizes, a few
seconds). Everything is inside annotated functions, because mypy does not check the body of
an unannotated one. By hand, from the repository root::

    python -m mypy --follow-imports=silent --ignore-missing-imports tests/typing_usage.py
"""

import numpy as np
import numpy.typing as npt

import blasfast as bf
from blasfast import nn


def gemm(rng: np.random.Generator) -> float:
    a = rng.standard_normal((100, 8, 8)).astype(np.float32)
    b = rng.standard_normal((8, 16)).astype(np.float32)
    d = bf.batched_gemm(a, b)                                   # (100, 8, 16)
    d = bf.batched_gemm(a, b, d, alpha=2.0, beta=-1.0, out=d)   # D = 2 A B - D, in place
    x = bf.matmul(a, rng.standard_normal(8).astype(np.float32))
    h = a.astype(np.float16)
    d16 = bf.batched_gemm(h, h, trans_b=True)
    t = bf.batched_gemm(a, a, trans_b=True, compute="tf32")
    ds = bf.gemm_vbatched([a[0], a[1, :3]], [b, b[:, :5]])
    with bf.BatchedGemm(a, b) as plan:
        for _ in range(3):
            d = plan.execute(a=rng.standard_normal(a.shape).astype(np.float32))
    # NumPy scalars where Python ones are shown (the checks accept both)
    e = bf.batched_gemm(a, b, d, alpha=np.float32(2.0), beta=np.float64(-1.0))
    e = bf.gemm_vbatched([a[0]], [b], alpha=np.float32(0.5), beta=np.int64(0))[0]
    with bf.BatchedGemm(a, b, alpha=np.float32(2.0)) as plan2:
        e = plan2.execute(a=a)
    assert d.shape == (100, 8, 16) and x.shape == (100, 8) and len(ds) == 2
    return float(d.sum() + d16.sum() + t.sum() + e.sum())


def conv(rng: np.random.Generator) -> tuple[int, ...]:
    img = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)     # NCHW
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)         # KCRS
    y = bf.conv2d(img, w, padding="same", algorithm="winograd")
    z = bf.conv2d(img, w, stride=(1, 1), padding=1)
    # lists where pairs are shown, NumPy integers where ints are (the checks accept them)
    u = bf.conv2d(img, w, stride=[1, 1], padding=[1, 1], dilation=[1, 1])
    v = bf.conv2d(img, w, stride=np.int64(1), padding=[(1, 1), (1, 1)], dilation=np.int64(1))
    v = bf.conv2d(img, w, padding=((np.int64(1), 1), [1, 1]))
    g = bf.conv2d_dgrad(y, w, [2, 3, np.int64(16), 16], stride=[1, 1], padding=np.int64(1))
    k = bf.conv2d_wgrad(img, y, (4, 3, 3, np.int64(3)), padding=[1, 1])
    assert float(np.abs(y - z).max()) < 1e-3 and u.shape == v.shape == y.shape
    assert g.shape == img.shape and k.shape == w.shape
    return tuple(y.shape)


def fft(rng: np.random.Generator) -> float:
    x = rng.standard_normal(256).astype(np.float32)
    img = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    spec = bf.fft.fft(x)
    half = bf.fft.rfft(x, n=128, norm="ortho", precision="split16")
    back = bf.fft.irfft(half, n=128, norm="ortho")
    two = bf.fft.fft2(img[0, 0])
    nd = bf.fft.fftn(img, s=[16, 16], axes=(2, 3), precision="fp32")
    s = bf.fft.fftconvolve(img[0, 0], w := np.ones((3, 3), np.float32) / 9, mode="same")
    assert spec.shape == (256,) and half.shape == (65,) and back.shape == (128,)
    n64 = np.int64(128)
    one = bf.fft.rfft(x, n=n64, axis=np.int64(0))
    back2 = bf.fft.irfft(one, n=n64, axis=np.int64(-1))
    nd2 = bf.fft.fftn(img, s=(np.int64(16), 16), axes=[np.int64(2), np.int64(3)])
    c2 = bf.fft.fftconvolve(x, np.ones(3, np.float32), mode="same", axes=np.int64(0))
    assert one.shape == (65,) and back2.shape == (128,) and nd2.shape == nd.shape
    assert c2.shape == (256,)
    assert two.shape == (32, 32) and nd.shape == (2, 3, 16, 16) and s.shape == (32, 32)
    return float(np.abs(spec).sum() + w.sum())


def solvers(rng: np.random.Generator) -> str:
    a = rng.standard_normal((64, 64))
    rhs = rng.standard_normal(64)
    x, info = bf.solve(a, rhs, factor="float16", refine="auto", return_info=True)
    assert info.status in ("converged", "fell back") and bool(info.ok)
    steps: int = int(info.iterations)
    err = float(info.backward_error)
    y = bf.solve(a, rhs)                                   # x alone
    assert x.shape == y.shape == (64,) and steps >= 0 and err <= float(info.threshold)

    stack: npt.NDArray[np.floating] = np.stack(
        [bf.solvers.generate_matrix(16, "geometric", 1e3, rng=i) for i in range(4)])
    with bf.solvers.errstate(linalg="warn"):
        xs, infos = bf.solvers.solve(stack, np.ones((4, 16)), factor=np.float32,
                                     refine="gmres", tol=1e-12, max_iter=20,
                                     return_info=True)
    assert xs.shape == (4, 16) and infos.status.shape == (4,)
    print(infos.summary())
    x2 = bf.solve(a, rhs, tol=np.float64(1e-10), max_iter=np.int64(10))
    m16 = bf.solvers.generate_matrix(np.int64(16), cond=np.float32(100.0))
    assert x2.shape == (64,) and m16.shape == (16, 16)
    old = bf.solvers.seterr(linalg="raise")
    bf.solvers.seterr(**old)

    lu, piv = factors = bf.lu_factor(a, dtype="float32", scale=False)
    z = bf.lu_solve(factors, rhs)
    z2 = bf.lu_solve((lu, piv), rhs, trans="N", check_finite=False)
    assert factors.dtype == "float32" and z.shape == z2.shape == (64,)
    return str(info.status)


def train(rng: np.random.Generator) -> float:
    x = rng.standard_normal((64, 16)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    model = nn.Sequential([nn.Dense(16, 32, rng=0), nn.ReLU(), nn.Dense(32, 4, rng=1)])
    model.fit(x, y, epochs=1, batch_size=16, progress=False,
              optimizer=nn.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3))
    loss, accuracy = model.evaluate(x, y)
    cnn = nn.Sequential([nn.Reshape((1, 4, np.int64(4))), nn.Conv2D(1, 2, [3, 3], stride=[1, 1], padding=[1, 1],
                                   dilation=np.int64(1), rng=0),
                         nn.MaxPool2D([2, 2], stride=np.int64(2)), nn.Flatten(),
                         nn.Dense(np.int64(8), np.int64(4), rng=1)])
    cnn.fit(x, y, epochs=np.int64(1), batch_size=np.int64(16),
            progress=False, optimizer=nn.Adam(np.float32(1e-3), eps=np.float64(1e-8)))
    sched = nn.StepLR(np.float32(0.1), np.int64(10), gamma=np.float64(0.5))
    model.fit(x, y, epochs=1, batch_size=16, progress=False, optimizer=nn.SGD(sched))
    return float(loss) + float(accuracy)


def main() -> None:
    rng = np.random.default_rng(0)
    print(gemm(rng), conv(rng), fft(rng), solvers(rng), train(rng))
    print(bf.info()["blasfast"], bf.__version__)


if __name__ == "__main__":
    main()
