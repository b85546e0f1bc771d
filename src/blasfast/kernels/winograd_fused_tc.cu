// Fused Winograd F(2x2, 3x3) forward convolution on tensor cores, for float16 / bfloat16
// data with float32 accumulation (the tensor-core sibling of winograd_fused.cu, whose
// header explains the algorithm and the tile indexing).
//
//   M[e][k][tile] = sum_c U[e][k][c] * V[e][c][tile]   (16 GEMMs, e = 4 xi + nu),
//   y[n, k, 2tp + a, 2tq + b] = (A^T M A)[a, b] + bias[k].
//
// U is winograd_filter_transform's output read as (16, K, C), C contiguous, already rounded
// to T; V = B^T d B is computed in float and rounded to T when stored in shared memory:
// the same two roundings as the unfused path, so both give the same result up to the
// order of the float32 sums.
//
// One block of 256 threads (8 warps) computes BK = 32 filters x BT = 32 tiles for all 16
// positions, stepping over the channels BC = 16 at a time (one WMMA k-step). Per step:
//   * transform role: thread (c = tid / 32 + 8 r, t = tid % 32), r = 0, 1, writes the 16
//     values of V for channel c0 + c, tile t0 + t into Vs[e][c][t] (zero outside);
//   * filter role: thread (c = tid % 16, k = tid / 16 + 16 r), r = 0, 1, copies
//     U[e][k0 + k][c0 + c] into Us[e][k][c] (coalesced along C);
//   * GEMM role: warp w owns positions e = 2w, 2w + 1 and, for each, the 2 x 2 WMMA 16x16
//     fragments of its 32 x 32 result: 8 accumulator fragments per warp.
// Epilogue, in two halves (positions 0-7 held by warps 0-3, then 8-15 by warps 4-7): the
// owning warps store their fragments as float to shared memory Ms[e - 8h][k][t] (reusing
// Vs/Us), and every thread adds e's contribution A^T[a][xi] A^T[b][nu] M[e] to the 2x2
// outputs of its 4 (filter, tile) pairs (tile tid % 32, filters tid / 32 + 8 q); then the
// bias, one rounding to T, and the stores (rows < P, columns < Q).
//
// Shared memory: Us 16 x 32 x 16 + Vs 16 x 16 x (32 + 16) 16-bit = 40 KiB, or Ms 8 x 32 x 32
// float = 32 KiB in the epilogue. WMMA (PTX ISA, wmma.load address alignment) needs every
// fragment row to start at a multiple of the 32-byte fragment size, so the row strides are
// 32 B (Us, unpadded: one fragment row) and 96 B (Vs, padded by 16 elements against bank
// conflicts); an 8-element pad (48 B and 80 B rows, as before) broke that rule.
// Grid: (ceil(NT / 32), ceil(K / 32)). Registers (compile check): 128 on sm_90, so two
// blocks per SM; 136 on sm_80 (capping at 128 there spills). The per-thread transform and
// filter loops are kept rolled: unrolled, the hoisted loads take all 255 registers.
#include <mma.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#define WT_BK 32
#define WT_BT 32
#define WT_BC 16
#define WT_LDU WT_BC         // 32-byte rows
#define WT_LDV (WT_BT + 16)  // 96-byte rows

template <typename T>
__global__ void __launch_bounds__(256)
winograd_fused_tc_fprop(const T* __restrict__ x, long long sxn, long long sxc,
                        long long sxh, long long sxw, int N, int C, int Hv, int Wv, int pt,
                        int pl, int TP, int TQ, const T* __restrict__ U, int K,
                        const T* __restrict__ bias, int has_bias, int P, int Q,
                        T* __restrict__ y, long long syn, long long syk, long long syh,
                        long long sys)
{
    using namespace nvcuda;
    constexpr int US_SIZE = 16 * WT_BK * WT_LDU;
    constexpr int VS_SIZE = 16 * WT_BC * WT_LDV;
    constexpr int SMEM_BYTES = (US_SIZE + VS_SIZE) * (int)sizeof(T);
    static_assert(SMEM_BYTES >= 8 * WT_BK * WT_BT * (int)sizeof(float), "Ms must fit");
    __shared__ __align__(32) unsigned char smem[SMEM_BYTES];
    T* Us = reinterpret_cast<T*>(smem);            // [16][BK][LDU]
    T* Vs = Us + US_SIZE;                          // [16][BC][LDV]
    float* Ms = reinterpret_cast<float*>(smem);    // [8][BK][BT], epilogue only

    const int tid = threadIdx.x, warp = tid / 32;
    const long long NT = (long long)N * TP * TQ;
    const long long t0 = (long long)blockIdx.x * WT_BT;
    const int k0 = blockIdx.y * WT_BK;

    // transform role: tile t0 + lt, channels c0 + lc0 and c0 + lc0 + 8
    const int lt = tid % WT_BT, lc0 = tid / WT_BT;
    const long long p = t0 + lt;
    const bool tile_ok = p < NT;
    const int tq = tile_ok ? (int)(p % TQ) : 0;
    const int tp = tile_ok ? (int)((p / TQ) % TP) : 0;
    const long long n = tile_ok ? p / ((long long)TP * TQ) : 0;
    const int h0 = 2 * tp - pt, w0 = 2 * tq - pl;
    const T* xtile = x + n * sxn + h0 * sxh + w0 * sxw;
    // filter role
    const int fc = tid % WT_BC, fk0 = tid / WT_BC;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2][2];  // [pos][kb][tb]
