"""The caller's kind comes back for PyTorch tensors (issue #14 §1): a tensor in, a tensor out.

On the CPU path a tensor's memory is viewed as a NumPy array (no copy), so every op's
tensor result must equal, bit for bit, its result on the NumPy view of the same memory:
the same code ran on the same numbers. That is the tolerance, and it is exact. The CUDA
tests need PyTorch with a CUDA device and CuPy; they skip with that reason otherwise.
"""

import inspect
import typing

import numpy as np
import pytest

import blasfast as bf
from blasfast._dtypes import bfloat16

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed (CI installs its CPU build, torch==2.13.0)")

RNG = np.random.default_rng()


def _np(shape, dtype=np.float64):
    if np.dtype(dtype).kind == "c":
        return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def _spd(n):
    a = RNG.standard_normal((n, n))
    return a + n * np.eye(n)


def _tensors(args):
    return [torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a for a in args]


# op, positional NumPy arguments, keyword arguments: every public op that takes arrays.
CASES = {
    "batched_gemm": (bf.batched_gemm, lambda: [_np((3, 4, 5), np.float32),
                                               _np((3, 5, 2), np.float32)], {}),
    "batched_gemm_c": (bf.batched_gemm, lambda: [_np((3, 4, 5)), _np((3, 5, 2)),
                                                 _np((3, 4, 2))], {"beta": 0.5}),
    "matmul": (bf.matmul, lambda: [_np((2, 3, 4), np.float32), _np((4, 6), np.float32)], {}),
    "matmul_int": (bf.matmul, lambda: [RNG.integers(-9, 9, (3, 4)),
                                       RNG.integers(-9, 9, (4, 2))], {}),
    "conv2d": (bf.conv2d, lambda: [_np((2, 3, 8, 8), np.float32),
                                   _np((4, 3, 3, 3), np.float32), _np(4, np.float32)],
               {"padding": 1}),
    "conv2d_dgrad": (bf.conv2d_dgrad, lambda: [_np((2, 4, 8, 8), np.float32),
                                               _np((4, 3, 3, 3), np.float32),
                                               (2, 3, 8, 8)], {"padding": 1}),
    "conv2d_wgrad": (bf.conv2d_wgrad, lambda: [_np((2, 3, 8, 8), np.float32),
                                               _np((2, 4, 8, 8), np.float32),
                                               (4, 3, 3, 3)], {"padding": 1}),
    "winograd_filter_transform": (bf.winograd_filter_transform,
                                  lambda: [_np((4, 3, 3, 3), np.float32)], {}),
    "fftconvolve": (bf.fft.fftconvolve, lambda: [_np(40, np.float32), _np(9, np.float32)],
                    {"mode": "same"}),
    "solve": (bf.solve, lambda: [_spd(6), _np(6)], {}),
    "solve_stack": (bf.solve, lambda: [np.stack([_spd(5) for _ in range(3)]), _np((3, 5, 2))],
                    {"factor": "float64"}),
}
for _name in ("fft", "ifft", "fftn", "ifftn", "fft2", "ifft2"):
    CASES[_name] = (getattr(bf.fft, _name), lambda: [_np((6, 16), np.complex64)], {})
for _name in ("rfft", "rfftn", "rfft2"):
    CASES[_name] = (getattr(bf.fft, _name), lambda: [_np((6, 16), np.float32)], {})
for _name in ("irfft", "irfftn", "irfft2"):
    CASES[_name] = (getattr(bf.fft, _name), lambda: [_np((6, 9), np.complex64)], {})


def _public_array_ops():
    """Every public function of blasfast, blasfast.fft and blasfast.solvers with an array
    parameter (read from the annotations: ``ArrayLike``)."""
    from blasfast._typing import ArrayLike

    ops = {}
    for mod in (bf, bf.fft, bf.solvers):
        for name in dir(mod):
            f = getattr(mod, name)
            if name.startswith("_") or not inspect.isfunction(f):
                continue
            hints = typing.get_type_hints(f)
            if any(h == ArrayLike or ArrayLike in typing.get_args(h) for h in hints.values()):
                ops[f.__name__] = f
    return ops


