// Block-row triangular solve of the blocked LU:  B := L^-1 B  with L the NB x NB unit lower
// triangle just factored (only its strictly lower part is read) and B the nb x ncols block
// row to its right (nb <= NB rows used). Row-major, element (i, c) at X[i * ld + c].
// T = float (FP32 factors of the mixed-precision LU) or double.
//
// One thread per column of B holds that column in registers (NB values, fully unrolled
// forward substitution); L is staged once per block in shared memory and read as a
// broadcast. Consecutive threads read consecutive elements of each row of B: coalesced.
// Grid (ceil(ncols / THREADS)), block THREADS.
template <typename T, int NB, int THREADS>
__global__ void __launch_bounds__(THREADS)
trsm_block_row(const T* __restrict__ L, long long ldl, T* __restrict__ B, long long ldb,
               int nb, int ncols)
{
    __shared__ T sL[NB][NB + 1];
    for (int e = threadIdx.x; e < NB * NB; e += THREADS) {
        const int i = e / NB, p = e - i * NB;
        sL[i][p] = (i < nb && p < i) ? L[(long long)i * ldl + p] : T(0);
    }
    __syncthreads();
    const int c = blockIdx.x * THREADS + threadIdx.x;
    if (c >= ncols) return;
    T x[NB];
#pragma unroll
    for (int i = 0; i < NB; ++i) x[i] = i < nb ? B[(long long)i * ldb + c] : T(0);
#pragma unroll
    for (int i = 1; i < NB; ++i) {
        T s = x[i];
#pragma unroll
        for (int p = 0; p < i; ++p) s = fma(-sL[i][p], x[p], s);
        x[i] = s;
    }
#pragma unroll
    for (int i = 0; i < NB; ++i)
        if (i < nb) B[(long long)i * ldb + c] = x[i];
}
