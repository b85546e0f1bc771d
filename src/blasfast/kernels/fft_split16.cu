// Split-FP16 FFT pass on tensor cores: one thread block transforms whole power-of-two
// sequences of N = 2^LOG2N <= 4096 complex points (TPB = max(1, 1024/N) of them) held in
// shared memory, through every radix-4 Stockham stage (one radix-2 stage first when LOG2N is
// odd). sm_80+ (mma.sync.m16n8k16, FP16 operands, FP32 accumulation).
//
// The numerics are those of the CPU emulation in blasfast/fft/_split.py:
//   stage (R, L): column c = q*L + k1 of the (R, N/R) view holds one butterfly; input j is
//   multiplied by exp(sign*2*pi*i*j*k1/(R*L)) in FP32, the butterfly's R complex inputs are
//   split with power-of-two scales (one pair per butterfly) into float16 halves
//       s1 = 2^(e(max|z|)+1), hi = fp16(z/s1), r = z - s1*hi (exact),
//       s2 = 2^(e(max|r|)+1), lo = fp16(r/s2)
//   and multiplied by the exact radix-R DFT matrix (entries 0, +-1, +-i) on tensor cores;
//   output k2 = s1*(F hi)[k2] + s2*(F lo)[k2] goes to index q*R*L + k2*L + k1.
//
// Tensor-core mapping, per warp and mma (8 columns): A (16x16) = diag(F8, F8) with F8 the
// real 8x8 form of the DFT matrix on interleaved (re, im) rows and columns (for R = 2 it is
// diag(F2r, F2r): two radix-2 butterflies per column); B (16x8) = [hi; lo] of the 8 columns,
// so lane (g, t) = (lane/4, lane%4) owns complex input t of column g as the half2 pairs
// b0b1 (hi) and b2b3 (lo); D rows 0-7 = F8 hi, rows 8-15 = F8 lo, so every lane recombines
// its own d0 + d2 and d1 + d3 (columns 2t, 2t+1 of output row g). Scales are reduced over
// the butterfly's lanes with shuffles: the split never leaves registers.
//
// Addressing of the global arrays (element strides, complex64 = float2): transform T of
// `batch` is (o, i) = (T / n_inner, T % n_inner); element j of it lives at
// o*s_outer + i*s_inner + j*s_elem, separately for input and output, so any axis of a
// C-contiguous array, and the transposed store of a four-step pass, need no copies. With
// tw_n > 0 the output element k of transform (o, i) is multiplied by
// exp(sign*2*pi*i*((k*i) mod tw_n)/tw_n) (four-step twiddle, angle in FP64) and every output
// by `scale`. in == out is allowed (a block reads its sequences whole before writing).
//
// Grid: (min(ceil(batch / TPB), 2^20)), blocks stride over the batch; block: 256 threads,
// at least 3 blocks an SM (<= 85 registers; 3 x 64 KB shared memory fits the H200's 228 KB).
// Dynamic shared memory: 2 * max(N, 1024) * 8 bytes, two buffers each stage reads from and
// writes to in turn (64 KB at N = 4096: the launcher raises the 48 KB default limit).
#include <cuda_fp16.h>

#include "ptx.cuh"

