// Winograd F(2x2, 3x3) transforms (Lavin & Gray, CVPR 2016), the unfused path:
//
//   Y = A^T [ U (.) V ] A,   U = G g G^T (filters),   V = B^T d B (4x4 input tiles),
//
// with the channel sum turning the elementwise product into 16 independent GEMMs
// M[xi][nu] (K x NT) = U[xi][nu] (K x C) * V[xi][nu] (C x NT), run by blasfast's batched
// GEMM between these kernels. NT = N * TP * TQ tiles, TP = ceil(P / 2), TQ = ceil(Q / 2);
// tile p = (n * TP + tp) * TQ + tq covers output rows 2tp, 2tp+1 and columns 2tq, 2tq+1, and
// reads input rows 2tp - pt .. 2tp - pt + 3 (tiles overlap by 2).
//
//   B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]
//   G   = [[1,0,0],[1/2,1/2,1/2],[1/2,-1/2,1/2],[0,0,1]]
//   A^T = [[1,1,1,0],[0,1,-1,-1]]
//
// All constants are 0, +-1, +-1/2: the transforms cost additions only. Every kernel runs
// one thread per (channel or filter, tile), in a grid-stride loop over a 64-bit index, and
// computes in Tacc (float, or double for double data); 16-bit operands of the GEMMs (V, U,
// dM) are rounded once, when stored.
//
// Layouts (element strides where an operand is user memory, contiguous otherwise):
//   x  (N, C, H, W) strides sxn, sxc, sxh, sxw;   V  (16, C, NT) contiguous
//   w  (K, C, 3, 3) strides swk, swc, swr, sws;   U  (16, K, C)  contiguous
//   M  (16, K, NT) contiguous (the GEMM result);  y  (N, K, P, Q) strides syn, syk, syh, sys
// Backward (wgrad as the adjoint of the forward):
//   dM = A dY A^T on 2x2 tiles of dy -> (16, K, NT);  dU = dM V^T (GEMM, 16 x (K x C));
//   dw = G^T dU G -> (K, C, 3, 3).
// Zero padding: an input element is read only when 0 <= row < Hv and 0 <= col < Wv (the
// launcher passes Hv = min(H, H + pad_bottom), so a negative padding crops).
#include <cuda_fp16.h>
#include <cuda_bf16.h>

template <typename T> struct WinoAcc { typedef float type; };
template <> struct WinoAcc<double> { typedef double type; };

#define WINO_LOOP(total)                                                                   \
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < (total);  \
         idx += (long long)gridDim.x * blockDim.x)

// V = B^T d B for one 4x4 tile of one channel.
template <typename Tx, typename Tv>
__global__ void __launch_bounds__(256)
winograd_input_transform(const Tx* __restrict__ x, long long sxn, long long sxc,
                         long long sxh, long long sxw, int N, int C, int Hv, int Wv,
                         int pt, int pl, int TP, int TQ, Tv* __restrict__ V)
{
    typedef typename WinoAcc<Tx>::type A;
    const long long NT = (long long)N * TP * TQ;
    const long long plane = (long long)C * NT;
    WINO_LOOP(plane) {
        const long long c = idx / NT;
        const long long p = idx - c * NT;
        const int tq = (int)(p % TQ);
        const long long t = p / TQ;
        const int tp = (int)(t % TP);
        const long long n = t / TP;
        const Tx* xc = x + n * sxn + c * sxc;
        const int h0 = 2 * tp - pt, w0 = 2 * tq - pl;
        A d[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int h = h0 + i, w = w0 + j;
                d[i][j] = (h >= 0 && h < Hv && w >= 0 && w < Wv)
                              ? A(xc[h * sxh + w * sxw]) : A(0);
            }
        A r[4][4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            r[0][j] = d[0][j] - d[2][j];
            r[1][j] = d[1][j] + d[2][j];
            r[2][j] = d[2][j] - d[1][j];
            r[3][j] = d[1][j] - d[3][j];
        }
        Tv* out = V + idx;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            out[(4 * i + 0) * plane] = Tv(r[i][0] - r[i][2]);
            out[(4 * i + 1) * plane] = Tv(r[i][1] + r[i][2]);
            out[(4 * i + 2) * plane] = Tv(r[i][2] - r[i][1]);
            out[(4 * i + 3) * plane] = Tv(r[i][1] - r[i][3]);
        }
    }
}

// U = G g G^T for one (k, c) filter.
template <typename Tw, typename Tu>
__global__ void __launch_bounds__(256)
winograd_filter_transform(const Tw* __restrict__ w, long long swk, long long swc,
                          long long swr, long long sws, int K, int C, Tu* __restrict__ U)
{
    typedef typename WinoAcc<Tw>::type A;
    const long long plane = (long long)K * C;
    WINO_LOOP(plane) {
        const long long k = idx / C;
        const long long c = idx - k * C;
        const Tw* g = w + k * swk + c * swc;
        A gr[3][3];
#pragma unroll
        for (int r = 0; r < 3; ++r)
#pragma unroll
            for (int s = 0; s < 3; ++s) gr[r][s] = A(g[r * swr + s * sws]);
        A t[4][3];
#pragma unroll
        for (int s = 0; s < 3; ++s) {
            t[0][s] = gr[0][s];
            t[1][s] = A(0.5) * (gr[0][s] + gr[1][s] + gr[2][s]);
            t[2][s] = A(0.5) * (gr[0][s] - gr[1][s] + gr[2][s]);
            t[3][s] = gr[2][s];
        }
        Tu* out = U + idx;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            out[(4 * i + 0) * plane] = Tu(t[i][0]);
            out[(4 * i + 1) * plane] = Tu(A(0.5) * (t[i][0] + t[i][1] + t[i][2]));
            out[(4 * i + 2) * plane] = Tu(A(0.5) * (t[i][0] - t[i][1] + t[i][2]));
            out[(4 * i + 3) * plane] = Tu(t[i][2]);
        }
    }
}

