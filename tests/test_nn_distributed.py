"""blasfast.nn.DataParallel: sharding and gradient averaging with an in-process stand-in
communicator (always), and 2 MPI ranks training to the same weights as one process on the
concatenated batches (when mpi4py and mpirun are present)."""

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from blasfast.nn import SGD, Adam, DataParallel, Dense, ReLU, Sequential, load_digits_split

MPIRUN = shutil.which("mpirun") or shutil.which("mpiexec")


def _mpi_reason():
    """Why the 2-rank test cannot run here, or None. mpi4py's wheel installs without an
    MPI library, so load ``mpi4py.MPI`` in a child process (never MPI_Init in pytest)."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install mpi4py)"
    if MPIRUN is None:
        return "no mpirun/mpiexec on PATH (apt-get install openmpi-bin)"
    probe = subprocess.run([sys.executable, "-c", "from mpi4py import MPI"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"mpi4py cannot load an MPI library: {probe.stderr.strip()[-200:]}"
    return None


class SumOverCopiesComm:
    """Stand-in for an MPI communicator of ``size`` ranks that all hold the same data:
    Allreduce sums ``size`` copies, bcast returns the object."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Allreduce(self, send, recv):
        recv[...] = send * self.size

    def bcast(self, obj, root=0):
        return obj


def model(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([Dense(64, 32, rng=rng), ReLU(), Dense(32, 10, rng=rng)])


def test_shard_interleaves_local_batches():
    x, y = np.arange(50)[:, None] * np.ones((1, 3)), np.arange(50)
    parts = [DataParallel(SumOverCopiesComm(r, 3)).shard(x, y, batch_size=4) for r in range(3)]
    assert [list(p[1][:8]) for p in parts] == [[0, 1, 2, 3, 12, 13, 14, 15],
                                               [4, 5, 6, 7, 16, 17, 18, 19],
                                               [8, 9, 10, 11, 20, 21, 22, 23]]
    assert all(len(p[1]) == 16 for p in parts)  # 50 -> 4 global batches of 12, 2 dropped
    assert np.array_equal(parts[1][0][:, 0], parts[1][1])
    with pytest.raises(ValueError, match="cannot fill one global batch"):
        DataParallel(SumOverCopiesComm(0, 3)).shard(x[:5], y[:5], batch_size=2)
    with pytest.raises(ValueError, match="backend"):
        DataParallel(SumOverCopiesComm(0, 1), backend="gloo")


def test_averaged_identical_gradients_train_like_one_process():
    """Ranks with identical data: the average equals the local gradient, so fit with
    DataParallel follows plain fit bit for bit."""
    x, y, _, _ = load_digits_split()
    x, y = x[:256], y[:256]
    ref, dp_model = model(), model()
    ref.fit(x, y, epochs=2, batch_size=32, optimizer=Adam(0.01), progress=False)
    dp = DataParallel(SumOverCopiesComm(0, 4))
    dp.broadcast_parameters(dp_model)
    dp_model.fit(x, y, epochs=2, batch_size=32, optimizer=Adam(0.01), progress=False,
                 distributed=dp)
    for a, b in zip(ref.params, dp_model.params):
        assert np.array_equal(a, b)
    g = [np.ones(3, np.float32), np.full((2, 2), 2.0)]
    avg = dp.allreduce_grads(g)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(avg, g))


WORKER = textwrap.dedent("""
    import sys

    import numpy as np
    from blasfast.nn import SGD, DataParallel, Dense, ReLU, Sequential, load_digits_split

    x, y, _, _ = load_digits_split()
    x, y = x[:512], y[:512]
    rng = np.random.default_rng(123 + DataParallel().rank)  # different starts on purpose
    model = Sequential([Dense(64, 32, rng=rng), ReLU(), Dense(32, 10, rng=rng)])
    dp = DataParallel()
    dp.broadcast_parameters(model)
    xs, ys = dp.shard(x, y, batch_size=16)
    model.fit(xs, ys, epochs=3, batch_size=16, shuffle=False, progress=False,
              optimizer=SGD(0.05, momentum=0.9, weight_decay=1e-4, nesterov=True),
              distributed=dp)
    if dp.rank == 0:
        np.savez(sys.argv[1], *model.params)
    else:
        np.savez(sys.argv[1] + ".rank1.npz", *model.params)
""")


def test_two_mpi_ranks_match_one_process_on_the_concatenated_batch(tmp_path):
    reason = _mpi_reason()
    if reason:
        pytest.skip(f"needs mpi4py with an MPI and mpirun: {reason}")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "rank0.npz"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [MPIRUN, "-n", "2"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    proc = subprocess.run(cmd + [sys.executable, str(script), str(out)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = np.load(out)
    other = np.load(str(out) + ".rank1.npz")
    # one process, batch 32 = the two ranks' batches of 16 concatenated, rank 0's start
    x, y, _, _ = load_digits_split()
    rng = np.random.default_rng(123)
    ref = Sequential([Dense(64, 32, rng=rng), ReLU(), Dense(32, 10, rng=rng)])
    ref.fit(x[:512], y[:512], epochs=3, batch_size=32, shuffle=False, progress=False,
            optimizer=SGD(0.05, momentum=0.9, weight_decay=1e-4, nesterov=True))
    for i, p in enumerate(ref.params):
        a, b = got[f"arr_{i}"], other[f"arr_{i}"]
        assert np.array_equal(a, b)  # the ranks agree exactly
        # up to summation order: mean of two half-batch means vs one mean, 48 steps
        assert np.linalg.norm(a - p) <= 1e-5 * np.linalg.norm(p)