def test_every_public_array_op_gives_the_callers_kind_and_is_covered():
    """A new public op that takes arrays must be wrapped and added to CASES (or to the
    records tests below)."""
    ops = _public_array_ops()
    assert len(ops) >= 22  # 12 transforms, fftconvolve, 3 GEMMs, 4 convs, 3 solvers
    covered = {f for f, _, _ in CASES.values()} | {bf.gemm_vbatched, bf.lu_factor,
                                                   bf.lu_solve}
    assert set(ops.values()) <= covered, sorted(set(ops) - {f.__name__ for f in covered})
    for f in ops.values():  # wrapped, keeping the signature that docs and tables read
        assert hasattr(f, "__wrapped__"), f.__name__
        assert "stream" in inspect.signature(f).parameters, f.__name__


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_tensor_in_gives_a_tensor_out_equal_to_the_numpy_result(case):
    f, make, kwargs = CASES[case]
    args = make()
    want = f(*args, **kwargs)
    tensors = _tensors(args)
    before = [t.clone() if isinstance(t, torch.Tensor) else t for t in tensors]
    got = f(*tensors, **kwargs)
    assert isinstance(got, torch.Tensor), type(got)
    assert got.device.type == "cpu"
    want = np.asarray(want)
    assert got.numpy().dtype == want.dtype and tuple(got.shape) == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    for t, b in zip(tensors, before):  # inputs are never modified
        if isinstance(t, torch.Tensor):
            assert torch.equal(t, b)


def test_the_input_tensors_memory_is_used_without_a_copy():
    """Zero-copy in: ``out`` given as a view of the tensor's storage is written there."""
    a = torch.randn(4, 3, 5, dtype=torch.float64)
    b = torch.randn(4, 5, 2, dtype=torch.float64)
    out = torch.empty(4, 3, 2, dtype=torch.float64)
    r = bf.batched_gemm(a, b, out=out)
    assert r is out
    np.testing.assert_allclose(out.numpy(), a.numpy() @ b.numpy(), rtol=1e-13, atol=1e-13)
    r = bf.matmul(a, b, out)  # out positional, as numpy.matmul allows
    assert r is out


def test_gemm_vbatched_lists_of_tensors_and_out_list():
    a = [torch.randn(2, 3), torch.randn(4, 5)]
    b = [torch.randn(3, 2), torch.randn(5, 1)]
    want = bf.gemm_vbatched([t.numpy() for t in a], [t.numpy() for t in b])
    got = bf.gemm_vbatched(a, b)
    assert type(got) is list and all(isinstance(t, torch.Tensor) for t in got)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w)
    out = [torch.empty(2, 2), torch.empty(4, 1)]
    got = bf.gemm_vbatched(a, b, out=out)
    assert all(g is o for g, o in zip(got, out))
    for g, w in zip(out, want):
        np.testing.assert_array_equal(g.numpy(), w)


def test_bfloat16_and_float16_tensors_keep_the_precision_table():
    """bfloat16 crosses as its bits; the result dtypes follow the NumPy call's."""
    a = torch.randn(3, 8, 16).to(torch.bfloat16)
    b = torch.randn(3, 16, 4).to(torch.bfloat16)
    an = a.view(torch.int16).numpy().view(bfloat16)
    bn = b.view(torch.int16).numpy().view(bfloat16)
    got = bf.batched_gemm(a, b)  # 16-bit in, float32 out (batched_gemm's table)
    assert got.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), bf.batched_gemm(an, bn))
    got = bf.matmul(a, b)  # numpy.matmul's rule: bfloat16 @ bfloat16 -> bfloat16
    assert got.dtype == torch.bfloat16
    np.testing.assert_array_equal(got.view(torch.int16).numpy(),
                                  bf.matmul(an, bn).view(np.int16))
    h = torch.randn(8, 8).half()
    got = bf.matmul(h, h)
    assert got.dtype == torch.float16
    np.testing.assert_array_equal(got.numpy(), bf.matmul(h.numpy(), h.numpy()))


def test_vector_dot_gives_a_zero_dim_tensor_as_torch_matmul_does():
    a, b = torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    got = bf.matmul(a, b)
    assert isinstance(got, torch.Tensor) and got.shape == torch.matmul(a, b).shape == ()
    assert abs(float(got) - float(np.dot(a.numpy(), b.numpy()))) <= 1e-13 * 7 * float(
        np.abs(a.numpy()) @ np.abs(b.numpy()))


def test_strided_and_transposed_tensors():
    a = torch.randn(6, 10, dtype=torch.float64)[:, ::2]  # non-contiguous
    b = torch.randn(4, 5, dtype=torch.float64).T  # transposed: (5, 4)
    got = bf.matmul(a, b)
    np.testing.assert_array_equal(got.numpy(), bf.matmul(a.numpy(), b.numpy()))


def test_conjugate_and_negative_bit_tensors_are_resolved():
    x = torch.randn(32, dtype=torch.complex128)
    xc = x.conj()  # a lazy conjugate: the conjugate bit is set
    assert xc.is_conj()
    got = bf.fft.fft(xc)
    np.testing.assert_array_equal(got.numpy(), bf.fft.fft(np.conj(x.numpy())))
    assert torch.equal(x, x.clone())  # the source is untouched
    y = torch._neg_view(torch.randn(4, 4, dtype=torch.float64))
    assert y.is_neg()
    got = bf.matmul(y, y)
    yn = y.resolve_neg().numpy()
    np.testing.assert_array_equal(got.numpy(), bf.matmul(yn, yn))


