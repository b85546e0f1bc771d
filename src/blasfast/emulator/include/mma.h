// nvcuda::wmma for the emulator: found before CUDA's own mma.h on the include path.
//
// A fragment holds its share of the logical matrix: lane l keeps elements
// [l * n, (l + 1) * n) of the row-major ROWS x COLS matrix, n = ROWS * COLS / 32. (The
// hardware's mapping is unspecified by CUDA and never indexed by our kernels.)
// load_matrix_sync, store_matrix_sync and mma_sync are warp collectives: all 32 lanes must
// call them with the same pointer, ldm and layout, as the CUDA C++ Programming Guide
// requires, and the addresses must satisfy the PTX ISA's rule for wmma.load / wmma.store:
// the start of every row (row-major) or column (column-major) aligned to the size of the
// fragment in bytes, i.e. the pointer and ldm * sizeof(element) multiples of it, plus the
// guide's 256-bit aligned pointer and ldm a multiple of 16 bytes.
// mma_sync multiplies exactly (FP16/BF16/TF32 products are exact in FP32) and adds in FP32
// in k order; the hardware's summation order is not reproduced. TF32 operands use only
// their top 19 bits, as the tensor cores do.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "bfemu_api.h"

namespace nvcuda {
namespace wmma {

struct row_major;
struct col_major;
struct matrix_a;
struct matrix_b;
struct accumulator;
enum layout_t { mem_row_major, mem_col_major };
namespace precision {
struct tf32;
}
namespace experimental {
namespace precision = ::nvcuda::wmma::precision;
}

namespace detail {

template <class Use, int M, int N, int K>
struct dims;
template <int M, int N, int K>
struct dims<matrix_a, M, N, K> { static constexpr int rows = M, cols = K; };
template <int M, int N, int K>
struct dims<matrix_b, M, N, K> { static constexpr int rows = K, cols = N; };
template <int M, int N, int K>
struct dims<accumulator, M, N, K> { static constexpr int rows = M, cols = N; };

template <class T> struct storage { using type = T; };
template <> struct storage<precision::tf32> { using type = float; };

// Bytes of one lane's fragment on the hardware (the PTX ISA's register lists): the
// alignment unit of every row / column start.
template <class Use, class T> struct frag_bytes { static constexpr int value = 32; };
template <> struct frag_bytes<matrix_a, __nv_bfloat16> { static constexpr int value = 16; };
template <> struct frag_bytes<matrix_b, __nv_bfloat16> { static constexpr int value = 16; };
template <> struct frag_bytes<matrix_a, precision::tf32> { static constexpr int value = 16; };
template <> struct frag_bytes<matrix_b, precision::tf32> { static constexpr int value = 16; };
template <> struct frag_bytes<accumulator, __half> { static constexpr int value = 16; };

template <class L> struct is_col { static constexpr bool value = false; };
template <> struct is_col<col_major> { static constexpr bool value = true; };

inline float to_f(float x) { return x; }
inline float to_f(__half x) { return __half2float(x); }
inline float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T> inline T from_f(float x);
template <> inline float from_f<float>(float x) { return x; }
template <> inline __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> inline __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

inline float tf32_truncate(float x)
{
    unsigned u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u &= 0xffffe000u;
    memcpy(&x, &u, 4);
    return x;
}

struct MemArg {
    void* frag;       // the lane's fragment elements
    const void* ptr;  // the matrix in memory
    unsigned ldm;
    int col;          // column-major memory
};

template <class Frag>
inline void check_memory(void** data, unsigned mask, const char* what, size_t esize, int fbytes)
{
    if (mask != 0xffffffffu)
        bfemu_fail("%s: must be called by all 32 lanes of the warp", what);
    const MemArg* a0 = static_cast<MemArg*>(data[0]);
    for (int l = 1; l < 32; ++l) {
        const MemArg* a = static_cast<MemArg*>(data[l]);
        if (a->ptr != a0->ptr || a->ldm != a0->ldm || a->col != a0->col)
            bfemu_fail("%s: lane %d passes (%p, ldm %u) but lane 0 passes (%p, ldm %u): every "
                       "lane of the warp must pass the same pointer, ldm and layout",
                       what, l, a->ptr, a->ldm, a0->ptr, a0->ldm);
    }
    const uintptr_t p = reinterpret_cast<uintptr_t>(a0->ptr);
    const size_t stride = size_t(a0->ldm) * esize;
    if (p % 32 != 0)
        bfemu_fail("%s: pointer %p is not 256-bit (32-byte) aligned", what, a0->ptr);
    if (stride % 16 != 0 || stride % size_t(fbytes) != 0)
        bfemu_fail("%s: ldm %u (%zu bytes between %s) is not a multiple of %d bytes: every %s "
                   "must start at a multiple of the %d-byte fragment size (PTX ISA, wmma.load/"
                   "wmma.store address alignment)", what, a0->ldm, stride,
                   a0->col ? "columns" : "rows", fbytes > 16 ? fbytes : 16,
                   a0->col ? "column" : "row", fbytes);
    const int lead = a0->col ? Frag::rows : Frag::cols;
    if (a0->ldm < unsigned(lead))
        bfemu_fail("%s: ldm %u is shorter than the fragment's %d %s", what, a0->ldm, lead,
                   a0->col ? "rows" : "columns");
}

template <class Frag, class Mem>
inline void load_done(void** data, unsigned mask, const char* what)
{
    check_memory<Frag>(data, mask, what, sizeof(Mem), Frag::alignment_bytes);
    for (int l = 0; l < 32; ++l) {
        const MemArg* a = static_cast<MemArg*>(data[l]);
        auto* x = static_cast<typename Frag::element_type*>(a->frag);
        const Mem* p = static_cast<const Mem*>(a->ptr);
        for (int e = 0; e < Frag::num_elements; ++e) {
            const int flat = l * Frag::num_elements + e;
            const int r = flat / Frag::cols, c = flat % Frag::cols;
            x[e] = p[a->col ? size_t(c) * a->ldm + r : size_t(r) * a->ldm + c];
        }
    }
}

template <class Frag, class Mem>
inline void store_done(void** data, unsigned mask, const char* what)
{
    check_memory<Frag>(data, mask, what, sizeof(Mem), Frag::alignment_bytes);
    for (int l = 0; l < 32; ++l) {
        const MemArg* a = static_cast<MemArg*>(data[l]);
        const auto* x = static_cast<const typename Frag::element_type*>(a->frag);
        Mem* p = static_cast<Mem*>(const_cast<void*>(a->ptr));
        for (int e = 0; e < Frag::num_elements; ++e) {
            const int flat = l * Frag::num_elements + e;
            const int r = flat / Frag::cols, c = flat % Frag::cols;
            p[a->col ? size_t(c) * a->ldm + r : size_t(r) * a->ldm + c] = from_f<Mem>(to_f(x[e]));
        }
    }
}

struct MmaArg {
    void* d;
    const void* a;
    const void* b;
    const void* c;
};

template <class FD, class FA, class FB, class FC, bool TF32>
inline void mma_done(void** data, unsigned mask, const char* what)
{
    if (mask != 0xffffffffu) bfemu_fail("%s: must be called by all 32 lanes of the warp", what);
    constexpr int M = FA::rows, K = FA::cols, N = FB::cols;
    float A[M][K], B[K][N], C[M][N];
    for (int l = 0; l < 32; ++l) {
        const MmaArg* g = static_cast<MmaArg*>(data[l]);
        const auto* a = static_cast<const typename FA::element_type*>(g->a);
        const auto* b = static_cast<const typename FB::element_type*>(g->b);
        const auto* c = static_cast<const typename FC::element_type*>(g->c);
        for (int e = 0; e < FA::num_elements; ++e) {
            const int f = l * FA::num_elements + e;
            const float v = to_f(a[e]);
            A[f / K][f % K] = TF32 ? tf32_truncate(v) : v;
        }
        for (int e = 0; e < FB::num_elements; ++e) {
            const int f = l * FB::num_elements + e;
            const float v = to_f(b[e]);
            B[f / N][f % N] = TF32 ? tf32_truncate(v) : v;
        }
        for (int e = 0; e < FC::num_elements; ++e) {
            const int f = l * FC::num_elements + e;
            C[f / N][f % N] = to_f(c[e]);
        }
    }
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            float s = C[i][j];
            for (int k = 0; k < K; ++k) s = std::fma(A[i][k], B[k][j], s);
            C[i][j] = s;
        }
    for (int l = 0; l < 32; ++l) {
        auto* d = static_cast<typename FD::element_type*>(static_cast<MmaArg*>(data[l])->d);
        for (int e = 0; e < FD::num_elements; ++e) {
            const int f = l * FD::num_elements + e;
            d[e] = from_f<typename FD::element_type>(C[f / N][f % N]);
        }
    }
}

}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment {
public:
    static constexpr int rows = detail::dims<Use, M, N, K>::rows;
    static constexpr int cols = detail::dims<Use, M, N, K>::cols;
    static constexpr int num_elements = rows * cols / 32;
    static constexpr int alignment_bytes = detail::frag_bytes<Use, T>::value;
    using element_type = typename detail::storage<T>::type;
    using storage_element_type = element_type;
    element_type x[num_elements];
};

template <class Use, int M, int N, int K, class T, class L, class V>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, const V& v)
{
    using E = typename fragment<Use, M, N, K, T, L>::element_type;
    const E e = detail::from_f<E>(detail::to_f(static_cast<E>(v)));
    for (int i = 0; i < f.num_elements; ++i) f.x[i] = e;
}