#pragma unroll
    for (int q = 0; q < 2; ++q)
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[q][i][j], 0.0f);

    for (int c0 = 0; c0 < C; c0 += WT_BC) {
#pragma unroll 1
        for (int r = 0; r < 2; ++r) {
            const int lc = lc0 + 8 * r;
            const bool ok = tile_ok && c0 + lc < C;
            const T* xc = xtile + (long long)(c0 + lc) * sxc;
            float d[4][4];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const bool row_ok = ok && h0 + i >= 0 && h0 + i < Hv;
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    d[i][j] = (row_ok && w0 + j >= 0 && w0 + j < Wv)
                                  ? float(xc[i * sxh + j * sxw]) : 0.0f;
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                float rr[4];  // row i of B^T d
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    rr[j] = i == 0 ? d[0][j] - d[2][j] : i == 1 ? d[1][j] + d[2][j]
                          : i == 2 ? d[2][j] - d[1][j] : d[1][j] - d[3][j];
                T* v = Vs + (4 * i * WT_BC + lc) * WT_LDV + lt;
                v[0 * WT_BC * WT_LDV] = T(rr[0] - rr[2]);
                v[1 * WT_BC * WT_LDV] = T(rr[1] + rr[2]);
                v[2 * WT_BC * WT_LDV] = T(rr[2] - rr[1]);
                v[3 * WT_BC * WT_LDV] = T(rr[1] - rr[3]);
            }
        }
#pragma unroll 1
        for (int r = 0; r < 2; ++r) {
            const int fk = fk0 + 16 * r;
            const bool ok = k0 + fk < K && c0 + fc < C;
#pragma unroll
            for (int e = 0; e < 16; ++e)
                Us[(e * WT_BK + fk) * WT_LDU + fc] =
                    ok ? U[((long long)e * K + k0 + fk) * C + c0 + fc] : T(0.0f);
        }
        __syncthreads();
#pragma unroll
        for (int q = 0; q < 2; ++q) {
            const int e = 2 * warp + q;
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb[2];
#pragma unroll
            for (int i = 0; i < 2; ++i)
                wmma::load_matrix_sync(fa[i], Us + (e * WT_BK + 16 * i) * WT_LDU, WT_LDU);
#pragma unroll
            for (int j = 0; j < 2; ++j)
                wmma::load_matrix_sync(fb[j], Vs + e * WT_BC * WT_LDV + 16 * j, WT_LDV);
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 2; ++j)
                    wmma::mma_sync(acc[q][i][j], fa[i], fb[j], acc[q][i][j]);
        }
        __syncthreads();
    }

    // Epilogue: y[a][b] = sum_e A^T[a][xi] A^T[b][nu] M[e], A^T = [[1,1,1,0],[0,1,-1,-1]].
    const int ot = tid % WT_BT, okl = tid / WT_BT;
    float out[4][2][2];
#pragma unroll
    for (int q = 0; q < 4; ++q)
#pragma unroll
        for (int a = 0; a < 2; ++a)
#pragma unroll
            for (int b = 0; b < 2; ++b) out[q][a][b] = 0.0f;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        if (warp / 4 == half) {
#pragma unroll
            for (int q = 0; q < 2; ++q)
#pragma unroll
                for (int i = 0; i < 2; ++i)
#pragma unroll
                    for (int j = 0; j < 2; ++j)
                        wmma::store_matrix_sync(
                            Ms + ((2 * warp + q - 8 * half) * WT_BK + 16 * i) * WT_BT + 16 * j,
                            acc[q][i][j], WT_BT, wmma::mem_row_major);
        }
        __syncthreads();
#pragma unroll
        for (int el = 0; el < 8; ++el) {
            const int e = 8 * half + el, xi = e / 4, nu = e % 4;
            // A^T[0][.] = (1, 1, 1, 0), A^T[1][.] = (0, 1, -1, -1)
            const float ca[2] = {xi < 3 ? 1.0f : 0.0f, xi == 0 ? 0.0f : xi == 1 ? 1.0f : -1.0f};
            const float cb[2] = {nu < 3 ? 1.0f : 0.0f, nu == 0 ? 0.0f : nu == 1 ? 1.0f : -1.0f};
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const float m = Ms[(el * WT_BK + okl + 8 * q) * WT_BT + ot];
#pragma unroll
                for (int a = 0; a < 2; ++a)
#pragma unroll
                    for (int b = 0; b < 2; ++b) out[q][a][b] += ca[a] * cb[b] * m;
            }
        }
        __syncthreads();
    }

    const long long op = t0 + ot;
    if (op >= NT) return;
    const int oq = (int)(op % TQ);
    const int opp = (int)((op / TQ) % TP);
    const long long on = op / ((long long)TP * TQ);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const int k = k0 + okl + 8 * q;
        if (k >= K) break;
        const float bk = has_bias ? float(bias[k]) : 0.0f;
        T* yk = y + on * syn + (long long)k * syk;
#pragma unroll
        for (int a = 0; a < 2; ++a) {
            const int h = 2 * opp + a;
            if (h >= P) continue;
#pragma unroll
            for (int b = 0; b < 2; ++b) {
                const int w = 2 * oq + b;
                if (w < Q) yk[h * syh + w * sys] = T(out[q][a][b] + bk);
            }
        }
    }
}
