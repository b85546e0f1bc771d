// The tensor-core (WMMA) GEMM tile shared by the tensor-core GEMM drivers:
//
//   D(m0:m0+BM, n0:n0+BN) = alpha * op(A) * op(B) + beta * C   for one matrix
//
// with FP16 or BF16 operands (m16n16k16 fragments) or FP32 operands rounded to TF32
// (m16n16k8 fragments, precision::tf32), always accumulated in FP32, and D written as
// float, __half or __nv_bfloat16. Same contract as gemm_tile_simt() in gemm_simt.cuh: every
// operand is addressed by element strides (any value: non-unit, negative, transposes are
// swapped strides), M, N, K are arbitrary; ragged edges are zero-padded on load and masked
// on store; C is never read when beta == 0.
//
// Block and warps
//   (BM/WM) x (BN/WN) warps, warp w = (wy, wx) = (w / (BN/WN), w % (BN/WN)) owns the WM x WN
//   sub-tile at rows wy*WM, columns wx*WN of the block tile, held as (WM/16) x (WN/16)
//   FP32 accumulator fragments of 16 x 16. A warp whose sub-tile starts at or beyond M or N
//   skips its MMAs and its epilogue (a warp-uniform condition, as WMMA requires) but still
//   loads its share of the tiles and reaches every __syncthreads().
//
// Shared memory: one raw, 128-byte-aligned buffer, used in two phases.
//   Staging (main loop), in the fragment storage type Ts (Tin for 16-bit, float for TF32):
//     As[BM][LDA]  row-major A tile, As[m][k] = op(A)(m0+m, k0+k), LDA = BK + PAD
//     Bs[BK][LDB]  row-major B tile, Bs[k][n] = op(B)(k0+k, n0+n), LDB = BN + PAD
//     (Bs follows As.) Fragments: matrix_a row_major at &As[wy*WM + 16i][kk], ldm LDA;
//     matrix_b row_major at &Bs[kk][wx*WN + 16j], ldm LDB.
//   Epilogue (after the main loop), per warp, float:
//     E_w[16][LDE], LDE = WN + 8, at float offset w*16*LDE: one row of accumulator fragments
//     (16 x WN) at a time, stored with store_matrix_sync(mem_row_major), then written to D
//     element by element with D's strides.
//
// WMMA alignment. The CUDA C++ Programming Guide asks for a 256-bit (32-byte) aligned
// fragment pointer and ldm a multiple of 16 bytes (8 __half / 4 float). The PTX ISA
// (wmma.load/wmma.store, "Address Alignment") is stricter: the start of EVERY row (row-major)
// must be aligned to the fragment size, i.e. pointer and ldm*sizeof(elem) multiples of 32
// bytes for m16n16k16 .f16 and for the FP32 accumulator. We keep the stricter rule for every
// fragment (it implies the guide's): PAD = 32 bytes (16 elements of 16 bits, 8 floats), so
// LDA, LDB, LDE are multiples of 32 bytes (static_asserts below), every fragment row index is
// a multiple of 16 and every fragment column offset is 16 (16-bit) or 8 (TF32) elements =
// 32 bytes, or 16 floats = 64 bytes, and the buffer is __align__(128). The price: rows 32 B
// apart map 8 rows onto only 4 distinct 16-byte bank groups, so fragment loads may see 2-way
// bank conflicts (a 16-byte pad would avoid them but breaks the PTX rule).
//
// Main loop (one shared buffer, two barriers per k-step):
//     for k0 = 0; k0 < K; k0 += BK:
//         registers <- this thread's share of the A and B tiles at k0 (all loads issued
//                      before the first store; zero outside M, N, K)
//         As, Bs <- convert(registers)                 (TF32: cvt.rna here, once per element)
//         __syncthreads()   (S1) the tile at k0 is in shared memory, visible to every warp
//         MMAs over As, Bs (BK / WK steps)
//         __syncthreads()   (S2) every warp is done reading As, Bs: the next k-step's stores,
//                                 or the epilogue (which reuses the buffer), may overwrite them
//     epilogue: per warp, per fragment row i: store_matrix_sync x (WN/16) into E_w;
//         __syncwarp() (lanes read other lanes' stores); write D; __syncwarp() (all lanes
//         done reading E_w before the next row overwrites it)
//     __syncthreads()   (S3) every warp is done with its E_w before the caller's next tile
//                            (the batch loop of the driver) stages into the same buffer
// With K == 0 the loop does not run: accumulators stay zero and D = beta * C.
// There is no software pipelining (register prefetch of the next k-step; cp.async cannot copy
// 2-byte elements at arbitrary strides): a register prefetch took 92-200 registers per thread
// (NVRTC 13.5, uncapped) against 48-128 without, so latency is hidden by more resident
// blocks instead. Whether that is the better trade is for a GPU benchmark to say.
//
// Global loads follow gemm_tile_simt: consecutive threads walk A along k when sak == 1,
// otherwise along m; B along n when sbn == 1, otherwise along k. The epilogue walks D along
// n unless sdn != 1 and sdm == 1 (then along m).
#pragma once

