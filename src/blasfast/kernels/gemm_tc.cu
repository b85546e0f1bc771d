// Strided batched GEMM on tensor cores (WMMA):  D[z] = alpha * op(A[z]) * op(B[z]) + beta * C[z]
// with FP16/BF16 operands, or FP32 operands rounded to TF32, and FP32 accumulation; D (and
// C) are float, __half or __nv_bfloat16. alpha and beta are float whatever the types.
//
// Addressing and batching exactly as gemm_strided_batched in gemm.cu: element strides for
// every operand, the batch index z split as z = z_outer * nb_inner + z_inner with a stride
// per part and operand, blocks walking the batch in steps of gridDim.z.
// Grid: (ceil(M/BM), ceil(N/BN), min(batch, 65535)); block: 32*(BM/WM)*(BN/WN) threads.
// Static shared memory only (< 48 KB per block); register budget: gemm_tc_min_blocks() in
// gemm_tc.cuh (64 registers per thread for one-fragment warps, 128 otherwise).
#include "gemm_tc.cuh"

template <typename Tin, typename Tout, int BM, int BN, int BK, int WM, int WN>
__global__ void __launch_bounds__(gemm_tc_threads(BM, BN, WM, WN),
                                  gemm_tc_min_blocks(BM, BN, WM, WN))
gemm_tc_strided_batched(
    int M, int N, int K, long long batch, long long nb_inner, float alpha, float beta,
    const Tin* __restrict__ A, long long sam, long long sak, long long sa_o, long long sa_i,
    const Tin* __restrict__ B, long long sbk, long long sbn, long long sb_o, long long sb_i,
    const Tout* C, long long scm, long long scn, long long sc_o, long long sc_i,
    Tout* D, long long sdm, long long sdn, long long sd_o, long long sd_i)
{
    for (long long z = blockIdx.z; z < batch; z += gridDim.z) {
        const long long zo = z / nb_inner;
        const long long zi = z - zo * nb_inner;
        gemm_tile_tc<Tin, Tout, BM, BN, BK, WM, WN>(
            blockIdx.x * BM, blockIdx.y * BN, M, N, K, alpha, beta,
            A + zo * sa_o + zi * sa_i, sam, sak,
            B + zo * sb_o + zi * sb_i, sbk, sbn,
            C + zo * sc_o + zi * sc_i, scm, scn,
            D + zo * sd_o + zi * sd_i, sdm, sdn);
    }
}