def test_a_tensor_that_requires_grad_is_refused_not_detached():
    a = torch.randn(3, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"matmul: a must not require grad.*a\.detach\(\)"):
        bf.matmul(a, torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"conv2d: w must not require grad"):
        bf.conv2d(torch.randn(1, 1, 4, 4), torch.randn(1, 1, 3, 3, requires_grad=True))


def test_a_tensor_on_another_device_is_refused():
    a = torch.empty(3, 3, device="meta")
    with pytest.raises(ValueError, match=r"matmul: a must be a CPU or CUDA tensor.*meta"):
        bf.matmul(a, a)


def test_numpy_arrays_beside_a_tensor_give_a_tensor():
    a = torch.randn(3, 4, dtype=torch.float64)
    b = _np((4, 2))
    got = bf.matmul(a, b)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_array_equal(got.numpy(), bf.matmul(a.numpy(), b))


def test_records_stay_records_and_lu_round_trips():
    a, b = _spd(6), _np((6, 2))
    x, info = bf.solve(torch.from_numpy(a), torch.from_numpy(b), return_info=True)
    assert isinstance(x, torch.Tensor) and isinstance(info, bf.solvers.SolveInfo)
    assert info.status == bf.solve(a, b, return_info=True)[1].status
    fac = bf.lu_factor(torch.from_numpy(a))
    assert isinstance(fac, bf.solvers.LUFactors)  # its arrays stay NumPy (documented)
    got = bf.lu_solve(fac, torch.from_numpy(b))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_array_equal(got.numpy(), bf.lu_solve(bf.lu_factor(a), b))


def test_a_stream_with_cpu_tensors_is_an_error():
    a = torch.randn(2, 2)
    with pytest.raises(ValueError, match=r"matmul: stream applies to device arrays only"):
        bf.matmul(a, a, stream=0)


# ---------------------------------------------------------------------------------------
# CUDA tensors: the H200 machine has PyTorch with CUDA; here they skip with the reason.
# ---------------------------------------------------------------------------------------

def _cuda_ready():
    if not torch.cuda.is_available():
        return "PyTorch finds no CUDA device"
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed"
    if not cupy.cuda.is_available():
        return "CuPy finds no CUDA device"
    return None


cuda = pytest.mark.skipif(_cuda_ready() is not None, reason=str(_cuda_ready()))


@cuda
@pytest.mark.gpu
def test_cuda_tensors_come_back_as_cuda_tensors_on_their_device():
    a = torch.randn(8, 32, 16, device="cuda", dtype=torch.float64)
    b = torch.randn(8, 16, 4, device="cuda", dtype=torch.float64)
    got = bf.batched_gemm(a, b)
    assert isinstance(got, torch.Tensor) and got.device == a.device
    want = a.cpu().numpy() @ b.cpu().numpy()
    err = np.linalg.norm(got.cpu().numpy() - want) / np.linalg.norm(want)
    assert err <= 16 * 2.0**-53 * 4  # K = 16 FP64 products, with a factor 4 margin
    h = torch.randn(64, 64, device="cuda").to(torch.bfloat16)
    assert bf.matmul(h, h).dtype == torch.bfloat16


@cuda
@pytest.mark.gpu
def test_cuda_tensors_run_on_torchs_current_stream_by_default():
    """On a side stream, our work is ordered after PyTorch's and before its next op."""
    s = torch.cuda.Stream()
    a = torch.randn(256, 256, device="cuda")
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        torch.cuda._sleep(10**8)  # about 0.1 s on s: work on another stream would run first
        a2 = a * 2  # queued on s behind the sleep; our matmul must wait for it
        got = bf.matmul(a2, a2)
        back = got.sum()  # PyTorch's next op on s reads our result
    s.synchronize()
    want = (2 * a.cpu().double()) @ (2 * a.cpu().double())
    assert abs(float(back) - float(want.sum())) <= 1e-3 * float(want.abs().sum())


@cuda
@pytest.mark.gpu
def test_a_torch_cuda_stream_is_accepted_as_stream():
    s = torch.cuda.Stream()
    a = torch.randn(64, 64, device="cuda", dtype=torch.float64)
    s.wait_stream(torch.cuda.current_stream())  # an explicit stream: ordering is ours
    got = bf.matmul(a, a, stream=s)
    s.synchronize()
    want = a.cpu().numpy() @ a.cpu().numpy()
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-12, atol=1e-12)


