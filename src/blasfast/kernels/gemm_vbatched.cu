// Variable-size batched GEMM on CUDA cores, one launch for all matrices:
//
//   D_z = alpha * op(A_z) * op(B_z) + beta * C_z,   z = 0 .. count-1,   each with its own
//   M_z, N_z, K_z, pointers and element strides.
//
// The host packs, per matrix, one record of VB_FIELDS int64 values (layout below; the
// Python side is gemm_vbatched._FIELDS and a test compares the two) and uploads all records
// in one host-to-device copy. Transposes and views are plain element strides (a transpose
// swaps the two strides of a matrix), so no operand is copied.
//
// Grid: (ceil(maxM/BM), ceil(maxN/BN), min(count, 65535)); block: (BM/TM)*(BN/TN) threads.
// The maxima come from the host (shapes are host metadata), so nothing is read back from
// the device. A block walks the matrices z = blockIdx.z, blockIdx.z + gridDim.z, ... and
// skips a matrix whose M_z / N_z do not reach its tile. The skip depends only on the block
// and z, so it is uniform over the block and comes before any __syncthreads() of the tile.
// When beta == 0, C is never read (BLAS semantics).
//
// Follows MAGMA's magmablas_Xgemm_vbatched (arrays of sizes and pointers, maximum sizes
// from the caller, blocks outside a smaller matrix return early), with strides in place of
// leading dimensions and FP32 accumulation for FP16/BF16 inputs.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include "gemm_simt.cuh"

// One record per matrix, int64 each. Pointers are byte addresses; strides are in elements
// of the operand: op(A)(i, k) = A[i * sam + k * sak], op(B)(k, j) = B[k * sbk + j * sbn].
enum VbField : int {
    VB_M = 0, VB_N = 1, VB_K = 2,
    VB_A = 3, VB_SAM = 4, VB_SAK = 5,
    VB_B = 6, VB_SBK = 7, VB_SBN = 8,
    VB_C = 9, VB_SCM = 10, VB_SCN = 11,
    VB_D = 12, VB_SDM = 13, VB_SDN = 14,
    VB_FIELDS = 16  // one spare: a record is 128 bytes, one cache line
};

// Blocks per SM that ptxas must leave room for (caps registers at 65536 / (threads * it)).
// Without it, ptxas squeezes the one-element micro-tile kernel to 48 registers and spills
// (the packed record adds 8 pointers/strides of 64 bits to the tile's live state); 4 blocks
// of 256 threads allow 64 registers, 3 allow 85 for the register-blocked tiles.
constexpr int vb_min_blocks(int tm, int tn) { return tm * tn == 1 ? 4 : 3; }

template <typename Tin, typename Tacc, typename Tout, int BM, int BN, int BK, int TM, int TN,
          bool TF32>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), vb_min_blocks(TM, TN))
gemm_vbatched(long long count, const long long* __restrict__ args, Tacc alpha, Tacc beta)
{
    const int m0 = blockIdx.x * BM;
    const int n0 = blockIdx.y * BN;
    for (long long z = blockIdx.z; z < count; z += gridDim.z) {
        const long long* r = args + z * VB_FIELDS;
        const int M = static_cast<int>(r[VB_M]);
        const int N = static_cast<int>(r[VB_N]);
        if (m0 >= M || n0 >= N) continue;  // uniform over the block: no __syncthreads skipped
        const int K = static_cast<int>(r[VB_K]);
        gemm_tile_simt<Tin, Tacc, Tout, BM, BN, BK, TM, TN, TF32>(
            m0, n0, M, N, K, alpha, beta,
            reinterpret_cast<const Tin*>(r[VB_A]), r[VB_SAM], r[VB_SAK],
            reinterpret_cast<const Tin*>(r[VB_B]), r[VB_SBK], r[VB_SBN],
            reinterpret_cast<const Tout*>(r[VB_C]), r[VB_SCM], r[VB_SCN],
            reinterpret_cast<Tout*>(r[VB_D]), r[VB_SDM], r[VB_SDN]);
    }
}
