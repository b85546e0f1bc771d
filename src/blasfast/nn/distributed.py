"""Data-parallel training: gradients averaged over processes by an allreduce.

Each process (an MPI rank, started by ``mpirun -n P python train.py``) holds a full copy
of the model, trains on its own shard of every global batch, and before each update the
gradients are summed over the processes and divided by ``P``. With equal shard batches
this is exactly one process training on the concatenated batch (up to the summation
order of the allreduce).

Two transports:

* ``'mpi'``, the CPU path: ``mpi4py``'s ``Comm.Allreduce`` on host buffers (any MPI;
  tested with Debian's OpenMPI, ``apt-get install openmpi-bin python3-mpi4py`` or
  ``pip install mpi4py`` over ``libopenmpi-dev``).
* ``'nccl'``, the GPU path: ``cupy.cuda.nccl.NcclCommunicator.allReduce`` on device
  buffers, one GPU per rank (``cupy.cuda.Device(rank % n_gpus)``), bootstrapped through
  MPI (the NCCL unique id is broadcast from rank 0). Runs only where several GPUs exist:
  **not yet run** by the project's tests.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _checks
from .._backend import _cupy
from .._typing import Array, ArrayLike, Int
from . import _args

if TYPE_CHECKING:  # a cycle at run time (model imports this module); blasfast.nn.model
    from .model import Sequential  # binds the name here once Sequential exists

__all__ = ["DataParallel"]


def _mpi_world():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("DataParallel: the MPI transport needs mpi4py (pip install mpi4py "
                          "over an MPI such as OpenMPI, or Debian's python3-mpi4py)") from None
    return MPI.COMM_WORLD


class DataParallel:
    """Average gradients over processes; passed to :meth:`Sequential.fit` as ``distributed=``.

    Parameters
    ----------
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``. Any object with ``Get_rank()``, ``Get_size()``,
        ``Allreduce(sendbuf, recvbuf)`` (sum) and ``bcast(obj, root)`` will do.
    backend : {'mpi', 'nccl'}, optional
        ``'mpi'`` (default): host buffers through MPI. ``'nccl'``: device buffers through
        NCCL (CuPy arrays; the model must be on the GPU; not yet run).

    Attributes
    ----------
    rank, size : int

    Raises
    ------
    ImportError
        When mpi4py (or, for NCCL, CuPy) is not installed.
    TypeError
        For a ``comm`` without the methods above, or a non-string backend.
    ValueError
        For an unknown backend.

    Notes
    -----
    Call :meth:`broadcast_parameters` once before training so every rank starts from rank
    0's weights, and give each rank :meth:`shard` of the data. The per-epoch loss and
    accuracy in ``fit``'s history are those of the local shard. One allreduce per parameter
    per step (no bucketing); the MPI path copies GPU arrays through the host.

    Examples
    --------
    Run as ``mpirun -n 2 python train.py``::

        dp = DataParallel()
        dp.broadcast_parameters(model)
        xs, ys = dp.shard(x, y, batch_size=32)
        model.fit(xs, ys, epochs=5, batch_size=32, optimizer=SGD(0.05), distributed=dp,
                  shuffle=False)
    """

    def __init__(self, comm: Any = None, backend: Literal["mpi", "nccl"] = "mpi") -> None:
        _checks.choice("DataParallel", "backend", backend, ("mpi", "nccl"))
        _args.has_methods("DataParallel", "comm", comm,
                          ("Get_rank", "Get_size", "Allreduce", "bcast"),
                          "an MPI communicator", optional=True)
        self.comm = comm if comm is not None else _mpi_world()
        self.rank, self.size = int(self.comm.Get_rank()), int(self.comm.Get_size())
        self.backend = backend
        self._nccl = None
        if backend == "nccl":  # pragma: no cover - needs several GPUs
            cp = _cupy()
            if cp is None:
                raise ImportError("DataParallel: backend 'nccl' needs CuPy")
            from cupy.cuda import nccl

            cp.cuda.Device(self.rank % cp.cuda.runtime.getDeviceCount()).use()
            uid = self.comm.bcast(nccl.get_unique_id() if self.rank == 0 else None, root=0)
            self._nccl = nccl.NcclCommunicator(self.size, uid, self.rank)

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, size={self.size}, backend={self.backend!r})"

    def shard(self, x: ArrayLike, y: ArrayLike, batch_size: Int) -> tuple[Array, Array]:
        """Return this rank's rows of ``(x, y)`` for training with ``batch_size``.

        Global batch ``b`` (``size * batch_size`` rows of the concatenated data, in order)
        is the concatenation of the ranks' local batches ``b``. Rank ``r`` takes the
        blocks ``r, r + P, r + 2P, ...`` of ``batch_size`` rows; rows past the last full
        global batch are dropped, so every rank does the same number of equal-size steps.

        Parameters
        ----------
        x : (N, ...) array
            The inputs, the same on every rank.
        y : (N,) array
            The labels, the same on every rank.
        batch_size : int
            The local batch size later given to ``fit``.

        Returns
        -------
        x_local : array
            This rank's rows of ``x``.
        y_local : array
            The matching rows of ``y``.

        Raises
        ------
        TypeError
            If ``batch_size`` is not an integer.
        ValueError
            If ``batch_size < 1``, or the rows cannot fill one global batch.
        """
        batch_size = _checks.integer("DataParallel.shard", "batch_size", batch_size, minimum=1)
        n_global = (len(y) // (batch_size * self.size)) * batch_size * self.size
        if n_global == 0:
            raise ValueError(f"DataParallel.shard: {len(y)} rows cannot fill one global batch "
                             f"of {self.size} x {batch_size}")
        idx = np.arange(n_global).reshape(-1, self.size, batch_size)[:, self.rank].ravel()
        return x[idx], y[idx]

    def broadcast_parameters(self, model: "Sequential", root: int = 0) -> None:
        """Overwrite every rank's parameters with those of ``root`` (in place).

        Parameters
        ----------
        model : Sequential
            The model whose ``params`` are overwritten.
        root : int, optional
            The rank whose parameters everyone takes. Default 0.
        """
        for p in model.params:
            host = p.get() if hasattr(p, "get") and not isinstance(p, np.ndarray) else p
            src = self.comm.bcast(np.asarray(host) if self.rank == root else None, root=root)
            p[...] = src if isinstance(p, np.ndarray) else _cupy().asarray(src)

    def allreduce_grads(self, grads: Sequence[ArrayLike]) -> list[Array]:
        """Return the gradients averaged over the ranks (new arrays, same sides and dtypes).

        Parameters
        ----------
        grads : list of arrays
            This rank's gradients (not modified).

        Returns
        -------
        list of arrays
            The averages, in the order of ``grads``.
        """
        out = []
        for g in grads:
            if self._nccl is not None:  # pragma: no cover - needs several GPUs
                cp = _cupy()
                from cupy.cuda import nccl

                g = cp.ascontiguousarray(g)
                r = cp.empty_like(g)
                kind = {np.dtype(np.float32): nccl.NCCL_FLOAT32,
                        np.dtype(np.float64): nccl.NCCL_FLOAT64,
                        np.dtype(np.float16): nccl.NCCL_FLOAT16}[g.dtype]
                self._nccl.allReduce(g.data.ptr, r.data.ptr, g.size, kind, nccl.NCCL_SUM,
                                     cp.cuda.get_current_stream().ptr)
                r /= self.size
                out.append(r)
                continue
            on_gpu = hasattr(g, "get") and not isinstance(g, np.ndarray)
            send = np.ascontiguousarray(g.get() if on_gpu else g)
            recv = np.empty_like(send)
            self.comm.Allreduce(send, recv)
            recv /= recv.dtype.type(self.size)
            out.append(_cupy().asarray(recv) if on_gpu else recv)
        return out
