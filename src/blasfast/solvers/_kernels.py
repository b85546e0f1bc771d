"""Kernel families of the solvers and every instantiation the launchers use (data only).

Declared at import (nothing compiles until a launcher asks; ``python -m blasfast.kernels
check`` compiles them all for sm_80 and sm_90):

================  ======================  ================================================
family            source                  instantiations
================  ======================  ================================================
getrf_panel       getrf_panel.cu          panel LU, T in {float, double}, NB = 32, 256 thr.
getrf_laswp       getrf_laswp.cu          row interchanges, T in {float, double}
trsm_block_row    trsm_block_row.cu       L11^-1 times the block row, T, NB = 32
trsm_refine       trsm_refine.cu          sync-free L / U solves, (TF, TA) in {(f, f),
                                          (f, d), (d, d)}, RB = 64 rows, 256 threads
lu_small_batched  lu_small_batched.cu     fused LU + IR per small system, TF in {float,
                                          double}, NMAX in {4, 8, 16, 32, 64}
================  ======================  ================================================
"""

from ..kernels import _compile

IB = 32                 # panel width of the panel kernel = the trsm_block_row width
PANEL_THREADS = 256
LASWP_THREADS = 256
TRSM_THREADS = 128
TRSV_RB = 64
TRSV_THREADS = 256
SMALL_NMAX = (4, 8, 16, 32, 64)
SMALL_SPB = {4: 32, 8: 16, 16: 8, 32: 4, 64: 1}   # systems per block (128 threads; 64 for 64)

_T = ("float", "double")


def ctype(dtype):
    """The C++ name of a float32/float64 dtype."""
    return {"float32": "float", "float64": "double"}[str(dtype)]


def panel_name(t):
    return f"getrf_panel<{t}, {IB}, {PANEL_THREADS}>"


def laswp_name(t):
    return f"getrf_laswp<{t}, {LASWP_THREADS}>"


def trsm_name(t):
    return f"trsm_block_row<{t}, {IB}, {TRSM_THREADS}>"


def trsv_name(tf, ta, lower):
    return f"trsv_sync_free<{tf}, {ta}, {str(lower).lower()}, {TRSV_RB}, {TRSV_THREADS}>"


def small_name(tf, nmax):
    return f"gesv_small_batched<{tf}, {nmax}, {SMALL_SPB[nmax]}>"


_compile.declare("getrf_panel", "getrf_panel.cu", [panel_name(t) for t in _T])
_compile.declare("getrf_laswp", "getrf_laswp.cu", [laswp_name(t) for t in _T])
_compile.declare("trsm_block_row", "trsm_block_row.cu", [trsm_name(t) for t in _T])
_compile.declare("trsm_refine", "trsm_refine.cu",
                 [trsv_name(tf, ta, lo) for tf, ta in (("float", "float"), ("float", "double"),
                                                       ("double", "double"))
                  for lo in (True, False)])
_compile.declare("lu_small_batched", "lu_small_batched.cu",
                 [small_name(t, m) for t in _T for m in SMALL_NMAX])
