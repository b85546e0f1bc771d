// Strided batched GEMM on CUDA cores:  D[z] = alpha * op(A[z]) * op(B[z]) + beta * C[z].
//
// Every operand is addressed by element strides, so transposes, non-contiguous views and
// broadcast batch dimensions (stride 0) cost no copy. The batch index z is split as
// z = z_outer * nb_inner + z_inner, each part with its own stride per operand (the host
// folds any batch shape into these two); blocks walk the batch in steps of gridDim.z, so
// batches larger than the grid limit (65535) need no second launch.
// Grid: (ceil(M/BM), ceil(N/BN), min(batch, 65535)); block: (BM/TM)*(BN/TN) threads.
#include "gemm_simt.cuh"

template <typename T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_strided_batched(
    int M, int N, int K, long long batch, long long nb_inner, T alpha, T beta,
    const T* __restrict__ A, long long sam, long long sak, long long sa_o, long long sa_i,
    const T* __restrict__ B, long long sbk, long long sbn, long long sb_o, long long sb_i,
    const T* __restrict__ C, long long scm, long long scn, long long sc_o, long long sc_i,
    T* __restrict__ D, long long sdm, long long sdn, long long sd_o, long long sd_i)
{
    for (long long z = blockIdx.z; z < batch; z += gridDim.z) {
        const long long zo = z / nb_inner;
        const long long zi = z - zo * nb_inner;
        gemm_tile_simt<T, T, T, BM, BN, BK, TM, TN>(
            blockIdx.x * BM, blockIdx.y * BN, M, N, K, alpha, beta,
            A + zo * sa_o + zi * sa_i, sam, sak,
            B + zo * sb_o + zi * sb_i, sbk, sbn,
            C + zo * sc_o + zi * sc_i, scm, scn,
            D + zo * sd_o + zi * sd_i, sdm, sdn);
    }
}
