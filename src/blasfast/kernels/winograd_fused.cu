// Fused Winograd F(2x2, 3x3) forward convolution (Lavin & Gray, CVPR 2016, section 4):
// the input transform runs in shared memory and feeds the 16 GEMMs directly, and the output
// transform is the GEMMs' epilogue, so the 4x-sized transformed input V and the GEMM result
// M never go through global memory (the unfused path, winograd.cu + batched GEMM, writes
// and reads both).
//
//   y[n, k, 2tp + a, 2tq + b] = (A^T M A)[a, b] + bias[k],
//   M[e][k][tile] = sum_c Ut[e][c][k] * V[e][c][tile],   e = 4 xi + nu in 0..15,
//   V[e][c][tile] = (B^T d B)[xi, nu],  d the 4x4 input patch of tile (n, tp, tq), channel c.
//
// Ut is the transformed filter bank U = G g G^T laid out (16, C, K), K contiguous (the
// launcher makes it from winograd_filter_transform's (4, 4, K, C)); dgrad passes the
// flipped filters' transform, for which (16, K_fwd, C_fwd) is already that layout.
//
// One block of 256 threads computes BK = 32 filters x BT = 32 tiles for all 16 positions
// e, stepping over the channels BC = 8 at a time. Per step:
//   * transform role: thread (lc = tid / 32, lt = tid % 32) reads the 4x4 patch of tile
//     t0 + lt, channel c0 + lc (zero outside the image or the tile range) and writes its
//     16 values V into Vs[e][lc][lt];
//   * filter role: thread (uc = tid / 32, uk = tid % 32) copies Ut[e][c0 + uc][k0 + uk] into
//     Us[e][uc][uk] for the 16 e (coalesced: K is contiguous);
//   * GEMM role: thread (i = tid / 64, kg = (tid % 64) / 8, tg = tid % 8) owns the row xi = i
//     of the transform domain (e = 4i .. 4i + 3) for filters 4kg .. 4kg + 3 and tiles
//     4tg .. 4tg + 3: 64 float accumulators, two float4 shared-memory reads per 16 FMAs.
// The next step's global reads are issued before this step's GEMM (register prefetch).
// Epilogue: each thread applies the right factor A to its row (s[b] = sum_nu M[i][nu]
// A[nu][b]: 4 values -> 2), writes them to shared memory (reusing Vs/Us), and after a
// barrier every thread finishes 4 (filter, tile) pairs with the left factor A^T, adds the
// bias and writes the 2x2 output tile (rows < P, columns < Q).
//
// Arithmetic in float (the template also compiles for half/bfloat16 data, but blasfast
// instantiates it for float only: 16-bit data go to the tensor-core GEMMs of the unfused
// path). Grid: (ceil(NT / 32), ceil(K / 32)). Registers: about 175-185 with the prefetch
// (compile check), so one 256-thread block per SM; the 64 accumulators per thread and the
// 16 + 16 prefetched values do not fit the 128 that two blocks would allow without spills.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#define WF_BK 32
#define WF_BT 32
#define WF_BC 8
#define WF_THREADS 256

