// Panel LU with partial pivoting, one persistent launch per panel:  P * A_panel = L * U.
//
// The panel is m rows x nb (<= NB) columns of a row-major matrix (element (i, j) at
// A[i * lda + j]); A points at the panel's top-left element (global row/column `koff`).
// Arithmetic and storage in T (float: the FP32 panel of the mixed-precision LU; double:
// the FP64 factorization). Same algorithm and results as LAPACK ?getf2 on the panel:
// for each column j, the pivot is the first row of largest |a_ij|, i >= j (NaN never
// wins); rows j and p are interchanged across the whole panel; the column below the pivot
// is multiplied by 1/pivot; the rest of the panel gets the rank-1 update. An exactly zero
// pivot sets *info (first one only, 1-based global index) and skips the scaling, as LAPACK.
//
// Design: the rows are split over gridDim.x blocks (<= one per SM, so all are resident);
// each block keeps its rows in shared memory for the whole panel (rows_per_block x (NB+1)
// values, padded against bank conflicts), so the panel is read and written once. Two
// grid-wide barriers per column: after the per-block pivot candidates, and after the two
// rows to interchange are published. The barrier is a counter + generation pair in global
// memory (zeroed before the first launch; it returns to zero by itself). This needs every
// block of the grid resident at once: the launcher uses at most one block per SM and
// checks the shared-memory size. Cross-block data go through L2 (__stcg / __ldcg).
//
// Outputs: ipiv[j] = koff + p (0-based global LAPACK pivot), perm[] (the row permutation,
// perm[koff + j] <-> perm[koff + p] swapped as rows are), *info.
#include "getrf_common.cuh"

template <typename T, int NB, int THREADS>
__global__ void __launch_bounds__(THREADS, 1)
getrf_panel(T* __restrict__ A, long long lda, int m, int nb, int rows_per_block, int koff,
            int* __restrict__ ipiv, int* __restrict__ perm, int* __restrict__ info,
            T* __restrict__ pval, int* __restrict__ pidx, T* __restrict__ rowbuf,
            unsigned int* __restrict__ bar)
{
    extern __shared__ unsigned char smem_raw[];
    T* rows = reinterpret_cast<T*>(smem_raw);             // [rows_per_block][NB + 1]
    T* prow = rows + (long long)rows_per_block * (NB + 1);  // [NB]: the pivot row
    __shared__ T red_val[THREADS / 32];
    __shared__ int red_idx[THREADS / 32];
    __shared__ int s_piv;
    __shared__ T s_pivval;

    const int tid = threadIdx.x;
    const int row0 = blockIdx.x * rows_per_block;
    const int nrows = max(0, min(rows_per_block, m - row0));
    const unsigned int nblocks = gridDim.x;

    for (int e = tid; e < nrows * nb; e += THREADS) {
        const int r = e / nb, c = e - r * nb;
        rows[r * (NB + 1) + c] = A[(long long)(row0 + r) * lda + c];
    }
    __syncthreads();

    for (int j = 0; j < nb; ++j) {
        // 1. this block's pivot candidate: first row of largest |a_rj|, global row >= j
        T best = T(-1);
        int bidx = 0x7fffffff;
        for (int r = tid; r < nrows; r += THREADS) {
            const int g = row0 + r;
            if (g < j) continue;
            const T v = abs_val(rows[r * (NB + 1) + j]);
            if (v > best || (v == best && g < bidx)) { best = v; bidx = g; }
        }
        block_argmax<T, THREADS>(best, bidx, red_val, red_idx);
        if (tid == 0) {
            __stcg(pval + blockIdx.x, best);
            __stcg(pidx + blockIdx.x, bidx);
        }
        grid_barrier(bar, nblocks);

        // 2. every block reduces the candidates identically; owners publish the two rows
        if (tid < 32) {
            T v = T(-1);
            int g = 0x7fffffff;
            for (unsigned int b = tid; b < nblocks; b += 32) {
                const T bv = __ldcg(pval + b);
                const int bg = __ldcg(pidx + b);
                if (bv > v || (bv == v && bg < g)) { v = bv; g = bg; }
            }
            warp_argmax(v, g);
            if (tid == 0) {
                if (g == 0x7fffffff || !(v >= T(0))) g = j;  // all-NaN column: no swap
                s_piv = g;
            }
        }
        __syncthreads();
        const int p = s_piv;
        if (p >= row0 && p < row0 + nrows)
            for (int c = tid; c < nb; c += THREADS)
                __stcg(rowbuf + c, rows[(p - row0) * (NB + 1) + c]);
        if (j >= row0 && j < row0 + nrows)
            for (int c = tid; c < nb; c += THREADS)
                __stcg(rowbuf + NB + c, rows[(j - row0) * (NB + 1) + c]);
        if (blockIdx.x == 0 && tid == 0) {
            ipiv[j] = koff + p;
            if (p != j) {
                const int t = perm[j];
                perm[j] = perm[p];
                perm[p] = t;
            }
        }
        grid_barrier(bar, nblocks);

        // 3. interchange, then scale and update this block's rows below the pivot
        for (int c = tid; c < nb; c += THREADS) prow[c] = __ldcg(rowbuf + c);
        __syncthreads();
        if (p != j) {
            if (j >= row0 && j < row0 + nrows)
                for (int c = tid; c < nb; c += THREADS) rows[(j - row0) * (NB + 1) + c] = prow[c];
            if (p >= row0 && p < row0 + nrows)
                for (int c = tid; c < nb; c += THREADS)
                    rows[(p - row0) * (NB + 1) + c] = __ldcg(rowbuf + NB + c);
        }
        if (tid == 0) s_pivval = prow[j];
        __syncthreads();
        const T piv = s_pivval;
        if (piv == T(0)) {
            if (blockIdx.x == 0 && tid == 0 && *info == 0) *info = koff + j + 1;
        } else {
            const T rp = T(1) / piv;
            for (int r = tid; r < nrows; r += THREADS) {
                if (row0 + r <= j) continue;
                T* row = rows + r * (NB + 1);
                const T l = row[j] * rp;
                row[j] = l;
                for (int c = j + 1; c < nb; ++c) row[c] = fma(-l, prow[c], row[c]);
            }
        }
        __syncthreads();
    }

    for (int e = tid; e < nrows * nb; e += THREADS) {
        const int r = e / nb, c = e - r * nb;
        A[(long long)(row0 + r) * lda + c] = rows[r * (NB + 1) + c];
    }
}
