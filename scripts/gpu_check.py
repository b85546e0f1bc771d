"""Run everything that needs a GPU in one go, within a time budget, into a folder.

Usage, from the source tree on a machine where nothing can be installed::

    PYTHONPATH=src python scripts/gpu_check.py OUTDIR [--budget 540] [--mnist DIR]
        [--steps tests,train,bench] [--bench-select headline|all] [--bench FILE ...]
        [--archive PATH.tar.gz]

It runs the source tree's tests (``tests/``) and benchmarks (``bench/``), so it lives beside
them, not in the installed package (a wheel has neither). The tree's ``src`` goes first on
the path of every step it starts, and of the script itself when run as above.

Built for a GPU lent for a few minutes: the whole run fits ``--budget`` seconds (default
540, under a 10-minute command limit), the steps run in order of what a first run must
learn -- are the kernels right, does the main job train, how fast are they -- and every
step leaves what it found on disk even when it is cut off.

1. ``env.json``: GPU name, compute capability, driver and CUDA runtime versions, CuPy,
   NumPy, Python versions, the git commit, the date.
2. The GPU tests on CuPy (``pytest -m 'gpu and not emulator' -v``, in 4 xdist workers where
   pytest-xdist is installed), one subprocess per family of test files
   (:data:`TEST_GROUP_ORDER`: backend and kernels, GEMM, convolution, FFT, nn, solvers, the
   rest), so that a kernel that hangs costs its own family, not the others' results:
   ``tests-<group>.log`` (a line per test as it finishes) and ``tests-<group>.xml``.
3. The main job on the GPU: ``blasfast train --device gpu --mnist DIR`` (the digits data
   when no MNIST folder is found) -> ``train-gpu.log``.
4. The benchmarks: ``--bench-select headline`` (default) runs the cases that
   :data:`HEADLINE_BENCH` names -- one or a few per issue target, each with its vendor
   baseline -- and ``all`` every case of ``--bench`` (default: ``bench``). Results go to
   ``bench.json`` (pytest-benchmark, ``blasfast_env`` added) and, one JSON line per case
   as it finishes, ``bench-cases.jsonl``; ``bench/report.py`` turns ``bench.json`` into
   ``bench.md`` and PNG plots.
5. ``summary.json``: per step the exit code, wall time, log, and for the tests the
   passed/failed/skipped counts (rewritten before every step, ``done`` true at the end).

With ``--archive PATH`` the folder is also packed into one ``.tar.gz`` before every step,
after every test family and at the end, for a lent machine that sends back only a few
files: run with OUTDIR in scratch space and PATH in the folder that comes back.

A step past its share of the budget gets SIGINT (pytest then stops, prints its summary and
writes its JSON/XML), and SIGKILL 15 s later; where pytest-timeout is installed, one GPU
test that runs past 120 s ends its family's run. Exit code 0 only when every step passed.
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[1]     # the source tree: scripts/..

#: Test families, in the order they run: ``tests/test_<group>[_*].py``; files of other
#: groups run last, together.
TEST_GROUP_ORDER = ("backend", "kernels", "gemm", "conv", "fft", "nn", "solvers")

#: The first-run benchmark selection: regular expressions over pytest node ids
#: (``bench/bench_x.py::test_y[params]``, searched; the GEMM ones name their file, as
#: ``bench_gemm.py``, ``bench_gemm_tc.py`` and ``bench_gemm_vbatched.py`` share test
#: names). Each issue's headline targets with every implementation of the case (blasfast
#: and its vendor baselines), so that one short run answers "faster than the vendor where
#: we claim to be?". ``tests/test_gpu_check.py`` checks that every pattern still selects
#: something, from the file it names.
HEADLINE_BENCH = (
    # batched GEMM: tiny/small/medium squares per precision, VGG Winograd and FEM shapes,
    # variable sizes
    r"bench_gemm\.py::test_batched_gemm_square\[float(64|32)-(4x4x4|32x32x32|128x128x128)-",
    r"bench_gemm_tc\.py::test_batched_gemm_square\[(float16|bfloat16)-float32-"
    r"(16x16x16|64x64x64|256x256x256)-",
    r"bench_gemm_tc\.py::test_batched_gemm_square\[float32-tf32-64x64x64-",
    r"bench_gemm(_tc)?\.py::test_batched_gemm_vgg16_winograd\[(float16-)?float32-12544x64x64-",
    r"bench_gemm\.py::test_batched_gemm_fem\[",
    r"bench_gemm_vbatched\.py::test_gemm_vbatched\[float64-",
    # Winograd convolution: the batch-64 forward targets, one dgrad/wgrad layer
    r"test_vgg16_forward\[C(256-56x56|512-28x28)-64-",
    r"test_vgg16_backward\[C256-56x56-",
    # split-FP16 FFT and FFT convolution
    r"test_fft\[fft-complex64-n=4096-",
    r"test_fft\[fft2-complex64-n=1024-",
    r"test_fftconvolve\[k15-",
    # mixed-precision solver: dense, and many small systems
    r"test_solve_dense\[(4096|16384)-100\.0\]",
    r"test_solve_stacked_small\[(3-1000000|16-100000)\]",
)

#: The GPU tests' selection on a real GPU: the CuPy variants, not the emulator's (those
#: run in CI; on the lent machine they would spend its minutes on the CPU).
GPU_MARKS = "gpu and not emulator"

_CAPS = {"tests": 240, "train": 90, "bench": 360}   # seconds, before the budget's cut
_MIN_SHARE = 20      # seconds kept for every later step or test family
_GRACE = 15          # seconds between SIGINT and SIGKILL
_TEST_TIMEOUT = 120  # seconds for one GPU test, where pytest-timeout is installed


def _git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment():
    """Facts that identify a result: GPU, driver, CUDA, library versions, commit, date."""
    import blasfast

    env = blasfast.info()
    env["commit"] = os.environ.get("BLASFAST_COMMIT") or _git_commit()
    env["date"] = datetime.date.today().isoformat()
    return env


def test_groups(tests_dir):
    """``[(group, [files])]`` in :data:`TEST_GROUP_ORDER`, the unmatched files last."""
    files = sorted(p.relative_to(ROOT).as_posix()
                   for p in pathlib.Path(tests_dir).glob("test_*.py"))
    groups = {g: [] for g in TEST_GROUP_ORDER}
    rest = []
    for f in files:
        head = pathlib.PurePosixPath(f).stem[len("test_"):].split("_")[0]
        (groups[head] if head in groups else rest).append(f)
    out = [(g, fs) for g, fs in groups.items() if fs]
    return out + ([("other", rest)] if rest else [])


def select_headline(node_ids, patterns=HEADLINE_BENCH):
    """The node ids that any of ``patterns`` finds (``re.search``): those of the first
    pattern first (GEMM, which everything else stands on), each pattern's in the given
    order, none twice."""
    chosen = {}
    for p in patterns:
        r = re.compile(p)
        chosen.update((n, None) for n in node_ids if n not in chosen and r.search(n))
    return list(chosen)


def _collect(files, py):
    res = subprocess.run([py, "-m", "pytest", *files, "--collect-only", "-q"], cwd=ROOT,
                         capture_output=True, text=True, env=_env(), timeout=120)
    return [ln.strip() for ln in res.stdout.splitlines() if "::" in ln]


def _env(**extra):
    return dict(os.environ, PYTHONUNBUFFERED="1", **extra,
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                         os.environ.get("PYTHONPATH")])))


class Budget:
    """Seconds left of the run, and the share a step may take of them."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def share(self, cap, later=0):
        """At most ``cap`` seconds, keeping :data:`_MIN_SHARE` for each of ``later`` steps."""
        return max(0.0, min(cap, self.left() - _MIN_SHARE * later))


