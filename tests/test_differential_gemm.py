"""Differential tests of batched_gemm and matmul against NumPy in float64.

Random problems (hypothesis): batch shapes of 0 to 3 dimensions that broadcast (each
operand drops leading dimensions or has 1 where the other has n), dimensions of 0 and 1,
odd and prime M, N, K (K = 0 included), trans_a/trans_b, alpha/beta with and without an
accumulator ``c`` (broadcast to the result, possibly NaN when beta == 0, which must not be
read), an ``out`` array (possibly ``c`` itself), each operand in C order, Fortran order
(every matrix transposed in memory), a strided view or a negative-stride view; every
dtype/compute combination of the precision table in ``blasfast.gemm``:

=========  ========  =======================================
a, b       compute   result
=========  ========  =======================================
float64    float64   float64
float32    float32   float32
float32    tf32      float32
float16    float32   float32, or float16 via ``out``/``c``
bfloat16   float32   float32, or bfloat16 via ``out``/``c``
=========  ========  =======================================

(that is batched_gemm's table; matmul follows numpy.matmul: float16 and bfloat16 inputs
give their own dtype, or float32 via ``out``).

Run on NumPy (the CPU path) and on the CUDA emulator (fewer, smaller problems).

Bound (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.5; ``gamma_n = n u /
(1 - n u)``): with ``u`` the unit roundoff of the accumulation (2**-53 float64, 2**-24
float32 -- also for float16/bfloat16 inputs, whose products are exact in float32), every
element satisfies ``|D - D_ref| <= gamma_{K+2} (|alpha| |op(A)| |op(B)| + |beta| |C|)``;
the Frobenius norm of the error is then at most ``gamma_{K+2}`` times the norm of that
majorant. TF32 rounds each operand to 10 mantissa bits first (relative ``r = 2**-11``),
which adds ``(2 r + r**2) |alpha| |op(A)| |op(B)|``. A 16-bit result is rounded once at the
end: ``+ u_out ||D_ref||`` (2**-11 float16, 2**-8 bfloat16). The inputs are generated in
their own dtype, so the float64 reference sees exactly the operands the GEMM sees.

Each example also checks the result's kind, dtype and shape, that it is ``out`` when one
is given, and that no input was modified.
"""

import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import blasfast as bf
from conftest import is_emulator, to_numpy
from differential import examples, gamma, place

bfloat16 = bf._dtypes.bfloat16
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
#: (input dtype, compute, unit roundoff of the accumulation, operand rounding)
PRECISIONS = [(F64, "float64", 2.0**-53, 0.0), (F32, "float32", 2.0**-24, 0.0),
              (F32, "tf32", 2.0**-24, 2.0**-11), (F16, "float32", 2.0**-24, 0.0),
              (bfloat16, "float32", 2.0**-24, 0.0)]
OUT_UNIT = {F16: 2.0**-11, bfloat16: 2.0**-8}
LAYOUTS = ["C", "F", "strided", "negative"]
SIZES = [0, 1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 33, 47]
# the emulator's sizes: fewer, but above 32 too (the tiled and tensor-core kernels)
SMALL_SIZES = [0, 1, 2, 3, 5, 7, 13, 17, 33, 47, 65]
BATCH_DIMS = [0, 1, 2, 3, 5]

#: examples run per (op, precision, array module); printed at the end of each test.
COUNTS = collections.Counter()


def _data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _op(x, t):
    return np.swapaxes(x, -1, -2) if t else x


def _check(d, ref, major, u, r_op, out_dtype, what):
    d64 = to_numpy(d).astype(np.float64)
    assert d64.shape == ref.shape
    assert np.all(np.isfinite(d64)), f"{what}: non-finite entries"
    k = major[1]
    bound = (gamma(k + 2, u) + 2 * r_op + r_op**2) * np.linalg.norm(major[0].ravel())
    bound += OUT_UNIT.get(out_dtype, 0.0) * np.linalg.norm(ref.ravel())
    err = np.linalg.norm((d64 - ref).ravel())
    assert err <= bound, f"{what}: error {err:.3e} > bound {bound:.3e}"


def _unchanged(named):
    for name, (arr, copy) in named.items():
        got = to_numpy(arr)
        assert np.array_equal(got, copy, equal_nan=True), f"{name} was modified"


# -- batched_gemm --------------------------------------------------------------------------


