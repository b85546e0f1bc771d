// Row interchanges of a panel applied to other columns (LAPACK ?laswp, forward):
// for i = k1 .. k2-1 in order, swap rows i and ipiv[i] of columns [0, ncols) of the
// row-major matrix A (element (i, c) at A[i * lda + c]; A may point at any column).
// One thread per column walks the interchanges in order; consecutive threads touch
// consecutive elements of a row, so every access is coalesced.
// Grid (ceil(ncols / THREADS)), block THREADS.
template <typename T, int THREADS>
__global__ void __launch_bounds__(THREADS, 1)
getrf_laswp(T* __restrict__ A, long long lda, int ncols, const int* __restrict__ ipiv,
            int k1, int k2)
{
    const int c = blockIdx.x * THREADS + threadIdx.x;
    if (c >= ncols) return;
    for (int i = k1; i < k2; ++i) {
        const int p = ipiv[i];
        if (p != i) {
            const T t = A[(long long)i * lda + c];
            A[(long long)i * lda + c] = A[(long long)p * lda + c];
            A[(long long)p * lda + c] = t;
        }
    }
}