namespace blasfast_fft {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xffffffffu;

// The split scale of a block maximum m >= 0 (or NaN): s = 2^(e+1) for m = 1.f * 2^e,
// clamped to [2^-126, 2^126]; inv = 1/s exactly.
__device__ __forceinline__ float pow2_scale(float m, float& inv)
{
    unsigned e = (__float_as_uint(m) >> 23) & 0xffu;
    e = min(e + 1u, 253u);
    inv = __uint_as_float((254u - e) << 23);
    return __uint_as_float(e << 23);
}

__device__ __forceinline__ unsigned half2_bits(__half2 h)
{
    return *reinterpret_cast<unsigned*>(&h);
}

// Entries (row g, columns 2t and 2t+1) of the real 8x8 DFT block this lane holds in A.
template <int R>
__device__ __forceinline__ unsigned dft_fragment(int g, int t, int sign)
{
    const int comp = g & 1;  // 0: real part of the output row, 1: imaginary part
    float wr, wi;
    if (R == 4) {
        const int k = g >> 1;
        const int q = ((sign * k * t) % 4 + 4) % 4;  // exp(sign*2*pi*i*k*t/4) = i^q
        wr = (q == 0) ? 1.f : (q == 2) ? -1.f : 0.f;
        wi = (q == 1) ? 1.f : (q == 3) ? -1.f : 0.f;
    } else {  // two radix-2 butterflies per column: rows 0-3 and 4-7, inputs t = 0-1 and 2-3
        const int k = (g >> 1) & 1;
        const bool same = (g >> 2) == (t >> 1);
        wr = same ? ((k & t & 1) ? -1.f : 1.f) : 0.f;
        wi = 0.f;
    }
    const float e0 = comp == 0 ? wr : wi;   // multiplies Re(input t)
    const float e1 = comp == 0 ? -wi : wr;  // multiplies Im(input t)
    return half2_bits(__floats2half2_rn(e0, e1));
}

// One radix-R stage over the block's POINTS points, from shared buffer src to dst (L = 2^log2L
// points already transformed; R == 2 only with L == 1). Ends with a barrier.
template <int R, int LOG2N, bool SPLIT>
__device__ __forceinline__ void fft_stage(const float2* src, float2* dst, int L, int log2L,
                                          int sign)
{
    constexpr int N = 1 << LOG2N;
    constexpr int POINTS = N > 1024 ? N : 1024;
    constexpr int GPW = POINTS / 4 / 8 / kWarps;  // mma groups of 8 columns (4 points each)
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const unsigned a = dft_fragment<R>(g, t, sign);
    // lane holding the scales of (column 2t+v, the butterfly of output row g)
    const int src_lane = (R == 2) ? ((g >> 2) << 1) : 0;
    float* fdst = reinterpret_cast<float*>(dst);

#pragma unroll 2
    for (int u = 0; u < GPW; ++u) {
        const int base = (warp + u * kWarps) * 8;  // first column of this mma group
        const int col = base + g;                  // this lane's input column
        int idx;
        if (R == 4) {
            const int tb = col >> (LOG2N - 2), c = col & (N / 4 - 1);
            idx = tb * N + t * (N / 4) + c;
        } else {
            const int bf = col * 2 + (t >> 1);  // butterfly
            const int tb = bf >> (LOG2N - 1), q = bf & (N / 2 - 1);
            idx = tb * N + (t & 1) * (N / 2) + q;
        }
        float2 x = src[idx];
        if (R == 4 && L > 1) {
            const int k1 = (col & (N / 4 - 1)) & (L - 1);
            float s, c;
            sincospif((float)(t * k1) / (float)(2 * L), &s, &c);  // angle 2*pi*t*k1/(4L)
            s = sign > 0 ? s : -s;
            x = make_float2(x.x * c - x.y * s, x.x * s + x.y * c);
        }
        // split: scales over the butterfly's lanes (4 for radix 4, 2 for radix 2)
        float m = fmaxf(fabsf(x.x), fabsf(x.y));
        m = fmaxf(m, __shfl_xor_sync(kFull, m, 1));
        if (R == 4) m = fmaxf(m, __shfl_xor_sync(kFull, m, 2));
        float inv1;
        const float s1 = pow2_scale(m, inv1);
        const __half2 hi = __floats2half2_rn(x.x * inv1, x.y * inv1);
        unsigned b1 = 0u;
        float s2 = 0.f;
        if (SPLIT) {
            const float rx = fmaf(-s1, __low2float(hi), x.x);   // exact
            const float ry = fmaf(-s1, __high2float(hi), x.y);
            float m2 = fmaxf(fabsf(rx), fabsf(ry));
            m2 = fmaxf(m2, __shfl_xor_sync(kFull, m2, 1));
            if (R == 4) m2 = fmaxf(m2, __shfl_xor_sync(kFull, m2, 2));
            float inv2;
            s2 = pow2_scale(m2, inv2);
            b1 = half2_bits(__floats2half2_rn(rx * inv2, ry * inv2));
        }
        float d[4];
        mma_m16n8k16_f32_f16(d, a, 0u, 0u, a, half2_bits(hi), b1);
#pragma unroll
        for (int v = 0; v < 2; ++v) {
            const int ocol = base + 2 * t + v;  // output column of d[v] (hi) and d[2+v] (lo)
            const float s1v = __shfl_sync(kFull, s1, (2 * t + v) * 4 + src_lane);
            float y;
            if (SPLIT) {
                const float s2v = __shfl_sync(kFull, s2, (2 * t + v) * 4 + src_lane);
                y = fmaf(s1v, d[v], s2v * d[2 + v]);  // both products exact: one rounding
            } else {
                y = s1v * d[v];
            }
            int oidx;
            if (R == 4) {
                const int tb = ocol >> (LOG2N - 2), c = ocol & (N / 4 - 1);
                const int q = c >> log2L, k1 = c & (L - 1);
                oidx = tb * N + q * 4 * L + (g >> 1) * L + k1;
            } else {
                const int bf = ocol * 2 + (g >> 2);
                const int tb = bf >> (LOG2N - 1), q = bf & (N / 2 - 1);
                oidx = tb * N + q * 2 + ((g >> 1) & 1);
            }
            fdst[2 * oidx + (g & 1)] = y;
        }
    }
    __syncthreads();
}

}  // namespace blasfast_fft

