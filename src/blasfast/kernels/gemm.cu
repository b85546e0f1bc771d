// Strided batched GEMM on CUDA cores:  D[z] = alpha * op(A[z]) * op(B[z]) + beta * C[z].
//
// Every operand is addressed by element strides, so transposes, non-contiguous views and
// broadcast batch dimensions (stride 0) cost no copy. The batch index z is split as
// z = z_outer * nb_inner + z_inner, each part with its own stride per operand (the host
// folds any batch shape into these two).
//
// gemm_strided_batched: one BM x BN tile per block (gemm_simt.cuh); blocks walk the batch
//   in steps of gridDim.z, so batches beyond the grid limit (65535) need no second launch.
//   Grid (ceil(M/BM), ceil(N/BN), min(batch, 65535)); block (BM/TM)*(BN/TN) threads.
// gemm_small_batched: for M, N, K <= DIM (DIM <= 32), the MAGMA small-size design: one
//   thread per element of C, NMAT matrices per block, A and B staged in padded shared
//   memory. Grid (ceil(batch/NMAT)); block DIM*DIM*NMAT threads.
//
// Tin: operand type, Tacc: accumulation (and alpha/beta) type, Tout: C and D type.
// TF32 = true rounds operands to TF32 (see gemm_simt.cuh). C is not read when beta == 0.
// C and D are not __restrict__: out=c (the BLAS in-place update) makes them one array.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include "gemm_simt.cuh"

#define BLASFAST_GEMM_ARGS                                                                   \
    int M, int N, int K, long long batch, long long nb_inner, Tacc alpha, Tacc beta,         \
    const Tin* __restrict__ A, long long sam, long long sak, long long sa_o, long long sa_i, \
    const Tin* __restrict__ B, long long sbk, long long sbn, long long sb_o, long long sb_i, \
    const Tout* C, long long scm, long long scn, long long sc_o, long long sc_i, \
    Tout* D, long long sdm, long long sdn, long long sd_o, long long sd_i

template <typename Tin, typename Tacc, typename Tout, int BM, int BN, int BK, int TM, int TN,
          bool TF32>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_strided_batched(BLASFAST_GEMM_ARGS)
{
    for (long long z = blockIdx.z; z < batch; z += gridDim.z) {
        const long long zo = z / nb_inner;
        const long long zi = z - zo * nb_inner;
        gemm_tile_simt<Tin, Tacc, Tout, BM, BN, BK, TM, TN, TF32>(
            blockIdx.x * BM, blockIdx.y * BN, M, N, K, alpha, beta,
            A + zo * sa_o + zi * sa_i, sam, sak,
            B + zo * sb_o + zi * sb_i, sbk, sbn,
            C + zo * sc_o + zi * sc_i, scm, scn,
            D + zo * sd_o + zi * sd_i, sdm, sdn);
    }
}

template <typename Tin, typename Tacc, typename Tout, int DIM, int NMAT, bool TF32>
__global__ void __launch_bounds__(DIM * DIM * NMAT)
gemm_small_batched(BLASFAST_GEMM_ARGS)
{
    __shared__ Tacc sA[NMAT][DIM][DIM + 1];
    __shared__ Tacc sB[NMAT][DIM][DIM + 1];
    const int t = threadIdx.x;
    const int tx = t % DIM;                 // column of C (and of A's k) this thread owns
    const int ty = (t / DIM) % DIM;         // row of C (and of B's k)
    const int mz = t / (DIM * DIM);         // which of the block's NMAT matrices
    const long long z = (long long)blockIdx.x * NMAT + mz;
    const bool active = z < batch;
    long long zo = 0, zi = 0;
    if (active) { zo = z / nb_inner; zi = z - zo * nb_inner; }

    Tacc av = Tacc(0), bv = Tacc(0);        // zero padding beyond M, N, K
    if (active && ty < M && tx < K)
        av = maybe_tf32<TF32>(Tacc(A[zo * sa_o + zi * sa_i + ty * sam + tx * sak]));
    if (active && ty < K && tx < N)
        bv = maybe_tf32<TF32>(Tacc(B[zo * sb_o + zi * sb_i + ty * sbk + tx * sbn]));
    sA[mz][ty][tx] = av;
    sB[mz][ty][tx] = bv;
    __syncthreads();
    if (!active || ty >= M || tx >= N) return;

    Tacc acc = Tacc(0);
#pragma unroll 8
    for (int k = 0; k < K; ++k) acc = fma(sA[mz][ty][k], sB[mz][k][tx], acc);
    Tacc v = alpha * acc;
    if (beta != Tacc(0))
        v = fma(beta, Tacc(C[zo * sc_o + zi * sc_i + ty * scm + tx * scn]), v);
    D[zo * sd_o + zi * sd_i + ty * sdm + tx * sdn] = Tout(v);
}
