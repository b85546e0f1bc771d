"""``blasfast solve MATRIX.mtx``: solve a real Matrix Market system and report honestly.

Wired into the ``blasfast`` console script by :func:`add_solve_parser` and
:func:`run_solve`; also runnable alone as ``python -m blasfast.solvers.cli MATRIX.mtx``.
"""

import argparse
import json
import math
import sys
import time

import numpy as np

from . import _factor

__all__ = ["add_solve_parser", "run_solve", "main"]

_HELP = """\
Read a Matrix Market file (scipy.io.mmread, densified, cast to float64), solve
A x = b with a low-precision LU and iterative refinement (blasfast.solvers.solve),
and report: status (converged / fell back to FP64, and why), iterations,
normwise backward error max_j ||b - A x||_inf / (||A||_inf ||x||_inf) against the
dsgesv test sqrt(n) * eps, forward error when the solution is known, time, and
the time and errors of an FP64 LU solve of the same system (scipy.linalg.solve
on the CPU, cupy.linalg.solve on the GPU).

Without --rhs, b = A @ ones(n), so the exact solution is ones(n) and the forward
error ||x - 1||_inf is reported. With --rhs the forward error is unknown.

Output ends with parseable lines: 'status: converged', 'iterations: 3',
'backward error: 1.2e-17', 'forward error: 3.4e-14' (or 'unknown'),
'time: 0.12 s', 'fp64 time: 0.10 s'.
With --json the same report is one JSON object on stdout instead (keys
matrix, n, nnz, nrhs, rhs, factor, refine, device, status, reason, method,
iter_code, gmres_iterations, scaling, history, iterations, backward_error,
threshold, forward_error, time_s, fp64; null where unknown or not finite).
Exit codes: 0 solved (converged, or fell back to an FP64 solve that passed the
same backward-error test), 1 not solved (singular, NaN, inaccurate: even the FP64
fallback failed the test; or an unreadable, empty or too large file, a folder),
2 usage error. Errors are one line on stderr (with --json too; a file that cannot
be read prints no JSON).
"""


def add_solve_parser(subparsers):
    """Add the ``solve`` subcommand to an ``argparse`` subparsers object; returns it."""
    p = subparsers.add_parser(
        "solve", help="solve a Matrix Market system with mixed-precision refinement",
        description=_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("matrix", metavar="MATRIX.mtx", help="the matrix (Matrix Market)")
    p.add_argument("--rhs", metavar="RHS.mtx", help="right-hand side(s) (default A @ ones)")
    p.add_argument("--factor", choices=_factor.FACTORS, default="float16",
                   help="LU precision (default float16)")
    p.add_argument("--refine", choices=("auto", "ir", "gmres"), default="auto",
                   help="refinement (default auto: IR, then GMRES-IR if IR is slow)")
    p.add_argument("--tol", type=float, default=None,
                   help="backward-error tolerance (default sqrt(n) * eps)")
    p.add_argument("--max-iter", type=int, default=50, help="most corrections (default 50)")
    p.add_argument("--no-fallback", dest="fallback", action="store_false",
                   help="do not re-solve in FP64 when refinement fails")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto = GPU when one is usable (default)")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the FP64 reference solve")
    p.add_argument("--json", action="store_true",
                   help="print the report as one JSON object on stdout")
    return p


#: The keys of ``blasfast solve --json``'s object, in order; every run has them all (null
#: where unknown: e.g. ``method`` when the solve raised, ``fp64`` with ``--no-reference``).
JSON_KEYS = ("matrix", "n", "nnz", "nrhs", "rhs", "factor", "refine", "device", "status",
             "reason", "method", "iter_code", "gmres_iterations", "scaling", "history",
             "iterations", "backward_error", "threshold", "forward_error", "time_s", "fp64")


class _Report:
    """The report of one ``blasfast solve`` run: each :meth:`line` prints its text line at
    once (the default) or keeps its fields for the one JSON object :meth:`finish` prints
    (``--json``). Non-finite floats become null, so the object is strict JSON."""

    def __init__(self, as_json):
        self.as_json = as_json
        self.fields = {}

    def line(self, text, **fields):
        self.fields.update(fields)
        if not self.as_json:
            print(text)

    def finish(self):
        if self.as_json:
            fields = {k: self.fields.get(k) for k in JSON_KEYS}
            print(json.dumps(_finite(fields), allow_nan=False))