@st.composite
def batch_shapes(draw, nbatch):
    """(result batch, a's batch, b's batch): each operand drops some leading dimensions and
    puts 1 where the other keeps the size (numpy.matmul broadcasting)."""
    full = tuple(draw(st.sampled_from(BATCH_DIMS)) for _ in range(nbatch))

    def operand():
        keep = draw(st.integers(0, nbatch))
        return tuple(d if draw(st.booleans()) else 1 for d in full[nbatch - keep:])

    a, b = operand(), operand()
    return tuple(np.broadcast_shapes(a, b)), a, b


@st.composite
def gemm_problems(draw, small, prec):
    sizes = SMALL_SIZES if small else SIZES
    batch, ba, bb = draw(batch_shapes(draw(st.integers(0, 2 if small else 3))))
    m, n, k = (draw(st.sampled_from(sizes)) for _ in range(3))
    half = prec[0] in (F16, bfloat16)
    out_dtype = draw(st.sampled_from([F32, prec[0]])) if half else prec[0]
    return dict(
        batch=batch, ba=ba, bb=bb, m=m, n=n, k=k, prec=prec, out_dtype=out_dtype,
        trans_a=draw(st.booleans()), trans_b=draw(st.booleans()),
        alpha=draw(st.sampled_from([1.0, -1.0, 0.0, 0.5, 2.5, -3.25])),
        beta=draw(st.sampled_from([0.0, 1.0, -0.5, 2.0])),
        c=draw(st.sampled_from([None, "full", "row", "matrix"])),
        nan_c=draw(st.booleans()),
        out=draw(st.sampled_from([None, "fresh", "c"])),
        pass_compute=draw(st.booleans()),
        layouts=[draw(st.sampled_from(LAYOUTS)) for _ in range(4)],
        seed=draw(st.integers(0, 2**32 - 1)))


def _run_gemm(xp, p):
    rng = np.random.default_rng(p["seed"])
    dtype, compute, u, r_op = p["prec"]
    m, n, k, ta, tb = p["m"], p["n"], p["k"], p["trans_a"], p["trans_b"]
    shape = p["batch"] + (m, n)
    ha = _data(rng, p["ba"] + ((k, m) if ta else (m, k)), dtype)
    hb = _data(rng, p["bb"] + ((n, k) if tb else (k, n)), dtype)
    a, b = place(xp, ha, p["layouts"][0], rng), place(xp, hb, p["layouts"][1], rng)
    alpha, beta, out_dtype = p["alpha"], p["beta"], p["out_dtype"]
    hc = c = None
    if p["c"] is not None:
        cshape = {"full": shape, "row": (1, n), "matrix": (m, n)}[p["c"]]
        hc = _data(rng, cshape, out_dtype)
        if beta == 0 and p["nan_c"] and hc.size:
            hc[...] = np.nan         # beta == 0: c must not be read (BLAS)
        c = place(xp, hc, p["layouts"][2], rng)
    kw = dict(alpha=alpha, beta=beta, trans_a=ta, trans_b=tb)
    if p["pass_compute"] or compute == "tf32":
        kw["compute"] = compute
    out = None
    if p["out"] == "c" and p["c"] == "full":
        out = c                      # in-place update, as in BLAS
    elif p["out"] is not None or (out_dtype != F32 and dtype in (F16, bfloat16) and c is None):
        out = xp.asarray(np.full(shape, np.nan, out_dtype))   # poisoned
    copies = {"a": (a, ha), "b": (b, hb)}
    if c is not None and out is not c:
        copies["c"] = (c, hc.copy())
    hc = None if hc is None else hc.copy()   # c's values before an in-place update
    d = bf.batched_gemm(a, b, c, out=out, **kw)
    assert type(d) is type(a)
    assert d.dtype == out_dtype, f"dtype {d.dtype}, expected {out_dtype}"
    assert tuple(d.shape) == shape
    if out is not None:
        assert d is out
    A, B = _op(ha.astype(np.float64), ta), _op(hb.astype(np.float64), tb)
    ref = alpha * np.matmul(A, B) if k else np.zeros(shape)
    major = abs(alpha) * np.matmul(np.abs(A), np.abs(B)) if k else np.zeros(shape)
    ref, major = np.broadcast_to(ref, shape), np.broadcast_to(major, shape)
    if c is not None and beta != 0:
        ref = ref + beta * hc.astype(np.float64)
        major = major + abs(beta) * np.abs(hc.astype(np.float64))
    _check(d, ref, (major, k), u, r_op, out_dtype,
           f"batched_gemm {dtype.name}/{compute}->{out_dtype.name} {p}")
    _unchanged(copies)
    COUNTS["batched_gemm", f"{dtype.name}/{compute}", xp.__name__] += 1


