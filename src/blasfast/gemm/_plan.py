"""Plans: validate and configure a batched GEMM once, run it many times.

:class:`BatchedGemm` is the stateful form of :func:`blasfast.batched_gemm` (after
nvmath-python's ``Matmul`` and cuBLASLt's matmul plans): the constructor does every check
(:mod:`._args`) and every choice (kernel, tile, grid, folded batch strides, the launch's
argument list: a :class:`blasfast.gemm._core._Core`); :meth:`BatchedGemm.execute` checks
only what can change between calls -- that new operands have the planned kind, shape,
strides and dtype, and that a new ``out`` overlaps nothing -- and launches (GPU path) or
computes (CPU path). :meth:`BatchedGemm.capture` records the launch into a CUDA graph
(:class:`GemmGraph`).
"""

import warnings
from typing import Any, Literal

import numpy as np

from .. import _backend, _dask, _interop
from .._errors import message
from .._typing import Array, ArrayLike, Int, Real, StreamLike
from ._args import Compute, _data_ptr, _validate
from ._config import SimtTile, SmallTile
from ._core import _CUPY, _KIND_NAMES, _NUMPY, _Core, _signature, candidate_tiles
from ._tc import TcTile

#: A tile of the configuration tables (what :attr:`BatchedGemm.tile` and the keys of
#: :meth:`BatchedGemm.autotune`'s timings are).
Tile = SmallTile | SimtTile | TcTile

__all__ = ["BatchedGemm", "GemmGraph"]


_OP = "BatchedGemm"