#include <mma.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

namespace gemm_tc_detail {

// Per input type: the WMMA fragment element type, the shared-memory element type, the
// fragment K, the conversion applied when staging, and the zero used for padding.
template <typename Tin>
struct TcTraits;

template <>
struct TcTraits<__half> {
    using frag_t = __half;
    using smem_t = __half;
    static constexpr int WK = 16;
    static __device__ __forceinline__ __half zero() { return __ushort_as_half(0); }
    static __device__ __forceinline__ __half stage(__half x) { return x; }
};

template <>
struct TcTraits<__nv_bfloat16> {
    using frag_t = __nv_bfloat16;
    using smem_t = __nv_bfloat16;
    static constexpr int WK = 16;
    // __float2bfloat16_rn(0.0f), not __ushort_as_bfloat16(0): with the latter ptxas (13.5)
    // spills 40 bytes in the 128x128 tile on sm_80. Same value, +0.
    static __device__ __forceinline__ __nv_bfloat16 zero() { return __float2bfloat16_rn(0.0f); }
    static __device__ __forceinline__ __nv_bfloat16 stage(__nv_bfloat16 x) { return x; }
};

template <>
struct TcTraits<float> {
    using frag_t = nvcuda::wmma::precision::tf32;
    using smem_t = float;
    static constexpr int WK = 8;
    static __device__ __forceinline__ float zero() { return 0.0f; }
    // cvt.rna.tf32.f32: round to nearest, ties away (as round_tf32 in gemm_simt.cuh).
    static __device__ __forceinline__ float stage(float x)
    {
        return nvcuda::wmma::__float_to_tf32(x);
    }
};

template <typename T>
__device__ __forceinline__ float to_float(T x);
template <>
__device__ __forceinline__ float to_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ float to_float<__half>(__half x) { return __half2float(x); }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x)
{
    return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x)
{
    return __float2bfloat16_rn(x);
}

// An empty asm that "changes" x: the compiler must assume a new value, so that what is
// computed from x is not hoisted out of the enclosing loop and kept live across it. Used on
// threadIdx.x once per tile, so that the per-element staging offsets are not hoisted out of
// the driver's batch loop. Measured (NVRTC 13.5): without it, under the __launch_bounds__
// below, BF16 64x64 and TF32 64x64 / 128x128 spill on sm_80; with it nothing spills.
__device__ __forceinline__ int opaque(int x) { asm volatile("" : "+r"(x)); return x; }

}  // namespace gemm_tc_detail

// Threads per block of a tile, and the resident blocks per SM a driver's __launch_bounds__
// should ask for: a register budget of 64 per thread when each warp holds one accumulator
// fragment, 128 otherwise (64K registers per SM on sm_80 and sm_90). Without a bound ptxas
// took up to 198 registers (TF32 64x64); with it every tile of the table fits, no spills.
constexpr int gemm_tc_threads(int bm, int bn, int wm, int wn)
{
    return 32 * (bm / wm) * (bn / wn);
}
constexpr int gemm_tc_min_blocks(int bm, int bn, int wm, int wn)
{
    const int budget = (wm / 16) * (wn / 16) == 1 ? 64 : 128;  // registers per thread
    const int blocks = 65536 / (gemm_tc_threads(bm, bn, wm, wn) * budget);
    return blocks > 0 ? blocks : 1;
}