def _report(op):
    rows = sorted((key, v) for key, v in COUNTS.items() if key[0] == op)
    print("\n" + "; ".join(f"{o}[{pr}, {mod}]: {v}" for (o, pr, mod), v in rows))


@pytest.mark.parametrize("prec", PRECISIONS, ids=lambda p: f"{p[0].name}-{p[1]}")
def test_batched_gemm_matches_float64(xp, prec):
    small = is_emulator(xp)

    @settings(max_examples=examples(xp))
    @given(gemm_problems(small, prec))
    def run(p):
        _run_gemm(xp, p)

    run()
    _report("batched_gemm")


@pytest.mark.parametrize("prec", PRECISIONS, ids=lambda p: f"{p[0].name}-{p[1]}")
def test_batched_gemm_every_precision_and_layout(xp, prec):
    """A fixed sweep so that every (precision, layout, transposition) runs whatever
    hypothesis draws: broadcast batch, prime sizes, alpha/beta with c."""
    dtype = prec[0]
    half = dtype in (F16, bfloat16)
    for i, layout in enumerate(LAYOUTS):
        for out_dtype in ([F32, dtype] if half else [dtype]):
            _run_gemm(xp, dict(
                batch=(3, 2), ba=(3, 1), bb=(2,), m=7, n=5, k=13, prec=prec,
                out_dtype=out_dtype, trans_a=bool(i & 1), trans_b=bool(i & 2), alpha=-1.5,
                beta=0.5, c="full", nan_c=False, out=None, pass_compute=True,
                layouts=[layout] * 4, seed=i))


# -- matmul --------------------------------------------------------------------------------


@st.composite
def matmul_problems(draw, small, prec):
    sizes = SMALL_SIZES if small else SIZES
    batch, ba, bb = draw(batch_shapes(draw(st.integers(0, 2 if small else 3))))
    m, n, k = (draw(st.sampled_from(sizes)) for _ in range(3))
    a_1d, b_1d = draw(st.booleans()), draw(st.booleans())
    a_shape = (k,) if a_1d else ba + (m, k)
    b_shape = (k,) if b_1d else bb + (k, n)
    half = prec[0] in (F16, bfloat16)
    # numpy.matmul's result dtype is the inputs'; a float32 out (FP32 unrounded) for 16-bit
    out_dtype = draw(st.sampled_from([F32, prec[0]])) if half else prec[0]
    return dict(a_shape=a_shape, b_shape=b_shape, prec=prec, out_dtype=out_dtype,
                out=draw(st.booleans()) or out_dtype != prec[0],
                pass_compute=draw(st.booleans()),
                layouts=[draw(st.sampled_from(LAYOUTS)) for _ in range(2)],
                seed=draw(st.integers(0, 2**32 - 1)))


def _run_matmul(xp, p):
    rng = np.random.default_rng(p["seed"])
    dtype, compute, u, r_op = p["prec"]
    ha, hb = _data(rng, p["a_shape"], dtype), _data(rng, p["b_shape"], dtype)
    a, b = place(xp, ha, p["layouts"][0], rng), place(xp, hb, p["layouts"][1], rng)
    A, B = ha.astype(np.float64), hb.astype(np.float64)
    ref = np.matmul(A, B)
    major = np.matmul(np.abs(A), np.abs(B))
    k = ha.shape[-1]
    kw = {"compute": compute} if p["pass_compute"] or compute == "tf32" else {}
    out = xp.asarray(np.full(ref.shape, np.nan, p["out_dtype"])) if p["out"] else None
    d = bf.matmul(a, b, out=out, **kw)
    if xp is np and len(p["a_shape"]) == len(p["b_shape"]) == 1 and out is None:
        assert type(d) is dtype.type    # vector @ vector: a NumPy scalar, as numpy.matmul
    else:
        assert type(d) is type(a)
    assert d.dtype == p["out_dtype"] and tuple(d.shape) == ref.shape, (d.dtype, d.shape)
    if out is not None:
        assert d is out
    _check(d, np.asarray(ref), (np.asarray(major), k), u, r_op, p["out_dtype"],
           f"matmul {dtype.name}/{compute} {p}")
    _unchanged({"a": (a, ha), "b": (b, hb)})
    COUNTS["matmul", f"{dtype.name}/{compute}", xp.__name__] += 1


@pytest.mark.parametrize("prec", PRECISIONS, ids=lambda p: f"{p[0].name}-{p[1]}")
def test_matmul_matches_float64(xp, prec):
    small = is_emulator(xp)

    @settings(max_examples=examples(xp))
    @given(matmul_problems(small, prec))
    def run(p):
        _run_matmul(xp, p)

    run()
    _report("matmul")
