"""bench/report.py: markdown table and PNG plots from a pytest-benchmark JSON.

Every number below is a SYNTHETIC FIXTURE written by this test to exercise the report's
parsing and formatting -- it is not a measurement of anything, on any machine.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
REPORT = ROOT / "bench" / "report.py"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("bench_report", REPORT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _entry(group, impl, ms, *, precision="float64", n=None, mnk=None, batch=100,
           kind="square", speedup=None, rel_error=1e-16, note=None):
    """One pytest-benchmark entry, shaped as bench/bench_gemm.py records it (FAKE values)."""
    shape = f"{batch} x {n}x{n}x{n}" if n else f"{batch} x {'x'.join(map(str, mnk))}"
    gflops = 2.0 * batch * (n**3 if n else mnk[0] * mnk[1] * mnk[2]) / (ms * 1e-3) / 1e9
    info = dict(impl=impl, kind=kind, dtype=precision.split("/")[0], precision=precision,
                batch=batch, shape=shape, median_ms=ms, gflops=gflops, gbs=gflops / 2,
                roofline_gflops=4.0 * gflops, pct_of_roofline=25.0, rel_error=rel_error)
    if n:
        info["n"] = n
    else:
        info["mnk"] = list(mnk)
    if speedup is not None:
        info.update(speedup=speedup, baseline="cupy.matmul")
    if note:
        info["note"] = note
    return {"group": group, "name": f"test_x[{impl}-{n or mnk}]", "fullname": "bench::x",
            "params": None, "stats": {"median": ms * 1e-3, "min": ms * 1e-3, "rounds": 3},
            "extra_info": info}


@pytest.fixture
def results(tmp_path):
    """A SYNTHETIC pytest-benchmark JSON (fixture data, not a measurement)."""
    benches = []
    for n in (2, 8, 32):
        g = f"batched_gemm square float64 n={n}"
        benches.append(_entry(g, "cupy.matmul", 1.0 * n, n=n))
        benches.append(_entry(g, "blasfast", 0.5 * n, n=n, speedup=2.0))
    for n in (8, 32):
        g = f"batched_gemm square float16/float32 n={n}"
        benches.append(_entry(g, "torch.bmm", 1.0, precision="float16/float32", n=n,
                              rel_error=2e-4, note="FAKE note"))
        benches.append(_entry(g, "blasfast", 0.25, precision="float16/float32", n=n,
                              speedup=4.0, rel_error=3e-8))
    g = "batched_gemm vgg16-winograd float32 64 x 12544x64x3"
    benches.append(_entry(g, "cupy.matmul", 3.0, precision="float32", mnk=(12544, 64, 3),
                          batch=64, kind="vgg16-winograd"))
    # an entry without extra_info: the report falls back to pytest-benchmark's median
    benches.append({"group": "plain", "name": "test_plain", "fullname": "bench::plain",
                    "stats": {"median": 0.002, "rounds": 5}, "extra_info": {}})
    data = {
        "machine_info": {"python_version": "3.12.0", "cpu": {"brand_raw": "FAKE CPU"}},
        "commit_info": {"id": "0" * 40, "dirty": False},
        "datetime": "2000-01-01T00:00:00",
        "version": "5.1.0",
        "benchmarks": benches,
        "blasfast_env": {"gpu_name": "FAKE GPU", "compute_capability": "90",
                         "cuda_driver": 13000, "cuda_runtime": 12090, "cupy": "14.0.0",
                         "commit": "abc1234", "date": "2000-01-02", "blasfast": "0.1.0"},
    }
    path = tmp_path / "2000-01-02-fake-gemm.json"
    path.write_text(json.dumps(data))
    return path, data


def _table(md_text):
    lines = [ln for ln in md_text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    body = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    return header, body


def test_table_rows_columns_and_header(report, results, tmp_path):
    path, data = results
    out = tmp_path / "out"
    assert report.main([str(path), "--out", str(out)]) == 0
    md = (out / f"{path.stem}.md").read_text()
    header, body = _table(md)
    assert header == ["group", "shape", "dtype", "impl", "median ms", "GFLOP/s", "GB/s",
                      "% roofline", "speedup", "rel. error"]
    assert len(body) == len(data["benchmarks"])
    assert all(len(r) == len(header) for r in body)
    rows = {(r[0], r[3]): dict(zip(header, r)) for r in body}
    bf8 = rows[("batched_gemm square float64 n=8", "blasfast")]
    assert bf8["shape"] == "100 x 8x8x8"
    assert bf8["dtype"] == "float64"
    assert bf8["median ms"] == "4"
    assert bf8["speedup"] == "2.00x"
    assert bf8["rel. error"] == "1.00e-16"
    assert bf8["% roofline"] == "25"
    assert float(bf8["GFLOP/s"]) == pytest.approx(2.0 * 100 * 8**3 / 4e-3 / 1e9, rel=1e-3)
    base = rows[("batched_gemm square float64 n=8", "cupy.matmul")]
    assert base["speedup"] == "—"
    vgg = rows[("batched_gemm vgg16-winograd float32 64 x 12544x64x3", "cupy.matmul")]
    assert vgg["shape"] == "64 x 12544x64x3"
    plain = rows[("plain", "test_plain")]
    assert plain["median ms"] == "2" and plain["GFLOP/s"] == "—"
    # rows of one group stay together, in the order the groups first appear
    groups = [r[0] for r in body]
    assert groups.index("batched_gemm square float64 n=32") < groups.index("plain")
    # environment header from blasfast_env
    assert "FAKE GPU (sm_90)" in md
    assert "**driver**: 13.0" in md and "**CUDA runtime**: 12.9" in md
    assert "**CuPy**: 14.0.0" in md and "abc1234" in md and "2000-01-02" in md
    assert "FAKE note" in md


def test_png_per_precision(report, results, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: no plots to check")
    path, _ = results
    out = tmp_path / "plots"
    assert report.main([str(path), "--out", str(out)]) == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    # square cases only: one plot per precision, none for the VGG or plain entries
    assert pngs == [f"{path.stem}-float16-float32.png", f"{path.stem}-float64.png"]
    for name in pngs:
        blob = (out / name).read_bytes()
        assert len(blob) > 1000 and blob[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / f"{path.stem}.md").read_text()
    assert f"({path.stem}-float64.png)" in md


def test_cli_defaults_next_to_the_json(results):
    path, _ = results
    proc = subprocess.run([sys.executable, str(REPORT), str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (path.parent / f"{path.stem}.md").is_file()
    assert str(path.parent / f"{path.stem}.md") in proc.stdout


def test_not_a_benchmark_file(report, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    assert report.main([str(bad)]) == 1
    assert "not a pytest-benchmark JSON" in capsys.readouterr().err
    assert report.main([str(tmp_path / "missing.json")]) == 1