// MODE 1: 'split16' (hi and lo halves); MODE 0: 'fp16' (hi only, same scales).
template <int LOG2N, int MODE>
__global__ void __launch_bounds__(blasfast_fft::kThreads, 3)
fft_split16_pass(const float2* in, float2* out, long long batch, long long n_inner,
                 long long is_elem, long long is_inner, long long is_outer,
                 long long os_elem, long long os_inner, long long os_outer,
                 int sign, long long tw_n, float scale)
{
    using namespace blasfast_fft;
    constexpr int N = 1 << LOG2N;
    constexpr int POINTS = N > 1024 ? N : 1024;
    constexpr int TPB = POINTS / N;  // sequences a block
    constexpr int LOG2TPB = (LOG2N >= 10) ? 0 : 10 - LOG2N;
    extern __shared__ float2 smem[];  // 2 * POINTS: ping-pong buffers
    float2* buf = smem;
    float2* tmp = smem + POINTS;

    for (long long blk = blockIdx.x; blk * TPB < batch; blk += gridDim.x) {
        const long long first = blk * TPB;
        // Consecutive threads take consecutive elements of a sequence, or -- for a strided
        // (column) pass with several sequences a block -- consecutive sequences, which are
        // then adjacent in memory: coalesced either way.
        const bool seq_in = is_elem != 1 && TPB > 1;
        for (int e = threadIdx.x; e < POINTS; e += kThreads) {
            const int tb = seq_in ? (e & (TPB - 1)) : (e >> LOG2N);
            const int j = seq_in ? (e >> LOG2TPB) : (e & (N - 1));
            const long long T = first + tb;
            float2 v = make_float2(0.f, 0.f);
            if (T < batch) {
                const long long o = T / n_inner, i = T - o * n_inner;
                v = in[o * is_outer + i * is_inner + (long long)j * is_elem];
            }
            buf[tb * N + j] = v;
        }
        __syncthreads();
        int L = 1, log2L = 0;
        if (LOG2N & 1) {
            fft_stage<2, LOG2N, MODE == 1>(buf, tmp, 1, 0, sign);
            float2* sw = buf; buf = tmp; tmp = sw;
            L = 2;
            log2L = 1;
        }
        if (LOG2N >= 2) {
            for (; L < N; L *= 4, log2L += 2) {
                fft_stage<4, (LOG2N >= 2 ? LOG2N : 2), MODE == 1>(buf, tmp, L, log2L, sign);
                float2* sw = buf; buf = tmp; tmp = sw;
            }
        }
        const bool seq_out = os_elem != 1 && TPB > 1;
        for (int e = threadIdx.x; e < POINTS; e += kThreads) {
            const int tb = seq_out ? (e & (TPB - 1)) : (e >> LOG2N);
            const long long k = seq_out ? (e >> LOG2TPB) : (e & (N - 1));
            const long long T = first + tb;
            if (T >= batch) continue;
            const long long o = T / n_inner, i = T - o * n_inner;
            float2 v = buf[tb * N + k];
            if (tw_n > 0) {
                double s, c;
                sincospi(2.0 * (double)((k * i) % tw_n) / (double)tw_n, &s, &c);
                const float wr = (float)c, wi = (float)(sign > 0 ? s : -s);
                v = make_float2(v.x * wr - v.y * wi, v.x * wi + v.y * wr);
            }
            v.x *= scale;
            v.y *= scale;
            out[o * os_outer + i * os_inner + k * os_elem] = v;
        }
        __syncthreads();
    }
}
