// Triangular solves with the LU factors, one launch per triangle ("sync-free"): the
// correction step of the refinement (d = U^-1 L^-1 P r), GMRES-IR's preconditioner and
// lu_solve. LOWER: x := L^-1 x, L unit lower; !LOWER: x := U^-1 x.
//
// LU: row-major n x n factors of storage type TF (float for the low-precision LU, double).
// x: row-major n x nrhs of arithmetic type TA (TA = TF, or double on FP32 factors for
// GMRES-IR's preconditioner: same memory traffic, FP64 arithmetic), one right-hand side
// per blockIdx.y, overwritten with the solution.
//
// Blocks take row blocks of RB rows in solve order from a per-column ticket counter
// (top-down for L, bottom-up for U). A block first accumulates the products with every
// already-solved row block -- waiting, block by block, for the flag its solver sets --
// then solves its diagonal block with one warp and publishes x and its flag. Tickets are
// handed out in the order blocks start, and a block only waits for smaller tickets, whose
// blocks are already running: no deadlock whatever the number of SMs. Reads of L/U rows
// are coalesced (lanes along a row); x crosses blocks through L2 (__stcg / __ldcg).
// ticket (nrhs) and flags (nrhs * ceil(n / RB)) must be zero at launch.
// Grid (ceil(n / RB), nrhs), block THREADS.
#include "getrf_common.cuh"

template <typename T>
__device__ __forceinline__ T warp_sum(T v)
{
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

template <typename TF, typename TA, bool LOWER, int RB, int THREADS>
__global__ void __launch_bounds__(THREADS, 1)
trsv_sync_free(const TF* __restrict__ LU, long long ld, int n, TA* x, long long ldx,
               int* __restrict__ ticket, int* __restrict__ flags)
{
    constexpr int WARPS = THREADS / 32;
    constexpr int RPW = RB / WARPS;   // rows of the block per warp
    constexpr int CPL = RB / 32;      // columns of an RB-wide block per lane
    __shared__ TA xs[RB];
    __shared__ TA acc[RB];
    __shared__ TA dblk[RB][RB + 1];
    __shared__ int s_ticket;

    const int col = blockIdx.y;
    const int nblk = (n + RB - 1) / RB;
    if (threadIdx.x == 0) s_ticket = atomicAdd(ticket + col, 1);
    __syncthreads();
    const int t = s_ticket;
    const int rb = LOWER ? t : nblk - 1 - t;
    const int r0 = rb * RB;
    const int nr = min(RB, n - r0);
    int* flag = flags + (long long)col * nblk;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    TA part[RPW];
#pragma unroll
    for (int q = 0; q < RPW; ++q) part[q] = TA(0);

    for (int s = 0; s < t; ++s) {                   // solved row blocks, in solve order
        const int jb = LOWER ? s : nblk - 1 - s;
        const int c0 = jb * RB;
        const int nc = min(RB, n - c0);
        if (threadIdx.x == 0) {
            volatile int* f = flag + jb;
            while (*f == 0) __nanosleep(32);
            __threadfence();
        }
        __syncthreads();
        for (int e = threadIdx.x; e < RB; e += THREADS)
            xs[e] = e < nc ? __ldcg(x + (long long)(c0 + e) * ldx + col) : TA(0);
        __syncthreads();
#pragma unroll
        for (int q = 0; q < RPW; ++q) {
            const int r = warp * RPW + q;
            if (r < nr) {
                const TF* row = LU + (long long)(r0 + r) * ld + c0;
#pragma unroll
                for (int cc = 0; cc < CPL; ++cc) {
                    const int c = lane + 32 * cc;
                    if (c < nc) part[q] = fma(TA(row[c]), xs[c], part[q]);
                }
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int q = 0; q < RPW; ++q) {
        const TA v = warp_sum(part[q]);
        const int r = warp * RPW + q;
        if (lane == 0 && r < nr) acc[r] = x[(long long)(r0 + r) * ldx + col] - v;
    }
    for (int e = threadIdx.x; e < RB * RB; e += THREADS) {
        const int i = e / RB, p = e - i * RB;
        dblk[i][p] = (i < nr && p < nr) ? TA(LU[(long long)(r0 + i) * ld + r0 + p]) : TA(0);
    }
    __syncthreads();

    if (warp == 0) {                                 // the diagonal block, one warp
        for (int k = 0; k < nr; ++k) {
            const int i = LOWER ? k : nr - 1 - k;
            TA v = TA(0);
#pragma unroll
            for (int cc = 0; cc < CPL; ++cc) {
                const int p = lane + 32 * cc;
                if (LOWER ? p < i : (p > i && p < nr)) v = fma(dblk[i][p], xs[p], v);
            }
            v = warp_sum(v);
            if (lane == 0) xs[i] = LOWER ? acc[i] - v : (acc[i] - v) / dblk[i][i];
            __syncwarp();
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < nr; e += THREADS)
        __stcg(x + (long long)(r0 + e) * ldx + col, xs[e]);
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) atomicExch(flag + rb, 1);
}
