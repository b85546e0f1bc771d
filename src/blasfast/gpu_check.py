"""Run everything that needs a GPU in one go and write the results into a folder.

Usage, from the source tree on a machine where nothing can be installed::

    PYTHONPATH=src python -m blasfast.gpu_check OUTDIR [--mnist DIR] [--steps tests,bench,train]
        [--bench bench/bench_gemm.py ...] [--quick]

Steps (each in a subprocess, each with a time limit, all logged):

1. ``env.json``: GPU name, compute capability, driver and CUDA runtime versions, CuPy,
   NumPy, Python versions, the git commit, the date;
2. the GPU tests: ``pytest -m gpu tests`` -> ``gpu-tests.log``, ``gpu-tests.xml``;
3. the benchmarks: ``pytest bench --benchmark-only --benchmark-json`` -> ``bench.json``
   (with ``env`` merged in) and ``bench.log``, then ``bench/report.py`` -> ``bench.md`` and
   one PNG plot per precision;
4. the main job on the GPU: ``blasfast train --device gpu --mnist DIR`` (the digits data
   when no MNIST folder is found) -> ``train-gpu.log``;
5. ``summary.json``: exit code and wall time of every step.

Exit code 0 only when every step passed. Each step has its own time limit (tests 240 s,
benchmarks 300 s, training 120 s) so that the whole run stays under 10 minutes on an H200;
``--steps`` and ``--bench`` split a run into several shorter ones.
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


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


def _run(name, cmd, outdir, timeout, summary):
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    log = outdir / f"{name}.log"
    envvars = dict(os.environ, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                            os.environ.get("PYTHONPATH")])))
    t0 = time.perf_counter()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                env=envvars, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
            f.write(f"\n[gpu_check] {name} stopped after {timeout} s\n")
    dt = time.perf_counter() - t0
    summary[name] = {"returncode": rc, "seconds": round(dt, 1), "log": log.name}
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    print(f"   rc={rc} in {dt:.1f} s :: " + " | ".join(tail), flush=True)
    return rc


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m blasfast.gpu_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", type=pathlib.Path, help="folder for logs and JSON results")
    p.add_argument("--mnist", type=pathlib.Path, default=ROOT.parent / "shared/data/mnist",
                   help="folder with the four MNIST IDX files (default: ../shared/data/mnist)")
    p.add_argument("--steps", default="tests,bench,train",
                   help="comma-separated subset of tests,bench,train (default: all)")
    p.add_argument("--bench", nargs="+", default=["bench"],
                   help="benchmark files or folders (default: bench)")
    p.add_argument("--quick", action="store_true", help="fewer benchmark rounds")
    args = p.parse_args(argv)
    steps = set(args.steps.split(","))
    unknown = steps - {"tests", "bench", "train"}
    if unknown:
        p.error(f"unknown steps {sorted(unknown)}")
    out = args.outdir
    out.mkdir(parents=True, exist_ok=True)

    env = environment()
    (out / "env.json").write_text(json.dumps(env, indent=2, default=str))
    print(json.dumps(env, indent=2, default=str), flush=True)
    summary = {}
    py = sys.executable
    if "tests" in steps:
        _run("gpu-tests", [py, "-m", "pytest", "-m", "gpu", "tests", "-q", "-rs", "--maxfail=100",
                           f"--junitxml={out / 'gpu-tests.xml'}"], out, 240, summary)
    if "bench" in steps:
        bench_json = out / "bench.json"
        bench_cmd = [py, "-m", "pytest", *args.bench, "--benchmark-only", "-q",
                     f"--benchmark-json={bench_json}"]
        if args.quick:
            bench_cmd += ["--benchmark-max-time=0.2"]
        _run("bench", bench_cmd, out, 300, summary)
        if bench_json.exists():
            data = json.loads(bench_json.read_text())
            data["blasfast_env"] = env
            bench_json.write_text(json.dumps(data, indent=1, default=str))
            _run("report", [py, str(ROOT / "bench" / "report.py"), str(bench_json), "--out",
                            str(out)], out, 60, summary)
    if "train" in steps:
        train = [py, "-m", "blasfast.cli", "train", "--device", "gpu", "--no-progress"]
        if (args.mnist / "train-images-idx3-ubyte.gz").exists():
            train += ["--mnist", str(args.mnist)]
        _run("train-gpu", train, out, 120, summary)
    (out / "summary.json").write_text(json.dumps({"env": env, "steps": summary}, indent=2,
                                                 default=str))
    failed = [k for k, v in summary.items() if v["returncode"] != 0]
    print("all steps passed" if not failed else f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
