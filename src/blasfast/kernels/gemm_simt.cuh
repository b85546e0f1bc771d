// The SIMT (CUDA-core) GEMM tile shared by every GEMM driver: strided batched, pointer
// arrays and variable sizes all compute their tiles with gemm_tile_simt().
//
//   D(m0:m0+BM, n0:n0+BN) = alpha * op(A) * op(B) + beta * C   for one matrix
//
// A thread block of (BM/TM)*(BN/TN) threads computes a BM x BN tile; each thread owns a
// TM x TN micro-tile in registers. A and B are staged through shared memory BK columns at a
// time (one padding element per row against bank conflicts), converted from Tin to the
// accumulation type Tacc on the way in. Transposes and views are plain element strides
// (a transpose swaps the two strides of a matrix), so no operand is ever copied.
//
// Threads of a warp share ty and differ in tx: the A fragment is a shared-memory broadcast
// and the B fragment reads consecutive words, so there are no bank conflicts. A thread's
// rows are ty, ty + BM/TM, ... (interleaved) so that consecutive threads store consecutive
// columns of D, coalesced when D is row-major.
//
// TF32 = true rounds every operand to TF32 (10-bit mantissa, round to nearest, ties away,
// as the tensor cores' cvt.rna.tf32.f32) after conversion: the CUDA-core equivalent of a
// TF32 tensor-core product, used where no tensor-core kernel fits (variable sizes).
// When beta == 0, C is never read (BLAS semantics: NaN/Inf in C do not propagate).
// Conversions use constructors only (float(__half), __half(float), ...), so this header
// needs cuda_fp16.h / cuda_bf16.h only when a driver instantiates it with those types.
#pragma once

#include "ptx.cuh"

// Round a float to TF32 and return it as a float (low 13 mantissa bits zero).
__device__ __forceinline__ float round_tf32(float x) { return cvt_rna_tf32(x); }

template <bool TF32, typename T>
__device__ __forceinline__ T maybe_tf32(T x) { return x; }
template <>
__device__ __forceinline__ float maybe_tf32<true, float>(float x) { return round_tf32(x); }

template <typename Tin, typename Tacc, typename Tout, int BM, int BN, int BK, int TM, int TN,
          bool TF32 = false>
__device__ __forceinline__ void gemm_tile_simt(
    int m0, int n0, int M, int N, int K, Tacc alpha, Tacc beta,
    const Tin* __restrict__ a, long long sam, long long sak,
    const Tin* __restrict__ b, long long sbk, long long sbn,
    const Tout* c, long long scm, long long scn,
    Tout* d, long long sdm, long long sdn)
{
    constexpr int TX = BN / TN;             // threads along N
    constexpr int TY = BM / TM;             // threads along M
    constexpr int NT = TX * TY;
    static_assert(BM % TM == 0 && BN % TN == 0, "tile must divide into micro-tiles");

    __shared__ Tacc As[BK][BM + 1];
    __shared__ Tacc Bs[BK][BN + 1];

    const int tid = threadIdx.x;
    const int tx = tid % TX;
    const int ty = tid / TX;

    Tacc acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = Tacc(0);

    for (int k0 = 0; k0 < K; k0 += BK) {
        // Consecutive threads follow A's unit stride, if any, so that global loads coalesce.
        for (int e = tid; e < BM * BK; e += NT) {
            int mm, kk;
            if (sak == 1) { kk = e % BK; mm = e / BK; } else { mm = e % BM; kk = e / BM; }
            const int gm = m0 + mm, gk = k0 + kk;
            As[kk][mm] = (gm < M && gk < K) ? maybe_tf32<TF32>(Tacc(a[gm * sam + gk * sak]))
                                             : Tacc(0);
        }
        for (int e = tid; e < BN * BK; e += NT) {
            int nn, kk;
            if (sbn == 1) { nn = e % BN; kk = e / BN; } else { kk = e % BK; nn = e / BK; }
            const int gn = n0 + nn, gk = k0 + kk;
            Bs[kk][nn] = (gn < N && gk < K) ? maybe_tf32<TF32>(Tacc(b[gk * sbk + gn * sbn]))
                                             : Tacc(0);
        }
        __syncthreads();

#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            Tacc af[TM], bf[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) af[i] = As[kk][ty + i * TY];
#pragma unroll
            for (int j = 0; j < TN; ++j) bf[j] = Bs[kk][tx + j * TX];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fma(af[i], bf[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int gm = m0 + ty + i * TY;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int gn = n0 + tx + j * TX;
            if (gn >= N) continue;
            Tacc v = alpha * acc[i][j];
            if (beta != Tacc(0)) v = fma(beta, Tacc(c[gm * scm + gn * scn]), v);
            d[gm * sdm + gn * sdn] = Tout(v);
        }
    }
}