// Y = A^T M A (+ bias[k]) for one (k, tile); writes the rows < P and columns < Q.
template <typename Tm, typename Ty>
__global__ void __launch_bounds__(256)
winograd_output_transform(const Tm* __restrict__ M, int N, int K, int TP, int TQ, int P,
                          int Q, const Ty* __restrict__ bias, int has_bias,
                          Ty* __restrict__ y, long long syn, long long syk, long long syh,
                          long long sys)
{
    typedef Tm A;
    const long long NT = (long long)N * TP * TQ;
    const long long plane = (long long)K * NT;
    WINO_LOOP(plane) {
        const long long k = idx / NT;
        const long long p = idx - k * NT;
        const int tq = (int)(p % TQ);
        const long long t = p / TQ;
        const int tp = (int)(t % TP);
        const long long n = t / TP;
        A m[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) m[i][j] = M[(4 * i + j) * plane + idx];
        A s[2][4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            s[0][j] = m[0][j] + m[1][j] + m[2][j];
            s[1][j] = m[1][j] - m[2][j] - m[3][j];
        }
        const A b = has_bias ? A(bias[k]) : A(0);
        Ty* yk = y + n * syn + k * syk;
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int h = 2 * tp + i;
            if (h >= P) continue;
            const A v0 = s[i][0] + s[i][1] + s[i][2] + b;
            const A v1 = s[i][1] - s[i][2] - s[i][3] + b;
            yk[h * syh + (2 * tq) * sys] = Ty(v0);
            if (2 * tq + 1 < Q) yk[h * syh + (2 * tq + 1) * sys] = Ty(v1);
        }
    }
}

// dM = A dY A^T for one (k, tile) of the output gradient (rows >= P, columns >= Q are 0).
template <typename Ty, typename Tv>
__global__ void __launch_bounds__(256)
winograd_grad_output_transform(const Ty* __restrict__ dy, long long syn, long long syk,
                               long long syh, long long sys, int N, int K, int TP, int TQ,
                               int P, int Q, Tv* __restrict__ dM)
{
    typedef typename WinoAcc<Ty>::type A;
    const long long NT = (long long)N * TP * TQ;
    const long long plane = (long long)K * NT;
    WINO_LOOP(plane) {
        const long long k = idx / NT;
        const long long p = idx - k * NT;
        const int tq = (int)(p % TQ);
        const long long t = p / TQ;
        const int tp = (int)(t % TP);
        const long long n = t / TP;
        const Ty* g = dy + n * syn + k * syk;
        A e[2][2];
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                const int h = 2 * tp + i, w = 2 * tq + j;
                e[i][j] = (h < P && w < Q) ? A(g[h * syh + w * sys]) : A(0);
            }
        A r[4][2];  // A e: rows (e0, e0 + e1, e0 - e1, -e1)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            r[0][j] = e[0][j];
            r[1][j] = e[0][j] + e[1][j];
            r[2][j] = e[0][j] - e[1][j];
            r[3][j] = -e[1][j];
        }
        Tv* out = dM + idx;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            out[(4 * i + 0) * plane] = Tv(r[i][0]);
            out[(4 * i + 1) * plane] = Tv(r[i][0] + r[i][1]);
            out[(4 * i + 2) * plane] = Tv(r[i][0] - r[i][1]);
            out[(4 * i + 3) * plane] = Tv(-r[i][1]);
        }
    }
}

// dw = G^T dU G for one (k, c).
template <typename Tu, typename Tw>
__global__ void __launch_bounds__(256)
winograd_filter_grad_transform(const Tu* __restrict__ dU, int K, int C,
                               Tw* __restrict__ dw, long long swk, long long swc,
                               long long swr, long long sws)
{
    typedef Tu A;
    const long long plane = (long long)K * C;
    WINO_LOOP(plane) {
        const long long k = idx / C;
        const long long c = idx - k * C;
        A u[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) u[i][j] = dU[(4 * i + j) * plane + idx];
        A z[3][4];  // G^T u: rows (u0 + (u1 + u2)/2, (u1 - u2)/2, (u1 + u2)/2 + u3)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const A hs = A(0.5) * (u[1][j] + u[2][j]);
            z[0][j] = u[0][j] + hs;
            z[1][j] = A(0.5) * (u[1][j] - u[2][j]);
            z[2][j] = hs + u[3][j];
        }
        Tw* out = dw + k * swk + c * swc;
#pragma unroll
        for (int r = 0; r < 3; ++r) {
            const A hs = A(0.5) * (z[r][1] + z[r][2]);
            out[r * swr + 0 * sws] = Tw(z[r][0] + hs);
            out[r * swr + 1 * sws] = Tw(A(0.5) * (z[r][1] - z[r][2]));
            out[r * swr + 2 * sws] = Tw(hs + z[r][3]);
        }
    }
}