template <typename Tin, typename Tout, int BM, int BN, int BK, int WM, int WN>
__device__ __forceinline__ void gemm_tile_tc(
    int m0, int n0, int M, int N, int K, float alpha, float beta,
    const Tin* __restrict__ a, long long sam, long long sak,
    const Tin* __restrict__ b, long long sbk, long long sbn,
    const Tout* c, long long scm, long long scn,
    Tout* d, long long sdm, long long sdn)
{
    namespace wmma = nvcuda::wmma;
    using Tr = gemm_tc_detail::TcTraits<Tin>;
    using Ts = typename Tr::smem_t;
    using Tf = typename Tr::frag_t;
    constexpr int WK = Tr::WK;

    constexpr int WARPS_M = BM / WM;
    constexpr int WARPS_N = BN / WN;
    constexpr int NT = 32 * WARPS_M * WARPS_N;
    constexpr int FM = WM / 16;                       // fragments per warp along M
    constexpr int FN = WN / 16;                       // fragments per warp along N
    constexpr int PAD = 32 / int(sizeof(Ts));         // 32 bytes of padding per row
    constexpr int LDA = BK + PAD;                     // As row length (elements)
    constexpr int LDB = BN + PAD;                     // Bs row length (elements)
    constexpr int LDE = WN + 8;                       // epilogue row length (floats)
    constexpr int EA = BM * BK / NT;                  // A elements per thread per k-step
    constexpr int EB = BK * BN / NT;                  // B elements per thread per k-step
    constexpr int STAGE_BYTES = (BM * LDA + BK * LDB) * int(sizeof(Ts));
    constexpr int EPI_BYTES = WARPS_M * WARPS_N * 16 * LDE * int(sizeof(float));
    constexpr int SMEM_BYTES = STAGE_BYTES > EPI_BYTES ? STAGE_BYTES : EPI_BYTES;

    static_assert(BM % WM == 0 && BN % WN == 0, "the block tile must divide into warp tiles");
    static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tiles are made of 16 x 16 fragments");
    static_assert(BK % WK == 0, "BK must be a multiple of the fragment K");
    static_assert(NT % BM == 0 && NT % BK == 0 && NT % BN == 0,
                  "each tile extent must divide the thread count (see the staging map)");
    static_assert((BM * BK) % NT == 0 && (BK * BN) % NT == 0,
                  "every thread stages the same number of elements");
    // PTX ISA wmma.load/store address alignment: each row start a multiple of 32 bytes.
    static_assert((LDA * sizeof(Ts)) % 32 == 0, "As row stride must be a multiple of 32 bytes");
    static_assert((LDB * sizeof(Ts)) % 32 == 0, "Bs row stride must be a multiple of 32 bytes");
    static_assert((LDE * sizeof(float)) % 32 == 0, "epilogue row stride: 32-byte multiple");
    static_assert((BM * LDA * sizeof(Ts)) % 32 == 0, "Bs must start 32-byte aligned");
    static_assert((WK * sizeof(Ts)) % 32 == 0, "k-step offsets must be 32-byte multiples");
    static_assert(SMEM_BYTES <= 48 * 1024, "static shared memory is limited to 48 KB");

    __shared__ __align__(128) unsigned char smem[SMEM_BYTES];
    Ts* const As = reinterpret_cast<Ts*>(smem);
    Ts* const Bs = As + BM * LDA;

    const int tid = gemm_tc_detail::opaque(int(threadIdx.x));
    const int lane = tid % 32;
    const int warp = tid / 32;
    const int wy = warp / WARPS_N;
    const int wx = warp % WARPS_N;
    // Warp-uniform: does this warp's sub-tile hold any element of D?
    const bool warp_active = (m0 + wy * WM < M) && (n0 + wx * WN < N);

    wmma::fragment<wmma::accumulator, 16, 16, WK, float> acc[FM][FN];
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    // This thread's share of the staged tiles. Consecutive threads follow the operand's unit
    // stride when it has one (coalesced global loads): along that "fast" dimension of the
    // tile (extent F) thread t takes coordinate t % F; along the other it takes t / F, then
    // every NT / F further (NT is a multiple of F). Element i of the thread for A is thus at
    // tile coordinates (am0 + i*adm, ak0 + i*adk), one of adm, adk being zero; it is read at
    // pa[i * a_inc] and stored at As[as0 + i * as_inc]. Likewise for B with (bk0, bn0).
    //   A (rows m, columns k): fast = k if sak == 1, else m.
    //   B (rows k, columns n): fast = n if sbn == 1, else k.
    const bool a_k_fast = (sak == 1);
    const int am0 = a_k_fast ? tid / BK : tid % BM;   // m of element 0
    const int ak0 = a_k_fast ? tid % BK : tid / BM;   // k of element 0
    const int adm = a_k_fast ? NT / BK : 0;           // m step per element
    const int adk = a_k_fast ? 0 : NT / BM;           // k step per element
    const long long a_inc = adm * sam + adk * sak;
    const int as0 = am0 * LDA + ak0, as_inc = adm * LDA + adk;
    const Tin* pa = a + (long long)(m0 + am0) * sam + (long long)ak0 * sak;

    const bool b_n_fast = (sbn == 1);
    const int bk0 = b_n_fast ? tid / BN : tid % BK;   // k of element 0
    const int bn0 = b_n_fast ? tid % BN : tid / BK;   // n of element 0
    const int bdk = b_n_fast ? NT / BN : 0;
    const int bdn = b_n_fast ? 0 : NT / BK;
    const long long b_inc = bdk * sbk + bdn * sbn;
    const int bs0 = bk0 * LDB + bn0, bs_inc = bdk * LDB + bdn;
    const Tin* pb = b + (long long)bk0 * sbk + (long long)(n0 + bn0) * sbn;

    for (int k0 = 0; k0 < K; k0 += BK) {
        // pa, pb point at this thread's element 0 of the k-step at k0.
        Tin ra[EA], rb[EB];
#pragma unroll
        for (int i = 0; i < EA; ++i) {
            const bool ok = (m0 + am0 + i * adm < M) && (k0 + ak0 + i * adk < K);
            ra[i] = ok ? pa[i * a_inc] : Tr::zero();
        }
#pragma unroll
        for (int i = 0; i < EB; ++i) {
            const bool ok = (k0 + bk0 + i * bdk < K) && (n0 + bn0 + i * bdn < N);
            rb[i] = ok ? pb[i * b_inc] : Tr::zero();
        }
#pragma unroll
        for (int i = 0; i < EA; ++i) As[as0 + i * as_inc] = Tr::stage(ra[i]);
#pragma unroll
        for (int i = 0; i < EB; ++i) Bs[bs0 + i * bs_inc] = Tr::stage(rb[i]);
        pa += BK * sak;
        pb += BK * sbk;
        __syncthreads();  // S1: the tile at k0 is in shared memory

        if (warp_active) {
#pragma unroll
            for (int kk = 0; kk < BK; kk += WK) {
                wmma::fragment<wmma::matrix_a, 16, 16, WK, Tf, wmma::row_major> fa[FM];
                wmma::fragment<wmma::matrix_b, 16, 16, WK, Tf, wmma::row_major> fb[FN];
#pragma unroll
                for (int i = 0; i < FM; ++i)
                    wmma::load_matrix_sync(fa[i], As + (wy * WM + i * 16) * LDA + kk, LDA);
#pragma unroll
                for (int j = 0; j < FN; ++j)
                    wmma::load_matrix_sync(fb[j], Bs + kk * LDB + wx * WN + j * 16, LDB);
#pragma unroll
                for (int i = 0; i < FM; ++i)
#pragma unroll
                    for (int j = 0; j < FN; ++j)
                        wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
            }
        }
        __syncthreads();  // S2: every warp is done reading As/Bs
    }

    // Epilogue: the staging buffer is free (S2, or never used when K == 0).
    if (warp_active) {
        float* const E = reinterpret_cast<float*>(smem) + warp * (16 * LDE);
        const bool d_along_m = (sdn != 1 && sdm == 1);
#pragma unroll
        for (int i = 0; i < FM; ++i) {
#pragma unroll
            for (int j = 0; j < FN; ++j)
                wmma::store_matrix_sync(E + j * 16, acc[i][j], LDE, wmma::mem_row_major);
            __syncwarp();  // every lane's part of the 16 x WN block is in E
            const int row0 = m0 + wy * WM + i * 16;
            const int col0 = n0 + wx * WN;
            // Not unrolled: unrolled, the addresses and masks of all its elements (for both
            // walk orders) are hoisted out of the driver's batch loop (150-255 registers).
#pragma unroll 1
            for (int e = lane; e < 16 * WN; e += 32) {
                int r, q;
                if (d_along_m) { r = e % 16; q = e / 16; } else { r = e / WN; q = e % WN; }
                const int gm = row0 + r, gn = col0 + q;
                if (gm < M && gn < N) {
                    float v = alpha * E[r * LDE + q];
                    if (beta != 0.0f)
                        v = fmaf(beta, gemm_tc_detail::to_float<Tout>(c[gm * scm + gn * scn]), v);
                    d[gm * sdm + gn * sdn] = gemm_tc_detail::from_float<Tout>(v);
                }
            }
            __syncwarp();  // every lane is done reading E before the next row overwrites it
        }
    }
    __syncthreads();  // S3: the buffer is free for the caller's next tile
}