def _finite(value):
    """``value`` with every non-finite float (nested in dicts and lists) replaced by None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class InputError(Exception):
    """An input file the CLI refuses: one line for stderr, exit status 1."""


# Dense float64 copies of A alive at once while solving (the matrix, its float64 view in
# the solver, the factors and the residual's operands): the memory check's multiplier.
DENSE_COPIES = 4


def _available_memory():
    """Bytes of memory available now (Linux ``MemAvailable``; else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def _read(path, what="matrix"):
    """Read a Matrix Market file as a dense float64 array, checking its header first.

    Raises :class:`InputError` (one line) for a missing file or folder, a file that is not
    Matrix Market, an empty (0-row or 0-column) matrix, complex data, or a dense size that
    does not fit in the memory available -- all before any allocation of the matrix.
    """
    import os

    import scipy.io
    import scipy.sparse

    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a Matrix Market file")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    try:
        rows, cols, _, _, field, _ = scipy.io.mminfo(path)
    except Exception as e:   # scipy raises ValueError, OSError, UnicodeDecodeError, ...
        raise InputError(f"{path}: not a readable Matrix Market file "
                         f"({' '.join(str(e).split()) or type(e).__name__})") from None
    if field == "complex":
        raise InputError(f"{path}: complex matrices are not supported")
    if rows == 0 or cols == 0:     # (and scipy's reader crashes the process on 0 x 0)
        raise InputError(f"{path}: the {what} is empty ({rows} x {cols})")
    need = DENSE_COPIES * 8 * rows * cols
    avail = _available_memory()
    if avail is not None and need > avail:
        raise InputError(
            f"{path}: a dense {rows} x {cols} float64 {what} needs about "
            f"{need / 1e9:.1f} GB of memory to solve ({DENSE_COPIES} copies of "
            f"{8 * rows * cols / 1e9:.1f} GB); {avail / 1e9:.1f} GB is available")
    try:
        m = scipy.io.mmread(path)
        m = m.toarray() if scipy.sparse.issparse(m) else np.asarray(m)
    except MemoryError:
        raise InputError(f"{path}: out of memory reading a dense {rows} x {cols} "
                         f"{what}") from None
    except Exception as e:
        raise InputError(f"{path}: not a readable Matrix Market file "
                         f"({' '.join(str(e).split()) or type(e).__name__})") from None
    if np.iscomplexobj(m):
        raise InputError(f"{path}: complex matrices are not supported")
    return np.asarray(m, dtype=np.float64)


def _errors(a, x, b, x_true):
    anorm = np.abs(a).sum(axis=1).max()
    r = b - a @ x
    rn = np.abs(r).max(axis=0)
    xn = np.abs(x).max(axis=0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        ber = float(np.max(np.where(rn == 0, 0.0, rn / anorm / xn)))
    fwd = None
    if x_true is not None:
        fwd = float(np.abs(x - x_true).max() / np.abs(x_true).max())
    return ber, fwd


def run_solve(args):
    """Run ``blasfast solve`` for parsed ``args``; returns the exit code (0, 1 or 2)."""
    from .. import _backend
    from .._errors import LinAlgError
    from . import errstate, solve

    if args.device == "gpu" and not _backend.gpu_available():
        print("blasfast solve: --device gpu: no usable CUDA GPU", file=sys.stderr)
        return 2
    if args.max_iter < 0 or (args.tol is not None and not args.tol > 0):
        print("blasfast solve: need --max-iter >= 0 and --tol > 0", file=sys.stderr)
        return 2
    gpu = args.device == "gpu" or (args.device == "auto" and _backend.gpu_available())
    try:
        which = "MATRIX.mtx"
        a = _read(args.matrix)
        which = "--rhs"
        b = _read(args.rhs, "right-hand side") if args.rhs else None
    except InputError as e:
        print(f"blasfast solve: cannot read {which} {e}", file=sys.stderr)
        return 1
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        print(f"blasfast solve: {args.matrix}: the matrix must be square, got {a.shape}",
              file=sys.stderr)
        return 1
    n = a.shape[0]
    x_true = None
    if b is None:
        x_true = np.ones((n, 1))
        b = a @ x_true
    if b.ndim == 1:
        b = b[:, None]
    if b.shape[0] != n:
        print(f"blasfast solve: the right-hand side has {b.shape[0]} rows, the matrix "
              f"{n}", file=sys.stderr)
        return 1
    rep = _Report(getattr(args, "json", False))
    nnz = int(np.count_nonzero(a))
    rep.line(f"matrix: {args.matrix} (n = {n}, nnz = {nnz}, "
             f"{b.shape[1]} right-hand side{'s' if b.shape[1] != 1 else ''}"
             f"{', b = A @ ones' if x_true is not None else ''})",
             matrix=args.matrix, n=n, nnz=nnz, nrhs=int(b.shape[1]),
             rhs="A @ ones" if x_true is not None else args.rhs)
    rep.line(f"factor: {args.factor}, refine: {args.refine}, "
             f"device: {'gpu' if gpu else 'cpu'}",
             factor=args.factor, refine=args.refine, device="gpu" if gpu else "cpu")
    xp = np
    if gpu:
        import cupy as xp
    da, db = xp.asarray(a), xp.asarray(b)
    _sync(xp)
    t0 = time.perf_counter()
    try:
        with errstate(linalg="raise"):
            x, info = solve(da, db, factor=args.factor, refine=args.refine, tol=args.tol,
                            max_iter=args.max_iter, fallback=args.fallback,
                            return_info=True)
    except MemoryError:
        print(f"blasfast solve: out of memory solving a {n} x {n} system", file=sys.stderr)
        return 1
    except LinAlgError as e:
        elapsed = time.perf_counter() - t0
        info = getattr(e, "info", None)
        status = str(info.status) if info is not None else "failed"
        rep.line(f"status: {status}", status=status)
        rep.line(f"reason: {e}", reason=str(e))
        if info is not None and np.isfinite(info.backward_error):
            rep.line(f"backward error: {float(info.backward_error):.3e} (test: <= "
                     f"{float(info.threshold):.3e})",
                     backward_error=float(info.backward_error),
                     threshold=float(info.threshold))
        rep.line(f"time: {elapsed:.3f} s", time_s=elapsed)
        rep.finish()
        print(f"blasfast solve: not solved ({status})", file=sys.stderr)
        return 1
    _sync(xp)
    elapsed = time.perf_counter() - t0
    x = x.get() if gpu else x
    ber, fwd = _errors(a, x, b, x_true)
    status = str(info.status)
    rep.line(f"status: {status}", status=status)
    if info.reason:
        rep.line(f"reason: {info.reason}", reason=str(info.reason))
    rep.line(f"method: {info.method}, iter code: {int(info.iter_code)}, GMRES steps: "
             f"{int(info.gmres_iterations)}", method=str(info.method),
             iter_code=int(info.iter_code), gmres_iterations=int(info.gmres_iterations))
    if info.scaling is not None:
        rep.line(f"scaling: {info.scaling['method']}, mu = {float(info.scaling['mu']):g}",
                 scaling={"method": str(info.scaling["method"]),
                          "mu": float(info.scaling["mu"])})
    history = [float(h) for h in np.asarray(info.history).ravel() if np.isfinite(h)]
    rep.line("backward error history: " + " ".join(f"{h:.1e}" for h in history),
             history=history)
    rep.line(f"iterations: {int(info.iterations)}", iterations=int(info.iterations))
    rep.line(f"backward error: {ber:.3e} (test: <= {float(info.threshold):.3e})",
             backward_error=ber, threshold=float(info.threshold))
    rep.line(f"forward error: {'unknown' if fwd is None else f'{fwd:.3e}'}",
             forward_error=fwd)
    rep.line(f"time: {elapsed:.3f} s", time_s=elapsed)
    if args.reference:
        t0 = time.perf_counter()
        if gpu:
            xr = xp.linalg.solve(da, db)
            _sync(xp)
            xr = xr.get()
        else:
            import scipy.linalg

            xr = scipy.linalg.solve(a, b)
        tr = time.perf_counter() - t0
        rber, rfwd = _errors(a, xr, b, x_true)
        rep.line(f"fp64 backward error: {rber:.3e}")
        rep.line(f"fp64 forward error: {'unknown' if rfwd is None else f'{rfwd:.3e}'}")
        rep.line(f"fp64 time: {tr:.3f} s",
                 fp64={"backward_error": rber, "forward_error": rfwd, "time_s": tr})
    rep.finish()
    return 0 if status in ("converged", "fell back") else 1


def _sync(xp):
    if xp is not np:
        xp.cuda.get_current_stream().synchronize()


def main(argv=None):
    """``python -m blasfast.solvers.cli MATRIX.mtx [options]``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="blasfast")
    sub = parser.add_subparsers(dest="command", required=True)
    add_solve_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["solve"]:
        argv = ["solve"] + argv
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    return run_solve(args)


if __name__ == "__main__":
    sys.exit(main())
