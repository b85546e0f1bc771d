// Convolution as GEMM (the path for every filter size, stride and dilation):
//
//   im2col: cols[(c R + r) S + s][n][p][q] = x[n][c][p sh - pt + r dh][q sw - pl + s dw]
//           (0 outside the input), contiguous (C R S, N, P, Q). The forward GEMM reads it as
//           N matrices (C R S x P Q) with leading dimension N P Q, the wgrad GEMM as one
//           (C R S x N P Q) matrix -- one layout, no second copy.
//   col2im: dx[n][c][h][w] = sum over (r, s) with h + pt - r dh = p sh, w + pl - s dw = q sw,
//           0 <= p < P, 0 <= q < Q of dcols[n][(c R + r) S + s][p][q]; dcols contiguous
//           (N, C R S, P, Q), the result of the dgrad GEMM W^T dy. A gather (one thread per
//           element of dx), so no atomics and a deterministic sum order.
//
// x and dx are read/written through element strides (any view); one thread per element of
// the output in a grid-stride loop over a 64-bit index.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

template <typename T> struct ConvAcc { typedef float type; };
template <> struct ConvAcc<double> { typedef double type; };

#define CONV_LOOP(total)                                                                   \
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < (total);  \
         idx += (long long)gridDim.x * blockDim.x)

template <typename T>
__global__ void __launch_bounds__(256)
im2col(const T* __restrict__ x, long long sxn, long long sxc, long long sxh, long long sxw,
       int N, int C, int H, int W, int R, int S, int sh, int sw, int dh, int dw, int pt,
       int pl, int P, int Q, T* __restrict__ cols)
{
    const long long total = (long long)C * R * S * N * P * Q;
    CONV_LOOP(total) {
        const int q = (int)(idx % Q);
        long long t = idx / Q;
        const int p = (int)(t % P);
        t /= P;
        const long long n = t % N;
        t /= N;
        const int s = (int)(t % S);
        t /= S;
        const int r = (int)(t % R);
        const long long c = t / R;
        const int h = p * sh - pt + r * dh;
        const int w = q * sw - pl + s * dw;
        cols[idx] = (h >= 0 && h < H && w >= 0 && w < W)
                        ? x[n * sxn + c * sxc + h * sxh + w * sxw] : T(0.0f);
    }
}

template <typename Tc, typename Tx>
__global__ void __launch_bounds__(256)
col2im(const Tc* __restrict__ dcols, int N, int C, int H, int W, int R, int S, int sh,
       int sw, int dh, int dw, int pt, int pl, int P, int Q, Tx* __restrict__ dx,
       long long sxn, long long sxc, long long sxh, long long sxw)
{
    typedef typename ConvAcc<Tc>::type A;
    const long long total = (long long)N * C * H * W;
    const long long PQ = (long long)P * Q;
    CONV_LOOP(total) {
        const int w = (int)(idx % W);
        long long t = idx / W;
        const int h = (int)(t % H);
        t /= H;
        const long long c = t % C;
        const long long n = t / C;
        A acc = A(0);
        for (int r = 0; r < R; ++r) {
            const int hp = h + pt - r * dh;
            if (hp < 0 || hp % sh != 0 || hp / sh >= P) continue;
            const int p = hp / sh;
            for (int s = 0; s < S; ++s) {
                const int wq = w + pl - s * dw;
                if (wq < 0 || wq % sw != 0 || wq / sw >= Q) continue;
                const int q = wq / sw;
                acc += A(dcols[((n * C + c) * R * S + r * S + s) * PQ + (long long)p * Q + q]);
            }
        }
        dx[n * sxn + c * sxc + h * sxh + w * sxw] = Tx(acc);
    }
}
