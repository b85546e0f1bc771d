"""Flexible GMRES for the correction equation of GMRES-IR, vectorized over systems and RHS.

One call solves ``A d = r`` from ``d = 0`` by right-preconditioned flexible GMRES (FGMRES,
Saad 1993) with the low-precision LU as preconditioner, at most ``m`` Arnoldi steps, for
every column of ``r`` at once: the columns of all systems are independent runs that share
each Python-level step (one batched preconditioner application, one batched matvec with
``A``). Right preconditioning with the preconditioned vectors ``z_j = M^-1 v_j`` kept
(the "flexible" variant) means GMRES minimizes the *true* residual ``||r - A d||_2`` over
``span{z_j}`` in float64, however inexactly ``M^-1`` is applied (FP32 triangular solves
with FP16-rounded factors): the approach of Haidar et al. (SC'18) and MAGMA's
``dhgesv_iteref``. (Left preconditioning, as in Carson & Higham's analysis, would need
``M^-1`` applied in extra precision to converge on ill-conditioned matrices.)

Orthogonalization is classical Gram-Schmidt applied twice (CGS2: as stable as modified
Gram-Schmidt, but a few large vectorized products instead of ``j`` small ones); everything
is float64 except inside the preconditioner. A column stops when its residual estimate
``|g[j+1]|`` falls below ``tau * ||r||_2`` or on a lucky breakdown; the restart is the
outer refinement loop, which recomputes the residual in float64.

Works on NumPy and CuPy arrays alike (``xp``). Each Arnoldi step reads one boolean back
("are all columns done?"), which synchronizes the device.
"""

import numpy as np

__all__ = ["gmres"]


def gmres(xp, matvec, precond, r, *, tau, m):
    """Approximately solve ``A d = r`` by right-preconditioned flexible GMRES(m) from zero.

    Parameters
    ----------
    xp : module
        numpy or cupy.
    matvec : callable
        ``matvec(v) -> A @ v`` for ``v`` of shape (s, n, k), float64.
    precond : callable
        ``precond(v) -> M^-1 v`` for (s, n, k) float64.
    r : (s, n, k) float64 array
        Right-hand sides (residuals of the outer refinement).
    tau : float
        Relative tolerance on the residual ``||r - A d||_2 / ||r||_2``.
    m : int
        Maximum number of Arnoldi steps (1 <= m <= n).

    Returns
    -------
    d : (s, n, k) float64 array
        The corrections.
    steps : (s, k) int numpy array
        Arnoldi steps taken per column.
    """
    s, n, k = r.shape
    beta = xp.sqrt((r * r).sum(axis=1))                          # (s, k)
    live = beta > 0
    V = xp.zeros((m + 1, s, n, k))
    Z = xp.zeros((m, s, n, k))
    V[0] = r / xp.where(live, beta, 1.0)[:, None, :]
    H = xp.zeros((s, k, m + 1, m))
    cs = xp.zeros((s, k, m))
    sn = xp.zeros((s, k, m))
    g = xp.zeros((s, k, m + 1))
    g[:, :, 0] = beta
    size = xp.zeros((s, k), dtype=xp.int64)                      # Krylov dimension used
    thresh = tau * beta
    for j in range(m):
        Z[j] = precond(V[j])
        w = matvec(Z[j])
        h = xp.einsum("isnk,snk->ski", V[:j + 1], w)             # CGS, twice
        w = w - xp.einsum("isnk,ski->snk", V[:j + 1], h)
        h2 = xp.einsum("isnk,snk->ski", V[:j + 1], w)
        w = w - xp.einsum("isnk,ski->snk", V[:j + 1], h2)
        h = h + h2
        hn = xp.sqrt((w * w).sum(axis=1))                        # (s, k)
        ok = hn > 0
        V[j + 1] = w / xp.where(ok, hn, 1.0)[:, None, :]
        col = xp.concatenate([h, hn[:, :, None]], axis=2)        # (s, k, j + 2)
        for i in range(j):                                       # previous rotations
            a, b = col[:, :, i], col[:, :, i + 1]
            col[:, :, i], col[:, :, i + 1] = (cs[:, :, i] * a + sn[:, :, i] * b,
                                              -sn[:, :, i] * a + cs[:, :, i] * b)
        a, b = col[:, :, j], col[:, :, j + 1]
        den = xp.hypot(a, b)
        safe = xp.where(den > 0, den, 1.0)
        cs[:, :, j] = xp.where(den > 0, a / safe, 1.0)
        sn[:, :, j] = xp.where(den > 0, b / safe, 0.0)
        col[:, :, j] = den
        col[:, :, j + 1] = 0.0
        H[:, :, :j + 2, j] = col
        g[:, :, j + 1] = -sn[:, :, j] * g[:, :, j]
        g[:, :, j] = cs[:, :, j] * g[:, :, j]
        size = xp.where(live, j + 1, size)
        live = live & ok & (xp.abs(g[:, :, j + 1]) > thresh) & (den > 0)
        if not bool(live.any()):
            break
    return _combine(xp, Z, H, g, size), np.asarray(_to_host(size))


def _combine(xp, Z, H, g, size):
    """``d = Z[:, :size] y`` with ``H[:size, :size] y = g[:size]`` per column (vectorized).

    Columns with a smaller Krylov dimension get ``y_i = 0`` beyond it (identity rows).
    """
    J = int(_to_host(size.max())) if size.size else 0
    if J == 0:
        return xp.zeros(Z.shape[1:])
    idx = xp.arange(J)
    inside = idx[None, None, :] < size[:, :, None]               # (s, k, J)
    R = H[:, :, :J, :J]
    diag = xp.diagonal(R, axis1=2, axis2=3)
    good = inside & (diag != 0)
    rhs = xp.where(good, g[:, :, :J], 0.0)
    y = xp.zeros_like(rhs)
    for i in range(J - 1, -1, -1):
        acc = rhs[:, :, i] - (R[:, :, i, i + 1:J] * y[:, :, i + 1:J]).sum(axis=-1)
        y[:, :, i] = xp.where(good[:, :, i], acc / xp.where(good[:, :, i], diag[:, :, i], 1.0),
                              0.0)
    return xp.einsum("isnk,ski->snk", Z[:J], y)


def _to_host(x):
    return x.get() if hasattr(x, "get") else x