template <class Use, int M, int N, int K, class T, class L, class Mem>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const Mem* p, unsigned ldm)
{
    using F = fragment<Use, M, N, K, T, L>;
    static_assert(!std::is_same<L, void>::value, "matrix_a / matrix_b fragments need a layout");
    detail::MemArg a{f.x, p, ldm, detail::is_col<L>::value};
    bfemu_warp_collective(BFEMU_WMMA_LOAD, "wmma::load_matrix_sync", 0xffffffffu, &a,
                          &detail::load_done<F, Mem>);
}

template <int M, int N, int K, class T, class Mem>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const Mem* p, unsigned ldm,
                             layout_t layout)
{
    using F = fragment<accumulator, M, N, K, T>;
    detail::MemArg a{f.x, p, ldm, layout == mem_col_major};
    bfemu_warp_collective(BFEMU_WMMA_LOAD, "wmma::load_matrix_sync", 0xffffffffu, &a,
                          &detail::load_done<F, Mem>);
}

template <int M, int N, int K, class T, class Mem>
inline void store_matrix_sync(Mem* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm,
                              layout_t layout)
{
    using F = fragment<accumulator, M, N, K, T>;
    detail::MemArg a{const_cast<typename F::element_type*>(f.x), p, ldm,
                     layout == mem_col_major};
    bfemu_warp_collective(BFEMU_WMMA_STORE, "wmma::store_matrix_sync", 0xffffffffu, &a,
                          &detail::store_done<F, Mem>);
}

template <int M, int N, int K, class TA, class LA, class TB, class LB, class TC>
inline void mma_sync(fragment<accumulator, M, N, K, TC>& d,
                     const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b,
                     const fragment<accumulator, M, N, K, TC>& c, bool satf = false)
{
    (void)satf;
    using FD = fragment<accumulator, M, N, K, TC>;
    detail::MmaArg g{d.x, a.x, b.x, c.x};
    bfemu_warp_collective(
        BFEMU_WMMA_MMA, "wmma::mma_sync", 0xffffffffu, &g,
        &detail::mma_done<FD, fragment<matrix_a, M, N, K, TA, LA>,
                          fragment<matrix_b, M, N, K, TB, LB>, FD,
                          std::is_same<TA, precision::tf32>::value>);
}

// cvt.rna.tf32.f32: round to the nearest TF32 value (10 mantissa bits), ties away from zero.
inline float __float_to_tf32(float x)
{
    unsigned u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) {
        u += 0x1000u;
        u &= 0xffffe000u;
    }
    memcpy(&x, &u, 4);
    return x;
}

}  // namespace wmma
}  // namespace nvcuda
