"""``python -m blasfast.kernels check [--arch 80 90] [--family NAME ...]``."""

import argparse
import sys

from . import _check, _compile


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m blasfast.kernels",
        description="Compile every blasfast kernel instantiation with NVRTC (no GPU "
                    "needed) and report registers, shared memory and spills.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="compile all kernel families")
    p.add_argument("--arch", type=int, nargs="+", default=list(_compile.CHECK_ARCHS),
                   help="compute capabilities to build for (default: 80 90)")
    p.add_argument("--family", nargs="+", default=None, help="only these families")
    args = parser.parse_args(argv)

    try:
        major, minor = _check.nvrtc_version()
        reports, errors = _check.check(tuple(args.arch), args.family)
    except _check.CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"NVRTC {major}.{minor}; options: {' '.join(_compile.nvrtc_options('XX'))}")
    if reports:
        print(_check.format_table(reports))
    spills = [r for r in reports if r.spill_stores or r.spill_loads]
    n_fam = len({r.family for r in reports})
    print(f"\n{len(reports)} kernels compiled in {n_fam} families for "
          f"{', '.join(f'sm_{a}' for a in args.arch)}; {len(spills)} spill registers; "
          f"{len(errors)} failed")
    for e in errors:
        print(f"\nFAILED: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
