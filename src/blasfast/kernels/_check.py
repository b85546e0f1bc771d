"""Compile every declared kernel instantiation for sm_80 and sm_90 with NVRTC, no GPU needed.

Uses NVRTC through ``cuda-bindings`` (CuPy's own compile path asks the device for its
architecture, so it cannot run without a GPU) with :func:`_compile.nvrtc_options`, the
options the runtime uses, plus ``--ptxas-options=-v`` to read registers, shared memory
and spills from ptxas' report.
"""

import dataclasses
import re

from . import _compile

_ENTRY = re.compile(r"Compiling entry function '(\S+)' for 'sm_(\d+)'")
_SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")


@dataclasses.dataclass
class KernelReport:
    """ptxas' resource report for one instantiation on one architecture."""

    family: str
    name_expression: str
    arch: int
    registers: int = -1
    smem_bytes: int = -1
    stack_bytes: int = -1
    spill_stores: int = -1
    spill_loads: int = -1


class CheckError(RuntimeError):
    """A family failed to compile, or an instantiation produced no kernel."""


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CheckError(
            "the kernel check needs NVRTC's Python bindings: pip install "
            "'cuda-bindings>=13' 'nvidia-cuda-nvrtc>=13' (both are in blasfast[test])"
        ) from exc
    return nvrtc


def _ok(nvrtc, result, what):
    err = result[0]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise CheckError(f"{what}: {err.name}")
    return result[1:] if len(result) > 2 else (result[1] if len(result) == 2 else None)


def nvrtc_version():
    """The NVRTC version used by the check, as ``(major, minor)``."""
    nvrtc = _nvrtc()
    _, major, minor = nvrtc.nvrtcVersion()
    return int(major), int(minor)


def compile_family(fam, arch):
    """Compile one family for ``sm_<arch>``; return a list of :class:`KernelReport`.

    Raises
    ------
    CheckError
        With NVRTC's log, if the source does not compile or an instantiation is missing.
    """
    return compile_source(fam, fam.code(), arch, _compile.runtime_options())


def compile_source(fam, code, arch, options):
    """Compile ``code`` with ``fam``'s name expressions for ``sm_<arch>`` with the runtime
    ``options`` (plus what CuPy adds, the architecture and ptxas' report); return a list of
    :class:`KernelReport`. Raises :class:`CheckError` as :func:`compile_family`."""
    nvrtc = _nvrtc()
    prog = _ok(nvrtc, nvrtc.nvrtcCreateProgram(code.encode(), fam.source.encode(),
                                               0, [], []), "nvrtcCreateProgram")
    try:
        for expr in fam.name_expressions:
            _ok(nvrtc, nvrtc.nvrtcAddNameExpression(prog, expr.encode()),
                f"nvrtcAddNameExpression({expr})")
        opts = [o.encode() for o in (*options, *_compile.CUPY_ADDED_OPTIONS,
                                     f"-arch=sm_{arch}", "--ptxas-options=-v")]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        size = _ok(nvrtc, nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, log)
        log = log.decode(errors="replace").rstrip("\x00 \n")
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise CheckError(f"{fam.name} ({fam.source}) failed to compile for sm_{arch}: "
                             f"{err.name}\n{log}")
        lowered = {}
        for expr in fam.name_expressions:
            name = _ok(nvrtc, nvrtc.nvrtcGetLoweredName(prog, expr.encode()),
                       f"nvrtcGetLoweredName({expr})")
            lowered[name.decode()] = expr
        return _parse_ptxas(fam.name, arch, log, lowered)
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _parse_ptxas(family, arch, log, lowered):
    reports = {}
    current = None
    for line in log.splitlines():
        m = _ENTRY.search(line)
        if m:
            current = reports.setdefault(m.group(1), KernelReport(
                family, lowered.get(m.group(1), m.group(1)), arch))
            continue
        if current is None:
            continue
        m = _SPILL.search(line)
        if m:
            current.stack_bytes, current.spill_stores, current.spill_loads = map(int, m.groups())
        m = _REGS.search(line)
        if m:
            current.registers = int(m.group(1))
            s = _SMEM.search(line)
            current.smem_bytes = int(s.group(1)) if s else 0
    missing = [expr for name, expr in lowered.items() if name not in reports]
    if missing:
        raise CheckError(f"{family}: ptxas produced no kernel for {missing} on sm_{arch}")
    return [reports[name] for name in lowered]


def check(archs=_compile.CHECK_ARCHS, family_names=None):
    """Compile all declared families; return ``(reports, errors)``."""
    import blasfast  # noqa: F401  (importing the ops declares their kernel families)

    fams = _compile.families()
    if family_names:
        unknown = sorted(set(family_names) - set(fams))
        if unknown:
            raise CheckError(f"unknown kernel families {unknown}; declared: {sorted(fams)}")
        fams = {k: fams[k] for k in family_names}
    reports, errors = [], []
    for fam in fams.values():
        for arch in archs:
            try:
                reports.extend(compile_family(fam, arch))
            except CheckError as exc:
                errors.append(str(exc))
    return reports, errors


def format_table(reports):
    """A plain-text table: one row per (instantiation, architecture)."""
    head = ("family", "instantiation", "arch", "regs", "smem B", "stack B", "spill st",
            "spill ld")
    rows = [(r.family, r.name_expression, f"sm_{r.arch}", str(r.registers),
             str(r.smem_bytes), str(r.stack_bytes), str(r.spill_stores), str(r.spill_loads))
            for r in reports]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cols: "  ".join(c.ljust(w) for c, w in zip(cols, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])