def test_a_plan_made_with_tensors_gives_tensors():
    a = torch.randn(5, 4, 3, dtype=torch.float64)
    b = torch.randn(5, 3, 2, dtype=torch.float64)
    with bf.BatchedGemm(a, b) as plan:
        got = plan.execute()
        assert isinstance(got, torch.Tensor)
        np.testing.assert_array_equal(got.numpy(), bf.batched_gemm(a.numpy(), b.numpy()))
        a2 = torch.randn(5, 4, 3, dtype=torch.float64)
        got = plan.execute(a=a2)  # a new operand of the planned kind, shape and strides
        np.testing.assert_array_equal(got.numpy(), bf.batched_gemm(a2.numpy(), b.numpy()))
        out = torch.empty(5, 4, 2, dtype=torch.float64)
        assert plan.execute(out=out) is out
        with pytest.raises(TypeError, match=r"BatchedGemm.execute: a must have the planned dtype"):
            plan.execute(a=torch.randn(5, 4, 3, dtype=torch.float32))
    out = torch.empty(5, 4, 2, dtype=torch.float64)
    with bf.BatchedGemm(a, b, out=out) as plan:
        assert plan.execute() is out  # the planned out, the caller's own tensor
        np.testing.assert_array_equal(out.numpy(), bf.batched_gemm(a.numpy(), b.numpy()))
        with pytest.warns(UserWarning, match="no CUDA graphs"):
            graph = plan.capture()
        assert graph.launch() is out


def test_an_out_tensor_with_a_lazy_conjugate_or_negation_is_refused_not_left_unwritten():
    """Resolving such an ``out`` would write a copy and hand back the untouched tensor."""
    a = torch.randn(1, 2, 2, dtype=torch.complex128)
    o = torch.zeros(1, 2, 2, dtype=torch.complex128).conj()
    with pytest.raises(ValueError, match=r"matmul: out must not have the conjugate "
                                         r"bit set.*out\.resolve_conj\(\)"):
        bf.matmul(a, a, out=o)  # complex goes to the library's matmul, into out
    neg = torch.zeros(2, 2, dtype=torch.complex128).conj().imag  # a negative-bit view
    assert neg.is_neg()
    x = torch.randn(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"matmul: out must not have the negative bit"):
        bf.matmul(x, x, out=neg)
    assert torch.equal(neg, torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"gemm_vbatched: out\[0\] must not have the "
                                         r"negative bit"):
        bf.gemm_vbatched([x], [x], out=[neg])


def test_a_plan_refuses_operands_it_could_only_copy():
    """A plan keeps its operands' memory; a lazy-negation tensor has none to keep."""
    neg = torch.randn(3, 2, 2, dtype=torch.complex128).conj().imag
    x = torch.randn(3, 2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"BatchedGemm: a must not have the negative bit set: "
                                         r"the plan keeps it"):
        bf.BatchedGemm(neg, x)
    with bf.BatchedGemm(x, x) as plan, pytest.raises(
            ValueError, match=r"BatchedGemm.execute: out must not have the negative bit"):
        plan.execute(out=torch.zeros(3, 2, 2, dtype=torch.complex128).conj().imag)


def test_tensors_on_two_devices_are_refused():
    a = torch.randn(2, 2)
    with pytest.raises(ValueError, match=r"matmul: all tensors must be on one device: got "
                                         r"tensors on 'cpu' and 'meta'"):
        bf.matmul(a, torch.empty(2, 2, device="meta"))


def test_input_tensors_are_viewed_not_copied(monkeypatch):
    """The arrays the op receives share the tensors' memory (zero-copy in)."""
    from blasfast.gemm import _batched

    seen = []
    inner = _batched._gemm

    def spy(op, a, b, *rest):
        seen.append((a, b))
        return inner(op, a, b, *rest)

    monkeypatch.setattr(_batched, "_gemm", spy)
    a = torch.randn(4, 3, 5, dtype=torch.float64)
    b = torch.randn(4, 5, 2, dtype=torch.float64)
    bf.batched_gemm(a, b[:, :, :1])  # a strided view of b too
    (an, bn), = seen
    assert np.shares_memory(an, a.numpy()) and np.shares_memory(bn, b.numpy())


def test_a_malformed_call_is_pythons_type_error_before_any_conversion():
    """Too many arguments or an unknown keyword: Python's TypeError, as without tensors,
    even when a tensor would also be refused (requires_grad)."""
    t = torch.randn(2, 2, requires_grad=True)
    with pytest.raises(TypeError, match=r"batched_gemm\(\) takes from 2 to 3 positional"):
        bf.batched_gemm(t, t, None, 1.0)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'alhpa'"):
        bf.batched_gemm(t, t, alhpa=2.0)
    with pytest.raises(TypeError, match=r"multiple values for argument 'b'"):
        bf.batched_gemm(t, t, b=t)
