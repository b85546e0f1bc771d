// Fused LU + solve + iterative refinement for stacks of small systems (n <= NMAX <= 64):
// the MAGMA batched-small design (one thread per row, several systems per block, the whole
// factorization on chip), extended with the refinement of the mixed-precision solver.
//
// Per system (A: n x n, B, X: n x nrhs, all float64, contiguous stacks):
//   LU with partial pivoting in TF arithmetic (float: a single FP32 panel, which is what the
//   blocked algorithm is for n <= its block size; double: the FP64 solve and fallback);
//   then for each right-hand side: x = LU \ b, and while the dsgesv test
//   ||b - A x||_inf <= tolfac * ||A||_inf * ||x||_inf fails: r = b - A x in float64 (A
//   re-read from global memory, where L1/L2 still hold it), d = LU \ r (r scaled by a
//   power of two first), x += d (float64);
//   at most max_iter corrections, stop early after 3 steps without improvement; the best
//   iterate is kept.
// Outputs per system: code = corrections (max over right-hand sides) when every column
// converged, -2 an entry overflowed converting to TF, -3 zero or non-finite pivot, -31 no
// convergence; iters; ber = final max_j ||r_j|| / (||A|| ||x_j||); minpiv = min |u_jj|
// (NaN when a pivot was NaN).
//
// The factors live in shared memory (TF, row i owned by thread i, padded rows: no bank
// conflicts). Rows are not physically interchanged: the thread that owns the pivot row
// records its position and stops eliminating; the others read the pivot row in place (a
// broadcast). Row i then holds multipliers before its position and its row of U after.
// Group reductions are warp shuffles of width NMAX (two warps and shared memory for
// NMAX = 64). The matrix is loaded once, coalesced. Systems t < count, stored at index sys[t] of the stacks.
// Grid (ceil(count / SPB)), block NMAX * SPB.
#include "getrf_common.cuh"

#define BF_INF __longlong_as_double(0x7ff0000000000000LL)
#define BF_NAN __longlong_as_double(0x7ff8000000000000LL)

__device__ __forceinline__ double nan_max(double a, double b)
{   // max that propagates NaN (so a NaN residual is never mistaken for convergence)
    return (a != a || b != b) ? BF_NAN : fmax(a, b);
}

// Max over the G threads of a system (G = NMAX); all threads of the block must call it.
template <int G>
__device__ __forceinline__ double group_max(double v, double* scratch)
{
    constexpr int W = G < 32 ? G : 32;
#pragma unroll
    for (int off = W / 2; off > 0; off >>= 1)
        v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, off, W));
    if constexpr (G > 32) {      // G == 64: one system per block, two warps
        if ((threadIdx.x & 31) == 0) scratch[threadIdx.x / 32] = v;
        __syncthreads();
        v = nan_max(scratch[0], scratch[1]);
        __syncthreads();
    }
    return v;
}

template <int G, typename T>
__device__ __forceinline__ void group_argmax(T& v, int& idx, T* sv, int* si)
{
    constexpr int W = G < 32 ? G : 32;
#pragma unroll
    for (int off = W / 2; off > 0; off >>= 1) {
        const T ov = __shfl_xor_sync(0xffffffffu, v, off, W);
        const int oi = __shfl_xor_sync(0xffffffffu, idx, off, W);
        if (ov > v || (ov == v && oi < idx)) { v = ov; idx = oi; }
    }
    if constexpr (G > 32) {
        if ((threadIdx.x & 31) == 0) { sv[threadIdx.x / 32] = v; si[threadIdx.x / 32] = idx; }
        __syncthreads();
        const bool second = sv[1] > sv[0] || (sv[1] == sv[0] && si[1] < si[0]);
        v = second ? sv[1] : sv[0];
        idx = second ? si[1] : si[0];
        __syncthreads();
    }
}

__device__ __forceinline__ double pow2_above(double m)
{   // 2**e with m / 2**e in [0.5, 1); 1 for m == 0 or non-finite
    int e;
    frexp(m, &e);
    return (m > 0 && isfinite(m)) ? ldexp(1.0, e) : 1.0;
}

// Solve with the factors in shared memory (this thread's row of L and U in lurow):
// input rhs (this thread's row, unpermuted), output x_c in out[c] (shared,
// column-indexed). All threads of the block must call it.
template <typename TF, int NMAX>
__device__ __forceinline__ void lu_apply(const TF* lurow, int pos, int n, TF rhs, TF* out)
{
    TF acc = rhs;
    for (int q = 0; q < n; ++q) {                   // L y = P rhs, y by position
        if (pos == q) out[q] = acc;
        __syncthreads();
        if (pos > q && pos < NMAX) acc = fma(-lurow[q], out[q], acc);
    }
    __syncthreads();
    for (int c = n - 1; c >= 0; --c) {              // U x = y, x by column
        if (pos == c) out[c] = acc / lurow[c];
        __syncthreads();
        if (pos < c) acc = fma(-lurow[c], out[c], acc);
    }
    __syncthreads();
}

