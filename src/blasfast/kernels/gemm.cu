// Batched GEMM, general strides:  D[z] = alpha * op(A[z]) * op(B[z]) + beta * C[z].
//
// One thread block computes a BM x BN tile of one matrix; each of its
// (BM/TM)*(BN/TN) threads owns a TM x TN micro-tile held in registers. A and B are staged
// through shared memory BK columns at a time, with one padding element per row against
// bank conflicts. Transposes, non-contiguous views and broadcast batch dimensions are all
// expressed as element strides (a transpose swaps the two matrix strides), so no operand is
// ever copied. The batch index z is split as z = z_outer * nb_inner + z_inner, each with its
// own stride per operand; blocks walk the batch in steps of gridDim.z.
//
// Threads of a warp share ty and differ in tx, so the A fragment is a shared-memory
// broadcast and the B fragment reads consecutive words: no bank conflicts. A thread's rows
// are ty, ty + BM/TM, ... (interleaved) so that consecutive threads store consecutive
// columns of D, coalesced when D is row-major.
//
// When beta == 0, C is never read (BLAS semantics: NaN/Inf in C do not propagate).
// This is the correct-first general kernel; size-class specialisations and tensor cores
// come on top of it.

template <typename T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_strided_batched(
    int M, int N, int K, long long batch, long long nb_inner, T alpha, T beta,
    const T* __restrict__ A, long long sam, long long sak, long long sa_o, long long sa_i,
    const T* __restrict__ B, long long sbk, long long sbn, long long sb_o, long long sb_i,
    const T* __restrict__ C, long long scm, long long scn, long long sc_o, long long sc_i,
    T* __restrict__ D, long long sdm, long long sdn, long long sd_o, long long sd_i)
{
    constexpr int TX = BN / TN;             // threads along N
    constexpr int TY = BM / TM;             // threads along M
    constexpr int NT = TX * TY;
    static_assert(BM % TM == 0 && BN % TN == 0, "tile must divide into micro-tiles");

    __shared__ T As[BK][BM + 1];
    __shared__ T Bs[BK][BN + 1];

    const int tid = threadIdx.x;
    const int tx = tid % TX;
    const int ty = tid / TX;
    const int m0 = blockIdx.x * BM;
    const int n0 = blockIdx.y * BN;

    for (long long z = blockIdx.z; z < batch; z += gridDim.z) {
        const long long zo = z / nb_inner;
        const long long zi = z - zo * nb_inner;
        const T* a = A + zo * sa_o + zi * sa_i;
        const T* b = B + zo * sb_o + zi * sb_i;

        T acc[TM][TN];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

        for (int k0 = 0; k0 < K; k0 += BK) {
            // Stage A(m0:m0+BM, k0:k0+BK). Let consecutive threads follow the unit stride
            // of A so that the global loads coalesce.
            for (int e = tid; e < BM * BK; e += NT) {
                int mm, kk;
                if (sak == 1) { kk = e % BK; mm = e / BK; } else { mm = e % BM; kk = e / BM; }
                const int gm = m0 + mm, gk = k0 + kk;
                As[kk][mm] = (gm < M && gk < K) ? a[gm * sam + gk * sak] : T(0);
            }
            for (int e = tid; e < BN * BK; e += NT) {
                int nn, kk;
                if (sbn == 1) { nn = e % BN; kk = e / BN; } else { kk = e % BK; nn = e / BK; }
                const int gn = n0 + nn, gk = k0 + kk;
                Bs[kk][nn] = (gn < N && gk < K) ? b[gk * sbk + gn * sbn] : T(0);
            }
            __syncthreads();

#pragma unroll
            for (int kk = 0; kk < BK; ++kk) {
                T af[TM], bf[TN];
#pragma unroll
                for (int i = 0; i < TM; ++i) af[i] = As[kk][ty + i * TY];
#pragma unroll
                for (int j = 0; j < TN; ++j) bf[j] = Bs[kk][tx + j * TX];
#pragma unroll
                for (int i = 0; i < TM; ++i)
#pragma unroll
                    for (int j = 0; j < TN; ++j) acc[i][j] = fma(af[i], bf[j], acc[i][j]);
            }
            __syncthreads();
        }

        const T* c = C + zo * sc_o + zi * sc_i;
        T* d = D + zo * sd_o + zi * sd_i;
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int gm = m0 + ty + i * TY;
            if (gm >= M) continue;
#pragma unroll
            for (int j = 0; j < TN; ++j) {
                const int gn = n0 + tx + j * TX;
                if (gn >= N) continue;
                T v = alpha * acc[i][j];
                if (beta != T(0)) v = fma(beta, c[gm * scm + gn * scn], v);
                d[gm * sdm + gn * sdn] = v;
            }
        }
    }
}