def _run(name, cmd, outdir, timeout, summary, env=None):
    """Run ``cmd`` with its output in ``outdir/name.log``; SIGINT at ``timeout``."""
    print(f"== {name} (limit {timeout:.0f} s): {' '.join(map(str, cmd))}", flush=True)
    log = outdir / f"{name}.log"
    t0 = time.perf_counter()
    if timeout < 1:
        rc = 124
        log.write_text(f"[gpu_check] {name} not run: the time budget is spent\n")
    else:
        with open(log, "w") as f:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                    env=env or _env(), start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=_GRACE)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                rc = 124
                f.write(f"\n[gpu_check] {name} stopped after {timeout:.0f} s\n")
    dt = time.perf_counter() - t0
    summary[name] = {"returncode": rc, "seconds": round(dt, 1), "log": log.name}
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    print(f"   rc={rc} in {dt:.1f} s :: " + " | ".join(tail), flush=True)
    return rc


def junit_counts(path):
    """``{'tests', 'failures', 'errors', 'skipped'}`` summed over a JUnit XML file's
    test suites; None when the file is missing or unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    return {k: sum(int(s.get(k, 0)) for s in suites)
            for k in ("tests", "failures", "errors", "skipped")}


def _xdist_options(workers=4):
    """pytest-xdist's options when it is installed (the GPU machine has it): the tests of a
    family run in ``workers`` processes that share the GPU (they are small; NVRTC's
    compilations and the host-side references are what take the time)."""
    import importlib.util

    if importlib.util.find_spec("xdist") is None:
        return []
    return ["-n", str(workers)]


def _timeout_options():
    """pytest-timeout's options when it is installed (the GPU machine has it): a test that
    hangs -- a kernel that never returns -- ends its family's run after 120 s (the thread
    method ends the process even inside a CUDA call), instead of its whole share."""
    import importlib.util

    if importlib.util.find_spec("pytest_timeout") is None:
        return []
    return [f"--timeout={_TEST_TIMEOUT}", "--timeout-method=thread"]


def _tests(out, budget, summary, py, later, after_each):
    groups = test_groups(ROOT / "tests")
    stop = time.monotonic() + budget.share(_CAPS["tests"], later)
    for i, (group, files) in enumerate(groups):
        left = stop - time.monotonic() - _MIN_SHARE * (len(groups) - i - 1)
        xml = out / f"tests-{group}.xml"
        rc = _run(f"tests-{group}", [py, "-m", "pytest", "-m", GPU_MARKS, *files, "-v",
                                     "-rs", "--durations=10", "-p", "no:cacheprovider",
                                     *_timeout_options(), *_xdist_options(),
                                     f"--junitxml={xml}"],
                  out, max(0.0, left), summary)
        if rc == 5:  # pytest: no tests collected (a family without GPU tests)
            summary[f"tests-{group}"]["returncode"] = 0
        summary[f"tests-{group}"]["counts"] = junit_counts(xml)
        after_each()


def _bench(out, budget, summary, py, args, env_info):
    files = args.bench
    bench_json, cases_jsonl = out / "bench.json", out / "bench-cases.jsonl"
    if args.bench_select == "headline":
        ids = select_headline(_collect(files, py))
        (out / "bench-selected.txt").write_text("\n".join(ids) + "\n")
        print(f"   {len(ids)} headline benchmark cases", flush=True)
        files = ids or files
    cmd = [py, "-m", "pytest", *files, "--benchmark-only", "-v", "-rs",
           "-p", "no:cacheprovider", f"--benchmark-json={bench_json}"]
    _run("bench", cmd, out, budget.share(_CAPS["bench"], 0), summary,
         env=_env(BLASFAST_BENCH_JSONL=str(cases_jsonl)))
    if bench_json.exists():
        data = json.loads(bench_json.read_text())
        data["blasfast_env"] = env_info
        bench_json.write_text(json.dumps(data, indent=1, default=str))
        _run("report", [py, str(ROOT / "bench" / "report.py"), str(bench_json), "--out",
                        str(out)], out, 60, summary)


def write_archive(outdir, path):
    """Pack ``outdir`` into the gzipped tar ``path`` (written beside it, then renamed, so
    that a run killed mid-write leaves the previous archive whole)."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(outdir, arcname=pathlib.Path(outdir).name or "gpu_check")
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python scripts/gpu_check.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", type=pathlib.Path, help="folder for logs and JSON results")
    p.add_argument("--budget", type=float, default=540.0,
                   help="seconds for the whole run (default 540)")
    p.add_argument("--mnist", type=pathlib.Path, default=ROOT.parent / "shared/data/mnist",
                   help="folder with the four MNIST IDX files (default: ../shared/data/mnist)")
    p.add_argument("--steps", default="tests,train,bench",
                   help="comma-separated subset of tests,train,bench, run in that order "
                        "(default: all)")
    p.add_argument("--bench", nargs="+", default=["bench"],
                   help="benchmark files or folders (default: bench)")
    p.add_argument("--bench-select", choices=("headline", "all"), default="headline",
                   help="the headline cases (default) or every case of --bench")
    p.add_argument("--archive", type=pathlib.Path, default=None,
                   help="also pack OUTDIR into this .tar.gz after every step (for a "
                        "machine that sends back only a few files)")
    args = p.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(_CAPS)
    if unknown:
        p.error(f"unknown steps {sorted(unknown)}")
    budget = Budget(args.budget)
    out = args.outdir
    out.mkdir(parents=True, exist_ok=True)

    env = environment()
    (out / "env.json").write_text(json.dumps(env, indent=2, default=str))
    print(json.dumps(env, indent=2, default=str), flush=True)
    summary = {}
    py = sys.executable
    order = [s for s in ("tests", "train", "bench") if s in steps]

    def save(done):
        (out / "summary.json").write_text(json.dumps(
            {"env": env, "steps": summary, "done": done}, indent=2, default=str))
        if args.archive:
            write_archive(out, args.archive)

    for i, step in enumerate(order):
        save(False)
        later = len(order) - i - 1
        if step == "tests":
            _tests(out, budget, summary, py, later, lambda: save(False))
        elif step == "train":
            train = [py, "-m", "blasfast.cli", "train", "--device", "gpu", "--no-progress"]
            if (args.mnist / "train-images-idx3-ubyte.gz").exists():
                train += ["--mnist", str(args.mnist)]
            _run("train-gpu", train, out, budget.share(_CAPS["train"], later), summary)
        else:
            _bench(out, budget, summary, py, args, env)
    save(True)
    failed = [k for k, v in summary.items() if v["returncode"] != 0]
    print("all steps passed" if not failed else f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    if str(ROOT / "src") not in sys.path:      # the tree's blasfast, PYTHONPATH=src or not
        sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