class BatchedGemm:
    """A planned batched GEMM, ``D = alpha * op(A) @ op(B) + beta * C``, run many times.

    The constructor validates the operands and options exactly as
    :func:`blasfast.batched_gemm` does and makes every choice once: on the GPU path the
    kernel, tile and grid (from the configuration tables), the folded batch strides and the
    launch's argument list, compiling the kernel if needed; on the CPU path the precision
    steps. :meth:`execute` then checks only what can change -- that new operands have the
    planned kind, shape, strides and dtype, and that the output overlaps no operand -- and
    launches. The plan holds its operands (the defaults of :meth:`execute`). A plan made
    with PyTorch tensors views their memory (a tensor with the conjugate or negative bit
    set is refused: it has no memory of its values) and returns tensors; with CUDA
    tensors it runs on PyTorch's current stream by default.

    Parameters
    ----------
    a, b : array
        As for :func:`blasfast.batched_gemm` (arrays only; the pointer-array form of lists
        is not planned).
    c : array, optional
        As for :func:`blasfast.batched_gemm`; None plans a product without accumulator.
    alpha, beta : float
        As for :func:`blasfast.batched_gemm`.
    trans_a, trans_b : bool
        As for :func:`blasfast.batched_gemm`.
    compute : {None, 'float64', 'float32', 'tf32'}
        As for :func:`blasfast.batched_gemm`.
    out : array, optional
        As for :func:`blasfast.batched_gemm`; None makes :meth:`execute` return a new
        array each call (or write into its ``out=``).

    Attributes
    ----------
    alpha, beta : float
        The planned scalars (read-only: a change needs a new plan).
    trans_a, trans_b : bool
        The planned transposes (read-only).
    shape : tuple of int
        The result's shape.
    dtype : numpy.dtype
        The result's dtype.
    compute : str
        The resolved precision (``'float64'``, ``'float32'`` or ``'tf32'``).
    tile : object or None
        The tile of the configuration table the GPU path launches (None on the CPU path,
        and on the GPU path for an empty result or when several launches are needed: more
        than 65535 column tiles, or batch dimensions that do not fold into two strides).
    device : str
        ``'cpu'``, ``'emulator'`` or ``'cuda'``.

    Raises
    ------
    TypeError, ValueError
        As :func:`blasfast.batched_gemm`, naming ``BatchedGemm``; a Dask array is a
        ``TypeError`` (a plan holds its operands' memory).
    blasfast.KernelCompileError
        If the CUDA kernel fails to compile (GPU path).

    Notes
    -----
    :func:`blasfast.batched_gemm` caches the same configuration per (shapes, strides,
    dtypes, options, device), so a plan saves the key's construction and lookup and the
    checks of unchanged operands: with the planned operands, :meth:`execute` checks nothing
    and launches. The GPU path launches on the current CuPy stream (or ``stream``) and does
    not synchronize. The plan needs no workspace of its own; :meth:`close` (or leaving a
    ``with`` block) drops its references to the operands, to a captured graph and to the
    compiled launch, after which :meth:`execute` raises.

    :meth:`autotune` and :meth:`capture` are implemented for a CUDA device and tested for
    their mechanics on the CUDA emulator; their effect on speed is unmeasured until a GPU
    runs them (the emulator does not model time).

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> rng = np.random.default_rng(0)
    >>> a = rng.standard_normal((100, 4, 4)); b = rng.standard_normal((100, 4, 4))
    >>> with bf.BatchedGemm(a, b, alpha=2.0) as plan:
    ...     d1 = plan.execute()                       # the planned operands
    ...     a2 = rng.standard_normal((100, 4, 4))
    ...     d2 = plan.execute(a=a2)                   # same shape, strides, dtype
    >>> bool(np.allclose(d1, 2 * a @ b)), bool(np.allclose(d2, 2 * a2 @ b))
    (True, True)
    >>> plan.execute()
    Traceback (most recent call last):
    ...
    RuntimeError: BatchedGemm.execute: the plan is closed
    """

    def __init__(self, a: ArrayLike, b: ArrayLike, c: ArrayLike | None = None, *,
                 alpha: Real = 1.0, beta: Real = 0.0, trans_a: bool = False,
                 trans_b: bool = False, compute: Compute | None = None,
                 out: Array | None = None) -> None:
        if isinstance(a, (list, tuple)):
            raise TypeError(message(_OP, "a must be an array; the pointer-array form (lists "
                                         "of matrices) is not planned, call "
                                         "blasfast.batched_gemm or blasfast.gemm_vbatched"))
        _dask.refuse(_OP, a, b, c, out, why="a plan holds its operands' memory; "
                                         "blasfast.batched_gemm takes Dask arrays")
        # A plan made with PyTorch tensors (or another foreign kind) keeps their memory as
        # NumPy/CuPy views and gives results of that kind back (blasfast._interop).
        kind = self._kind = _interop.scan(_OP, (a, b, c, out))
        self._out_caller = out
        if kind is not None:
            a, b, c, out = (_interop.to_native(_OP, kind, name, x, "the plan keeps it")
                            for name, x in (("a", a), ("b", b), ("c", c), ("out", out)))
        with _interop.device(kind):  # configured (and compiled) for the tensors' device
            xp, a, b, c, out, trans_a, trans_b, compute, out_dtype, shape = _validate(
                _OP, a, b, c, alpha, beta, trans_a, trans_b, out, compute, None)
            self._core = _Core(xp, a, b, c, out, beta == 0, trans_a, trans_b, compute,
                               out_dtype, shape)
        self._a, self._b, self._c, self._out = a, b, c, out
        self._sig = tuple(_signature(x) for x in (a, b, c, out))
        self._type = type(a)
        self._alpha, self._beta = alpha, beta
        self._trans_a, self._trans_b = trans_a, trans_b
        self._shape, self._dtype, self._compute = shape, out_dtype, compute
        self._graph = None
        self._prebuild()

    def _prebuild(self):
        """The launch ``(function, grid, block, args)`` on the planned operands, when they
        include ``out`` and one launch does it (GPU path), else None."""
        core = self._core
        self._launch = None
        if (core is not None and core.kind != _NUMPY and self._out is not None
                and not core._no_launch and not core._general):
            self._launch = (core._fn, core._grid, core._block,
                            core.args(self._a, self._b, self._c, self._out, self.alpha,
                                      self.beta))

    # ------------------------------------------------------------------ properties
    # Read-only: the prebuilt launch holds them; a new value needs a new plan.
    @property
    def alpha(self) -> Real:
        """The planned alpha."""
        return self._alpha

    @property
    def beta(self) -> Real:
        """The planned beta."""
        return self._beta

    @property
    def trans_a(self) -> bool:
        """Whether op(A) is A transposed."""
        return self._trans_a

    @property
    def trans_b(self) -> bool:
        """Whether op(B) is B transposed."""
        return self._trans_b

    @property
    def shape(self) -> tuple[int, ...]:
        """The result's shape."""
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        """The result's dtype."""
        return self._dtype

    @property
    def compute(self) -> Compute:
        """The resolved precision."""
        return self._compute

    @property
    def tile(self) -> Tile | None:
        """The configuration table's tile the GPU path launches, or None (see the class)."""
        core = self._core
        return None if core is None else core.tile

    @property
    def device(self) -> Literal["cpu", "emulator", "cuda"]:
        """Where the plan runs: ``'cpu'``, ``'emulator'`` or ``'cuda'`` (raises once closed)."""
        core = self._live("device")
        return ("cpu", "emulator", "cuda")[core.kind]

    def __repr__(self):
        state = "closed" if self._core is None else self.device
        return (f"<blasfast.BatchedGemm {self.shape} {np.dtype(self.dtype).name} "
                f"compute={self.compute!r} ({state})>")

    def _live(self, what="execute"):
        core = self._core
        if core is None:
            raise RuntimeError(message(f"{_OP}.{what}", "the plan is closed"))
        return core

    # ------------------------------------------------------------------ execute
    def _match(self, name, x, sig):
        core = self._core
        if type(x) is not self._type:
            raise TypeError(message(
                f"{_OP}.execute", f"{name} must be a {_KIND_NAMES[core.kind]} array like the "
                                  f"planned one, got {type(x).__name__}"))
        if x.dtype != sig[2]:
            raise TypeError(message(
                f"{_OP}.execute", f"{name} must have the planned dtype {sig[2]}, got "
                                  f"{x.dtype}; make a new plan"))
        raise ValueError(message(
            f"{_OP}.execute", f"{name} must have the planned shape {sig[0]} and strides "
                              f"{sig[1]}, got shape {x.shape} and strides {x.strides}; "
                              "make a new plan (or call blasfast.batched_gemm)"))

    def execute(self, a: ArrayLike | None = None, b: ArrayLike | None = None,
                c: ArrayLike | None = None, out: Array | None = None,
                stream: StreamLike = None) -> Array:
        """Run the planned GEMM, on the planned operands or on new ones like them.

        Parameters
        ----------
        a, b, c : arrays, optional
            New operands, each of the planned kind, shape, strides and dtype (default: the
            planned ones). ``c`` only if the plan has one.
        out : array, optional
            Where to write the result: the planned result's shape and dtype, the planned
            ``out``'s strides if the plan has one (else C-contiguous), overlapping no
            operand (it may be ``c`` itself). Default: the planned ``out``, else a new
            array.
        stream : cupy.cuda.Stream, optional
            GPU path: the stream to launch on (default: the current one).

        Returns
        -------
        array
            The result (``out`` when given or planned).

        Raises
        ------
        TypeError
            An operand of another kind or dtype than planned, or a ``stream`` that is not
            a CUDA stream.
        ValueError
            An operand of another shape or strides than planned, ``c`` for a plan without
            one, or an ``out`` that overlaps an operand or is read-only.
        RuntimeError
            If the plan is closed.
        """
        if self._kind is None:
            return self._execute(a, b, c, out, stream)
        return self._execute_in_kind(a, b, c, out, stream)

    def _execute_in_kind(self, a, b, c, out, stream):
        """:meth:`execute` for a plan made with foreign arrays (PyTorch tensors): new
        operands of that kind are viewed as NumPy/CuPy, CUDA tensors run on PyTorch's
        current stream by default, and the result comes back in the caller's kind."""
        kind, op = self._kind, f"{_OP}.execute"
        other = _interop.scan(op, (a, b, c, out))
        if other is not None and other.name != kind.name:
            raise TypeError(message(op, f"operands must be {kind.name} arrays, as planned, "
                                        f"got {other.name} arrays"))
        out_given = out
        a, b, c = (_interop.to_native(op, kind, name, x)
                   for name, x in (("a", a), ("b", b), ("c", c)))
        out = _interop.to_native(op, kind, "out", out, "it is written")
        if stream is None and kind.cuda_index is not None:
            stream = kind.current_stream()
        with _interop.device(kind):
            r = self._execute(a, b, c, out, stream)
        return out_given if out_given is not None else self._in_kind(r)

    def _in_kind(self, r):
        """Result ``r`` in the plan's kind; the planned ``out`` as the same object each
        time."""
        if self._kind is None:
            return r
        if r is self._out:
            if self._out_caller is None:
                self._out_caller = self._kind.from_native(r)
            return self._out_caller
        return self._kind.from_native(r)

    def _execute(self, a, b, c, out, stream):
        core = self._core
        if core is None:
            self._live()
        if a is None and b is None and c is None and out is None:  # the planned operands
            if stream is not None:
                stream = _backend.as_stream(f"{_OP}.execute", stream, core.xp)
            launch = self._launch
            if launch is not None and stream is None:  # the argument list is prebuilt
                launch[0](launch[1], launch[2], launch[3])
                return self._out
            return core.run(self._a, self._b, self._c, self._out, self._alpha, self._beta,
                            stream)
        sig_a, sig_b, sig_c, sig_out = self._sig
        planned = self._type
        if a is None:
            a = self._a
        elif type(a) is not planned or (a.shape, a.strides, a.dtype) != sig_a:
            self._match("a", a, sig_a)
        if b is None:
            b = self._b
        elif type(b) is not planned or (b.shape, b.strides, b.dtype) != sig_b:
            self._match("b", b, sig_b)
        if c is None:
            c = self._c
        elif sig_c is None:
            raise ValueError(message(f"{_OP}.execute", "c was given but the plan has no c; "
                                                       "make a plan with c"))
        elif type(c) is not planned or (c.shape, c.strides, c.dtype) != sig_c:
            self._match("c", c, sig_c)
        if out is None:
            out = self._out
        elif sig_out is not None:
            if type(out) is not planned or (out.shape, out.strides, out.dtype) != sig_out:
                self._match("out", out, sig_out)
        elif (type(out) is not planned or out.shape != self._shape or out.dtype != self._dtype
              or not out.flags.c_contiguous):
            self._match_out(out, (self.shape, None, self.dtype))
        if out is not None and not core.out_is_free(a, b, c, out):
            self._refuse_out(a, b, c, out)
        if stream is not None:
            stream = _backend.as_stream(f"{_OP}.execute", stream, core.xp)
        return core.run(a, b, c, out, self._alpha, self._beta, stream)

    def _match_out(self, out, sig):
        if sig[1] is None and type(out) is self._type and out.dtype == sig[2] \
                and out.shape == sig[0]:
            raise ValueError(message(
                f"{_OP}.execute", f"out must be C-contiguous (the plan was made without out), "
                                  f"got strides {out.strides}; make a plan with this out"))
        self._match("out", out, sig)

    def _refuse_out(self, a, b, c, out):
        xp = self._core.xp
        if xp is np and not out.flags.writeable:
            raise ValueError(message(f"{_OP}.execute", "out is read-only"))
        share = np.may_share_memory if xp is np else xp.may_share_memory
        for name, x in (("a", a), ("b", b), ("c", c)):
            if x is not None and share(out, x) and not (name == "c" and (
                    x.shape == out.shape and x.strides == out.strides
                    and _data_ptr(x) == _data_ptr(out))):
                raise ValueError(message(
                    f"{_OP}.execute", f"out overlaps {name}; the result would read its own "
                                      "output (out may be c itself, with the same shape and "
                                      "strides)"))

    # ------------------------------------------------------------------ tuning, graphs
    def autotune(self, repeat: Int = 20) -> dict[Tile, float]:
        """Time every candidate tile for this exact problem and keep the fastest.

        On a CUDA device (CuPy), each tile of the configuration tables that can run the
        problem (:func:`candidate_tiles`) is launched twice untimed, then ``repeat`` times
        between two CUDA events, writing into a scratch array (the operands and ``out`` are
        not modified); the plan keeps the tile with the least mean time. Elsewhere --
        the CPU path (NumPy's BLAS chooses its own kernels) and the CUDA emulator (which
        does not model time) -- it changes nothing and warns (``UserWarning``).

        Parameters
        ----------
        repeat : int
            Timed launches per candidate.

        Returns
        -------
        dict
            ``{tile: milliseconds per launch}`` for every candidate timed, ``{}`` where
            nothing was timed (then a warning says why).

        Notes
        -----
        Synchronizes the device. Implemented and tested for its mechanics (candidates,
        choice of the fastest, correct results with every candidate) on the emulator with
        a stand-in timer; whether it finds faster tiles than the table is unmeasured
        until a GPU runs it.
        """
        core = self._live("autotune")
        repeat = int(repeat)
        if core.kind != _CUPY:
            where = ("the CPU path (NumPy's BLAS chooses its own kernels)" if core.kind ==
                     _NUMPY else "the CUDA emulator, which does not model time")
            warnings.warn(f"BatchedGemm.autotune: nothing to time on {where}; the plan "
                          f"keeps the configuration table's tile", UserWarning, stacklevel=2)
            return {}
        return self._autotune(_cuda_event_timer(repeat))

    def _autotune(self, timer):
        """:meth:`autotune` with ``timer(run) -> ms`` (CUDA events; a stand-in in tests)."""
        core = self._live("autotune")
        if core._no_launch or core._general:
            return {}
        xp = core.xp
        scratch = xp.empty(self.shape, self.dtype)
        a, b, c = self._a, self._b, self._c
        beta_zero = self.beta == 0
        times = {}
        for tile in candidate_tiles(core.prec, core.m, core.n, core.k):
            cand = _Core(xp, a, b, c, scratch, beta_zero, self.trans_a, self.trans_b,
                         self.compute, self.dtype, self.shape, tile=tile)
            if cand._general:
                continue
            times[tile] = timer(lambda: cand.run(a, b, c, scratch, self.alpha, self.beta))
        if times:
            best = min(times, key=times.get)
            self._core = _Core(xp, a, b, c, self._out, beta_zero, self.trans_a,
                               self.trans_b, self.compute, self.dtype, self.shape, tile=best)
            self._prebuild()
        return times

    def capture(self, stream: StreamLike = None) -> "GemmGraph":
        """Record the launch into a CUDA graph and return a :class:`GemmGraph` to replay it.

        The graph reads the plan's operands and writes the plan's ``out`` (allocated now
        if the plan has none): to run it on new values, write them into those arrays and
        call :meth:`GemmGraph.launch`. On a CUDA device this uses CuPy's stream capture
        (``Stream.begin_capture`` / ``end_capture``, CuPy 10 or later); a replay costs one
        graph launch, with no Python argument handling. Elsewhere -- the CPU path and the
        CUDA emulator, which have no graphs -- it warns (``UserWarning``) and the replay
        falls back to :meth:`execute` on the same arrays, with the same results.

        Parameters
        ----------
        stream : cupy.cuda.Stream, optional
            The stream to capture on (a new non-blocking stream by default; CUDA cannot
            capture the legacy default stream).

        Returns
        -------
        GemmGraph
            The recorded launch; :meth:`GemmGraph.launch` replays it.

        Notes
        -----
        Tested for its mechanics on the emulator (the fallback) and with a stand-in for
        CuPy's capture; the time a replay saves is unmeasured until a GPU runs it.
        """
        core = self._live("capture")
        if self._out is None:
            self._out = core.xp.empty(self.shape, self.dtype)
            self._sig = self._sig[:3] + (_signature(self._out),)
            self._core = core = _Core(core.xp, self._a, self._b, self._c, self._out,
                                      self.beta == 0, self.trans_a, self.trans_b,
                                      self.compute, self.dtype, self.shape, tile=core.tile)
            self._prebuild()
        if core.kind != _CUPY:
            warnings.warn("BatchedGemm.capture: no CUDA graphs on the "
                          + ("CPU path" if core.kind == _NUMPY else "CUDA emulator")
                          + "; GemmGraph.launch runs BatchedGemm.execute instead",
                          UserWarning, stacklevel=2)
            return GemmGraph(self, None, None)
        if stream is not None:
            stream = _backend.as_stream(f"{_OP}.capture", stream, core.xp)
        cp = _backend._real_cupy()
        stream = stream if stream is not None else cp.cuda.Stream(non_blocking=True)
        graph = _capture(stream, lambda: core.run(self._a, self._b, self._c, self._out,
                                                  self.alpha, self.beta))
        self._graph = graph
        return GemmGraph(self, graph, stream)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Drop the configuration, the operands and any captured graph (idempotent)."""
        self._core = None
        self._a = self._b = self._c = self._out = self._out_caller = None
        self._graph = self._launch = None

    def __enter__(self) -> "BatchedGemm":
        self._live("__enter__")
        return self

    def __exit__(self, *exc: object) -> bool:
        self.close()
        return False


def _capture(stream, launch):
    """Record ``launch()`` on ``stream`` into a CUDA graph (CuPy stream capture)."""
    with stream:
        stream.begin_capture()
        try:
            launch()
        finally:
            graph = stream.end_capture()
    return graph


def _cuda_event_timer(repeat):
    cp = _backend._real_cupy()

    def time_ms(run):
        run()
        run()  # warm-up: compilation, caches
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        for _ in range(repeat):
            run()
        end.record()
        end.synchronize()
        return cp.cuda.get_elapsed_time(start, end) / repeat

    return time_ms


class GemmGraph:
    """A captured :class:`BatchedGemm` launch (see :meth:`BatchedGemm.capture`).

    ``launch(stream=None)`` replays it (on its capture stream by default) and returns the
    plan's ``out``. Without CUDA graphs (CPU path, emulator) it runs the plan's
    :meth:`~BatchedGemm.execute` on the same arrays. ``captured`` says which.
    """

    def __init__(self, plan: "BatchedGemm", graph: Any, stream: Any) -> None:
        self._plan, self._graph, self._stream = plan, graph, stream

    @property
    def captured(self) -> bool:
        """True when a CUDA graph was recorded (a real GPU)."""
        return self._graph is not None

    def launch(self, stream: StreamLike = None) -> Array:
        """Replay the captured launch (or run the plan's :meth:`BatchedGemm.execute`).

        Parameters
        ----------
        stream : cupy.cuda.Stream, int or object with ``__cuda_stream__``, optional
            The stream to replay on (default: the capture stream; PyTorch's current stream
            for a plan made with CUDA tensors).

        Returns
        -------
        array
            The plan's ``out``.
        """
        plan = self._plan
        plan._live("launch")
        if self._graph is None:
            return plan.execute(stream=stream)
        if stream is not None:
            stream = _backend.as_stream("GemmGraph.launch", stream, plan._core.xp)
        kind = plan._kind
        if stream is None and kind is not None and kind.cuda_index is not None:
            stream = kind.current_stream()  # CUDA tensors: PyTorch's stream, as execute
            stream = _backend.as_stream("GemmGraph.launch", stream, plan._core.xp)
        self._graph.launch(stream if stream is not None else self._stream)
        return plan._in_kind(plan._out)
