// Device helpers shared by the LU kernels: |x|, (value, index) arg-max reductions and the
// grid-wide barrier of the persistent panel kernel.
#pragma once

__device__ __forceinline__ float abs_val(float x) { return fabsf(x); }
__device__ __forceinline__ double abs_val(double x) { return fabs(x); }

// Arg-max over a warp: the largest value, ties to the smallest index (LAPACK i?amax picks
// the first). Every lane ends with the result.
template <typename T>
__device__ __forceinline__ void warp_argmax(T& v, int& idx)
{
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const T ov = __shfl_xor_sync(0xffffffffu, v, off);
        const int oi = __shfl_xor_sync(0xffffffffu, idx, off);
        if (ov > v || (ov == v && oi < idx)) { v = ov; idx = oi; }
    }
}

// Arg-max over a thread block of THREADS threads (a multiple of 32); every thread ends
// with the result. Contains __syncthreads(): call from all threads.
template <typename T, int THREADS>
__device__ __forceinline__ void block_argmax(T& v, int& idx, T* red_val, int* red_idx)
{
    warp_argmax(v, idx);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) { red_val[warp] = v; red_idx[warp] = idx; }
    __syncthreads();
    if (warp == 0) {
        v = lane < THREADS / 32 ? red_val[lane] : T(-1);
        idx = lane < THREADS / 32 ? red_idx[lane] : 0x7fffffff;
        warp_argmax(v, idx);
        if (lane == 0) { red_val[0] = v; red_idx[0] = idx; }
    }
    __syncthreads();
    v = red_val[0];
    idx = red_idx[0];
    __syncthreads();
}

// Grid-wide barrier for a grid whose blocks are all resident (bar[0]: arrivals, bar[1]:
// generation; both start at 0 and bar[0] returns to 0). Writes before it are visible to
// reads after it through L2 (use __ldcg / volatile for data written by other blocks).
__device__ __forceinline__ void grid_barrier(unsigned int* bar, unsigned int nblocks)
{
    __syncthreads();
    if (threadIdx.x == 0) {
        volatile unsigned int* gen = bar + 1;
        const unsigned int g = *gen;
        __threadfence();
        if (atomicAdd(bar, 1u) == nblocks - 1) {
            atomicExch(bar, 0u);
            __threadfence();
            atomicAdd(bar + 1, 1u);
        } else {
            while (*gen == g) __nanosleep(20);
        }
        __threadfence();
    }
    __syncthreads();
}