template <typename TF, int NMAX, int SPB>
__global__ void __launch_bounds__(NMAX * SPB, 1)
gesv_small_batched(int n, int nrhs, long long count, const long long* __restrict__ sys,
                   const double* __restrict__ A, const double* __restrict__ B,
                   double* __restrict__ X, int max_iter, double tolfac,
                   int* __restrict__ code, int* __restrict__ iters, double* __restrict__ ber,
                   double* __restrict__ minpiv)
{
    constexpr int THREADS = NMAX * SPB;
    __shared__ TF sLU[SPB][NMAX][NMAX + 1];         // rows stay where they are loaded
    __shared__ TF sbuf[SPB][NMAX];                  // solve values
    __shared__ double sx[SPB][NMAX];                // the float64 iterate, column-indexed
    __shared__ int sover[SPB];
    __shared__ TF sv[THREADS / 32 + 1];
    __shared__ int si[THREADS / 32 + 1];
    __shared__ double sd[THREADS / 32 + 1];

    const int g = threadIdx.x / NMAX;
    const int i = threadIdx.x % NMAX;
    const long long t = (long long)blockIdx.x * SPB + g;
    const bool live = t < count;
    const long long s = live ? sys[t] : 0;
    const bool row = live && i < n;
    const double* As = A + s * n * n;

    if (i == 0) sover[g] = 0;
    __syncthreads();
    for (int gg = 0; gg < SPB; ++gg) {              // coalesced load of the block's systems
        const long long tt = (long long)blockIdx.x * SPB + gg;
        if (tt >= count) break;
        const double* src = A + sys[tt] * n * n;
        for (int e = threadIdx.x; e < n * n; e += THREADS) {
            const double a = src[e];
            const TF v = TF(a);
            if (isinf(v) && !isinf(a)) sover[gg] = 1;
            sLU[gg][e / n][e % n] = v;
        }
    }
    __syncthreads();
    TF* lurow = sLU[g][i];
    double rowsum = 0.0;
    if (row)
        for (int c = 0; c < n; ++c) rowsum += fabs(As[(long long)i * n + c]);
    const double anorm = group_max<NMAX>(rowsum, sd);
    const bool overflow = sover[g] != 0;

    int pos = NMAX;                                  // position of this row in P A
    bool breakdown = false;
    double mp = BF_INF;
    for (int j = 0; j < n; ++j) {
        // A NaN candidate counts as +inf: the butterfly's comparisons are then a total
        // order, every lane picks the same pivot row and sees the same (non-finite) pivot.
        TF v = (row && pos == NMAX) ? abs_val(lurow[j]) : TF(-1);
        if (v != v) v = TF(BF_INF);
        int p = (row && pos == NMAX) ? i : 0x7fffffff;
        group_argmax<NMAX>(v, p, sv, si);
        if (i == p) pos = j;
        const TF piv = p == 0x7fffffff ? TF(0) : sLU[g][p][j];
        mp = piv != piv ? BF_NAN : fmin(mp, (double)abs_val(piv));   // NaN stays NaN
        if (!(piv != TF(0)) || !isfinite(piv)) breakdown = true;
        if (row && pos == NMAX && piv != TF(0)) {
            const TF l = lurow[j] * (TF(1) / piv);
            lurow[j] = l;
            for (int c = j + 1; c < n; ++c) lurow[c] = fma(-l, sLU[g][p][c], lurow[c]);
        }
        __syncthreads();
    }
    const bool failed_all = overflow || breakdown || !live;
    int worst = 0;
    double ber_max = 0.0;
    bool all_conv = true;

    for (int col = 0; col < nrhs; ++col) {
        const double b = row ? B[(s * n + i) * nrhs + col] : 0.0;
        double sc = pow2_above(group_max<NMAX>(fabs(b), sd));
        lu_apply<TF, NMAX>(lurow, pos, n, TF(b / sc), sbuf[g]);
        double x = (row && !failed_all) ? (double)sbuf[g][i] * sc : 0.0;
        double best_x = x, best = BF_INF;
        int stall = 0, it = 0;
        bool active = !failed_all, conv = false;
        for (;;) {
            sx[g][i] = x;
            __syncthreads();
            double r = b;
            if (row)
                for (int c = 0; c < n; ++c) r = fma(-As[(long long)i * n + c], sx[g][c], r);
            const double rn = group_max<NMAX>(fabs(r), sd);
            const double xn = group_max<NMAX>(fabs(x), sd);
            const double e = rn == 0.0 ? 0.0 : rn / (anorm * xn);
            if (active) {
                if (rn <= tolfac * anorm * xn && isfinite(e)) {
                    conv = true;
                    active = false;
                    best = e;
                    best_x = x;
                } else {
                    if (e < best) { best = e; best_x = x; stall = 0; } else { ++stall; }
                    if (it >= max_iter || stall >= 3 || !isfinite(e)) active = false;
                }
            }
            sc = pow2_above(rn);
            lu_apply<TF, NMAX>(lurow, pos, n, TF(r / sc), sbuf[g]);
            if (active) {
                if (row) x += (double)sbuf[g][i] * sc;   // sbuf[g][i] is unset for i >= n
                ++it;
            }
            if (!__syncthreads_or(active)) break;
        }
        if (row) X[(s * n + i) * nrhs + col] = failed_all ? BF_NAN : best_x;
        worst = max(worst, it);
        ber_max = fmax(ber_max, best);
        all_conv = all_conv && conv;
    }
    if (live && i == 0) {
        code[s] = overflow ? -2 : breakdown ? -3 : all_conv ? worst : -31;
        iters[s] = worst;
        ber[s] = failed_all ? BF_INF : ber_max;
        minpiv[s] = mp;
    }
}