template <typename T>
__global__ void __launch_bounds__(256)
winograd_fused_fprop(const T* __restrict__ x, long long sxn, long long sxc, long long sxh,
                     long long sxw, int N, int C, int Hv, int Wv, int pt, int pl, int TP,
                     int TQ, const T* __restrict__ Ut, int K, const T* __restrict__ bias,
                     int has_bias, int P, int Q, T* __restrict__ y, long long syn,
                     long long syk, long long syh, long long sys)
{
    // Vs [16][BC][BT] and Us [16][BC][BK] during the main loop; S [4][2][BK][BT] after it.
    __shared__ __align__(16) float smem[2 * 16 * WF_BC * WF_BT];
    float* Vs = smem;
    float* Us = smem + 16 * WF_BC * WF_BT;

    const int tid = threadIdx.x;
    const long long NT = (long long)N * TP * TQ;
    const long long t0 = (long long)blockIdx.x * WF_BT;
    const int k0 = blockIdx.y * WF_BK;

    // transform role
    const int lc = tid / WF_BT, lt = tid % WF_BT;
    const long long p = t0 + lt;
    const bool tile_ok = p < NT;
    const int tq = tile_ok ? (int)(p % TQ) : 0;
    const int tp = tile_ok ? (int)((p / TQ) % TP) : 0;
    const long long n = tile_ok ? p / ((long long)TP * TQ) : 0;
    const T* xn = x + n * sxn;
    const int h0 = 2 * tp - pt, w0 = 2 * tq - pl;
    // filter role
    const int uc = tid / WF_BK, uk = tid % WF_BK;
    const bool k_ok = k0 + uk < K;
    // GEMM role
    const int gi = tid / 64, kg = (tid % 64) / 8, tg = tid % 8;

    float d[4][4], u[16];
    auto load = [&](int c0) {
        const int c = c0 + lc;
        const bool ok = tile_ok && c < C;
        const T* xc = xn + (long long)c * sxc + h0 * sxh + w0 * sxw;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const bool row_ok = ok && h0 + i >= 0 && h0 + i < Hv;
            const T* xr = xc + i * sxh;
#pragma unroll
            for (int j = 0; j < 4; ++j)
                d[i][j] = (row_ok && w0 + j >= 0 && w0 + j < Wv) ? float(xr[j * sxw]) : 0.0f;
        }
        const bool uok = k_ok && c0 + uc < C;
#pragma unroll
        for (int e = 0; e < 16; ++e)
            u[e] = uok ? float(Ut[((long long)e * C + c0 + uc) * K + k0 + uk]) : 0.0f;
    };

    float acc[4][4][4];  // [nu][filter 4kg + .][tile 4tg + .]
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int a = 0; a < 4; ++a)
#pragma unroll
            for (int b = 0; b < 4; ++b) acc[j][a][b] = 0.0f;

    load(0);
    for (int c0 = 0; c0 < C; c0 += WF_BC) {
        // V = B^T d B into Vs, U into Us
        float r[4][4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            r[0][j] = d[0][j] - d[2][j];
            r[1][j] = d[1][j] + d[2][j];
            r[2][j] = d[2][j] - d[1][j];
            r[3][j] = d[1][j] - d[3][j];
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            float* v = Vs + (4 * i * WF_BC + lc) * WF_BT + lt;
            v[0 * WF_BC * WF_BT] = r[i][0] - r[i][2];
            v[1 * WF_BC * WF_BT] = r[i][1] + r[i][2];
            v[2 * WF_BC * WF_BT] = r[i][2] - r[i][1];
            v[3 * WF_BC * WF_BT] = r[i][1] - r[i][3];
        }
#pragma unroll
        for (int e = 0; e < 16; ++e) Us[(e * WF_BC + uc) * WF_BK + uk] = u[e];
        __syncthreads();
        if (c0 + WF_BC < C) load(c0 + WF_BC);  // in flight during the GEMM below
#pragma unroll
        for (int cc = 0; cc < WF_BC; ++cc)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int e = 4 * gi + j;
                const float4 a = *reinterpret_cast<const float4*>(
                    Us + (e * WF_BC + cc) * WF_BK + 4 * kg);
                const float4 b = *reinterpret_cast<const float4*>(
                    Vs + (e * WF_BC + cc) * WF_BT + 4 * tg);
                const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
                for (int ka = 0; ka < 4; ++ka)
#pragma unroll
                    for (int tb = 0; tb < 4; ++tb) acc[j][ka][tb] += av[ka] * bv[tb];
            }
        __syncthreads();
    }

    // Right factor on this thread's row xi = gi: S[gi][b][k][t] = sum_nu M[gi][nu] A[nu][b].
    float* S = smem;
#pragma unroll
    for (int ka = 0; ka < 4; ++ka) {
        float s0[4], s1[4];
#pragma unroll
        for (int tb = 0; tb < 4; ++tb) {
            s0[tb] = acc[0][ka][tb] + acc[1][ka][tb] + acc[2][ka][tb];
            s1[tb] = acc[1][ka][tb] - acc[2][ka][tb] - acc[3][ka][tb];
        }
        const int k = 4 * kg + ka;
        *reinterpret_cast<float4*>(S + ((gi * 2 + 0) * WF_BK + k) * WF_BT + 4 * tg) =
            make_float4(s0[0], s0[1], s0[2], s0[3]);
        *reinterpret_cast<float4*>(S + ((gi * 2 + 1) * WF_BK + k) * WF_BT + 4 * tg) =
            make_float4(s1[0], s1[1], s1[2], s1[3]);
    }
    __syncthreads();

    // Left factor, bias, store: thread -> tile ot = tid % 32, filters tid / 32 + 8 q.
    const int ot = tid % WF_BT;
    const long long op = t0 + ot;
    if (op >= NT) return;
    const int oq = (int)(op % TQ);
    const int opp = (int)((op / TQ) % TP);
    const long long on = op / ((long long)TP * TQ);
#pragma unroll
    for (int q = 0; q < WF_BK / 8; ++q) {
        const int kl = tid / WF_BT + 8 * q;
        const int k = k0 + kl;
        if (k >= K) break;
        float sv[4][2];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int b = 0; b < 2; ++b) sv[i][b] = S[((i * 2 + b) * WF_BK + kl) * WF_BT + ot];
        const float bk = has_bias ? float(bias[k]) : 0.0f;
        T* yk = y + on * syn + (long long)k * syk;
#pragma unroll
        for (int a = 0; a < 2; ++a) {
            const int h = 2 * opp + a;
            if (h >= P) continue;
#pragma unroll
            for (int b = 0; b < 2; ++b) {
                const int w = 2 * oq + b;
                if (w >= Q) continue;
                const float v = a == 0 ? sv[0][b] + sv[1][b] + sv[2][b]
                                       : sv[1][b] - sv[2][b] - sv[3][b];
                yk[h * syh + w * sys] = T(v + bk);
            }
        }
    }
}
