// The CUDA language for host C++: included before a kernel source that the emulator
// compiles (g++ -include bfemu_prelude.h). Supplies the execution-space keywords, the
// built-in index variables, barriers, warp collectives, atomics, cache-hinted loads and
// stores, and the device math and bit intrinsics our kernels (and common user kernels) use,
// on top of CUDA's own cuda_fp16.h / cuda_bf16.h (which work in host C++).
//
// Memory spaces: global memory is host memory; `__shared__` becomes `thread_local`. The
// runtime runs one block at a time on each OS thread, so a thread_local is exactly one
// block's shared memory. `extern __shared__` arrays are defined by the generated epilogue
// (bfemu_epilogue.h) with room for the largest dynamic size an H200 allows.
#pragma once

#define BLASFAST_EMULATOR 1

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "bfemu_api.h"

// ------------------------------------------------------------------ keywords
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __noinline__
#undef __shared__
#undef __constant__
#undef __managed__
#undef __launch_bounds__
#undef __grid_constant__
#undef __align__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__ thread_local
#define __constant__
#define __managed__
#define __grid_constant__
#define __launch_bounds__(...)
#define __cluster_dims__(...)
#define __align__(n) __attribute__((aligned(n)))
#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 900
#endif

#define warpSize 32
#define threadIdx (*reinterpret_cast<const uint3*>(&::bfemu_self()->threadIdx))
#define blockIdx (*reinterpret_cast<const uint3*>(&::bfemu_self()->blockIdx))
#define blockDim (*reinterpret_cast<const uint3*>(&::bfemu_self()->blockDim))
#define gridDim (*reinterpret_cast<const uint3*>(&::bfemu_self()->gridDim))

// A failed assert() ends the launch with an error (on a GPU: a device-side assert), instead
// of aborting the Python process.
#undef assert
#define assert(e) \
    ((e) ? (void)0 : ::bfemu_fail("assertion failed: %s (%s:%d)", #e, __FILE__, __LINE__))

// ------------------------------------------------------------------ barriers
inline void __syncthreads() { bfemu_barrier(BFEMU_BAR, 1); }
inline int __syncthreads_and(int p) { return bfemu_barrier(BFEMU_BAR_AND, p); }
inline int __syncthreads_or(int p) { return bfemu_barrier(BFEMU_BAR_OR, p); }
inline int __syncthreads_count(int p) { return bfemu_barrier(BFEMU_BAR_COUNT, p); }
inline void __threadfence() { bfemu_memory_point(); }
inline void __threadfence_block() { bfemu_memory_point(); }
inline void __threadfence_system() { bfemu_memory_point(); }
inline void __nanosleep(unsigned ns) { bfemu_nanosleep(ns); }
inline void __trap() { bfemu_trap(); }
inline void __brkpt() { bfemu_trap(); }
inline long long clock64()
{
    return static_cast<long long>(std::chrono::steady_clock::now().time_since_epoch().count());
}
inline unsigned __activemask() { return bfemu_activemask(); }

// ------------------------------------------------------------------ warp collectives
namespace bfemu_detail {

inline void syncwarp_done(void**, unsigned, const char*) {}

enum { SHFL_IDX = 0, SHFL_UP = 1, SHFL_DOWN = 2, SHFL_XOR = 3 };

template <class T>
struct ShflArg {
    T in, out;
    int src, width, mode;
};

// Source lanes as the CUDA C++ Programming Guide defines them for each shuffle, within
// segments of `width` lanes; reading a lane outside the mask is an error.
template <class T>
void shfl_done(void** data, unsigned mask, const char* what)
{
    for (int l = 0; l < 32; ++l) {
        if (!(mask & (1u << l))) continue;
        auto* a = static_cast<ShflArg<T>*>(data[l]);
        const int w = a->width;
        if (w < 1 || w > 32 || (w & (w - 1)))
            bfemu_fail("%s: width %d is not a power of two in [1, 32]", what, w);
        const int seg = l & ~(w - 1);
        int j = l;
        switch (a->mode) {
        case SHFL_IDX: j = seg + (((a->src % w) + w) % w); break;
        case SHFL_UP: j = l - a->src; if (j < seg) j = l; break;
        case SHFL_DOWN: j = l + a->src; if (j >= seg + w) j = l; break;
        case SHFL_XOR: j = l ^ a->src; if (j >= seg + w || j < 0) j = l; break;
        }
        if (!(mask & (1u << j)))
            bfemu_fail("%s: lane %d reads lane %d, which is not in the mask 0x%08x", what, l, j,
                       mask);
        a->out = static_cast<ShflArg<T>*>(data[j])->in;
    }
}

template <class T>
T shfl(const char* what, int mode, unsigned mask, T v, int src, int width)
{
    static_assert(std::is_trivially_copyable<T>::value, "shuffles move trivially copyable values");
    ShflArg<T> a{v, v, src, width, mode};
    bfemu_warp_collective(BFEMU_SHFL + (mode << 4) + (int(sizeof(T)) << 8), what, mask, &a,
                          &shfl_done<T>);
    return a.out;
}

struct VoteArg {
    int pred;
    unsigned ballot;
};

inline void vote_done(void** data, unsigned mask, const char*)
{
    unsigned b = 0;
    for (int l = 0; l < 32; ++l)
        if ((mask & (1u << l)) && static_cast<VoteArg*>(data[l])->pred) b |= 1u << l;
    for (int l = 0; l < 32; ++l)
        if (mask & (1u << l)) static_cast<VoteArg*>(data[l])->ballot = b;
}

inline unsigned vote(const char* what, unsigned mask, int pred)
{
    VoteArg a{pred != 0, 0};
    bfemu_warp_collective(BFEMU_VOTE, what, mask, &a, &vote_done);
    return a.ballot;
}

}  // namespace bfemu_detail

inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    bfemu_warp_collective(BFEMU_SYNCWARP, "__syncwarp", mask, nullptr,
                          &bfemu_detail::syncwarp_done);
}

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src, int width = warpSize)
{
    return bfemu_detail::shfl("__shfl_sync", bfemu_detail::SHFL_IDX, mask, var, src, width);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize)
{
    return bfemu_detail::shfl("__shfl_up_sync", bfemu_detail::SHFL_UP, mask, var, int(delta),
                              width);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize)
{
    return bfemu_detail::shfl("__shfl_down_sync", bfemu_detail::SHFL_DOWN, mask, var,
                              int(delta), width);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize)
{
    return bfemu_detail::shfl("__shfl_xor_sync", bfemu_detail::SHFL_XOR, mask, var, lane_mask,
                              width);
}
inline unsigned __ballot_sync(unsigned mask, int pred)
{
    return bfemu_detail::vote("__ballot_sync", mask, pred);
}
inline int __any_sync(unsigned mask, int pred)
{
    return bfemu_detail::vote("__any_sync", mask, pred) != 0;
}
inline int __all_sync(unsigned mask, int pred)
{
    return bfemu_detail::vote("__all_sync", mask, pred) == mask;
}

// ------------------------------------------------------------------ atomics
// Real atomics (blocks run on several OS threads); when shuffling, each is also a point
// where another thread of the block may run first.
#define BFEMU_ATOMIC_INT(T)                                                                   \
    inline T atomicAdd(T* p, T v) { bfemu_memory_point(); return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); } \
    inline T atomicSub(T* p, T v) { bfemu_memory_point(); return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); } \
    inline T atomicAnd(T* p, T v) { bfemu_memory_point(); return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); } \
    inline T atomicOr(T* p, T v) { bfemu_memory_point(); return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }   \
    inline T atomicXor(T* p, T v) { bfemu_memory_point(); return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); } \
    inline T atomicExch(T* p, T v) { bfemu_memory_point(); return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); } \
    inline T atomicCAS(T* p, T cmp, T v)                                                      \
    {                                                                                         \
        bfemu_memory_point();                                                                 \
        __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);   \
        return cmp;                                                                           \
    }                                                                                         \
    inline T atomicMax(T* p, T v)                                                             \
    {                                                                                         \
        bfemu_memory_point();                                                                 \
        T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);                                         \
        while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_SEQ_CST,    \
                                                       __ATOMIC_SEQ_CST)) {}                  \
        return old;                                                                           \
    }                                                                                         \
    inline T atomicMin(T* p, T v)                                                             \
    {                                                                                         \
        bfemu_memory_point();                                                                 \
        T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);                                         \
        while (v < old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_SEQ_CST,    \
                                                       __ATOMIC_SEQ_CST)) {}                  \
        return old;                                                                           \
    }
BFEMU_ATOMIC_INT(int)
BFEMU_ATOMIC_INT(unsigned int)
BFEMU_ATOMIC_INT(unsigned long long)
BFEMU_ATOMIC_INT(long long)
#undef BFEMU_ATOMIC_INT

namespace bfemu_detail {
template <class F, class U, class Op>
inline F atomic_float(F* p, F v, Op op)
{
    static_assert(sizeof(F) == sizeof(U), "same size");
    bfemu_memory_point();
    U old = __atomic_load_n(reinterpret_cast<U*>(p), __ATOMIC_SEQ_CST);
    for (;;) {
        F f;
        memcpy(&f, &old, sizeof f);
        const F n = op(f, v);
        U nu;
        memcpy(&nu, &n, sizeof nu);
        if (__atomic_compare_exchange_n(reinterpret_cast<U*>(p), &old, nu, true,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return f;
    }
}
}  // namespace bfemu_detail

inline float atomicAdd(float* p, float v)
{
    return bfemu_detail::atomic_float<float, unsigned>(p, v, [](float a, float b) { return a + b; });
}
inline double atomicAdd(double* p, double v)
{
    return bfemu_detail::atomic_float<double, unsigned long long>(
        p, v, [](double a, double b) { return a + b; });
}
inline float atomicExch(float* p, float v)
{
    return bfemu_detail::atomic_float<float, unsigned>(p, v, [](float, float b) { return b; });
}
inline unsigned atomicInc(unsigned* p, unsigned v)
{
    bfemu_memory_point();
    unsigned old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (!__atomic_compare_exchange_n(p, &old, old >= v ? 0u : old + 1, true,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
    return old;
}
inline unsigned atomicDec(unsigned* p, unsigned v)
{
    bfemu_memory_point();
    unsigned old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (!__atomic_compare_exchange_n(p, &old, (old == 0 || old > v) ? v : old - 1, true,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
    return old;
}

// ------------------------------------------------------------------ cache-hinted loads/stores
// Every hint is a plain load or store the compiler may not cache or move across the
// emulator's scheduling points (which are opaque calls in any case).
namespace bfemu_detail {
template <class T>
inline T load(const T* p)
{
    T v;
    asm volatile("" ::: "memory");
    memcpy(&v, p, sizeof(T));
    return v;
}
template <class T>
inline void store(T* p, const T& v)
{
    memcpy(p, &v, sizeof(T));
    asm volatile("" ::: "memory");
}
}  // namespace bfemu_detail
#define BFEMU_LOAD(name) template <class T> inline T name(const T* p) { return bfemu_detail::load(p); }
#define BFEMU_STORE(name) template <class T> inline void name(T* p, T v) { bfemu_detail::store(p, v); }
BFEMU_LOAD(__ldg) BFEMU_LOAD(__ldcg) BFEMU_LOAD(__ldca) BFEMU_LOAD(__ldcs) BFEMU_LOAD(__ldlu)
BFEMU_LOAD(__ldcv)
BFEMU_STORE(__stcg) BFEMU_STORE(__stwb) BFEMU_STORE(__stcs) BFEMU_STORE(__stwt)
#undef BFEMU_LOAD
#undef BFEMU_STORE

// ------------------------------------------------------------------ bits and conversions
namespace bfemu_detail {
template <class To, class From>
inline To bits(From f)
{
    static_assert(sizeof(To) == sizeof(From), "same size");
    To t;
    memcpy(&t, &f, sizeof t);
    return t;
}
}  // namespace bfemu_detail
inline unsigned __float_as_uint(float x) { return bfemu_detail::bits<unsigned>(x); }
inline int __float_as_int(float x) { return bfemu_detail::bits<int>(x); }
inline float __uint_as_float(unsigned x) { return bfemu_detail::bits<float>(x); }
inline float __int_as_float(int x) { return bfemu_detail::bits<float>(x); }
inline long long __double_as_longlong(double x) { return bfemu_detail::bits<long long>(x); }
inline double __longlong_as_double(long long x) { return bfemu_detail::bits<double>(x); }
inline int __double2hiint(double x) { return int(bfemu_detail::bits<unsigned long long>(x) >> 32); }
inline int __double2loint(double x) { return int(bfemu_detail::bits<unsigned long long>(x)); }
inline double __hiloint2double(int hi, int lo)
{
    return bfemu_detail::bits<double>((static_cast<unsigned long long>(unsigned(hi)) << 32) |
                                      unsigned(lo));
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz(unsigned(x)) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x)
{
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((unsigned long long)a * b >> 32); }
inline int __mulhi(int a, int b) { return int((long long)a * b >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b)
{
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline int __mul24(int a, int b) { return (a << 8 >> 8) * (b << 8 >> 8); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline int __float2int_rd(float x) { return int(std::floor(x)); }
inline int __float2int_ru(float x) { return int(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return unsigned(std::nearbyint(x)); }
inline long long __float2ll_rn(float x) { return (long long)std::nearbyint(x); }
inline int __double2int_rn(double x) { return int(std::nearbyint(x)); }
inline int __double2int_rz(double x) { return int(x); }
inline float __int2float_rn(int x) { return float(x); }
inline float __uint2float_rn(unsigned x) { return float(x); }
inline double __int2double_rn(int x) { return double(x); }
inline float __double2float_rn(double x) { return float(x); }

// ------------------------------------------------------------------ math
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __powf(float a, float b) { return std::pow(a, b); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : (x == x ? x : 0.f)); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float exp10f(float x) { return std::pow(10.0f, x); }
inline double exp10(double x) { return std::pow(10.0, x); }
inline float rcbrtf(float x) { return 1.0f / std::cbrt(x); }
inline double rcbrt(double x) { return 1.0 / std::cbrt(x); }
inline float sinpif(float x) { return float(std::sin(M_PI * double(x))); }
inline float cospif(float x) { return float(std::cos(M_PI * double(x))); }

// sin(pi x) and cos(pi x) with the exact values CUDA gives at multiples of 1/2 (exact zeros
// and ones), from an exact reduction of x to [-1, 1].
inline void sincospi(double x, double* s, double* c)
{
    if (!std::isfinite(x)) {
        *s = *c = std::numeric_limits<double>::quiet_NaN();
        return;
    }
    const double r = std::remainder(x, 2.0);  // exact, in [-1, 1]
    if (r == 0.0) { *s = std::copysign(0.0, x); *c = 1.0; return; }
    if (r == 0.5) { *s = 1.0; *c = 0.0; return; }
    if (r == -0.5) { *s = -1.0; *c = 0.0; return; }
    if (r == 1.0 || r == -1.0) { *s = std::copysign(0.0, r); *c = -1.0; return; }
    *s = std::sin(M_PI * r);
    *c = std::cos(M_PI * r);
}
inline void sincospif(float x, float* s, float* c)
{
    double sd, cd;
    sincospi(double(x), &sd, &cd);
    *s = float(sd);
    *c = float(cd);
}
inline double sinpi(double x) { double s, c; sincospi(x, &s, &c); return s; }
inline double cospi(double x) { double s, c; sincospi(x, &s, &c); return c; }

// min and max as CUDA's math headers overload them: integer and floating-point arguments,
// mixed types by the usual arithmetic conversions, floating point NaN-ignoring (fmin/fmax).
template <class A, class B,
          std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value, int> = 0>
inline auto min(A a, B b)
{
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point<C>::value) return std::fmin(C(a), C(b));
    else return C(a) < C(b) ? C(a) : C(b);
}
template <class A, class B,
          std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value, int> = 0>
inline auto max(A a, B b)
{
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point<C>::value) return std::fmax(C(a), C(b));
    else return C(a) < C(b) ? C(b) : C(a);
}

// ------------------------------------------------------------------ kernel entry points
namespace bfemu_entry {

template <class T>
constexpr int kind()
{
    if (std::is_pointer<T>::value) return BFEMU_POINTER;
    if (std::is_same<T, bool>::value) return BFEMU_BOOL;
    if (std::is_floating_point<T>::value) return BFEMU_FLOAT;
    if (std::is_integral<T>::value) return std::is_signed<T>::value ? BFEMU_SINT : BFEMU_UINT;
    return BFEMU_OTHER;
}

template <class T>
inline T load_arg(const void* p)
{
    static_assert(std::is_trivially_copyable<T>::value,
                  "kernel parameters must be trivially copyable");
    T v;
    memcpy(static_cast<void*>(&v), p, sizeof(T));
    return v;
}

template <auto F, class Sig = decltype(F)>
struct Entry;

template <auto F, class... A>
struct Entry<F, void (*)(A...)> {
    using Tuple = std::tuple<std::remove_cv_t<A>...>;

    template <size_t... I>
    static void* bind_(void** args, std::index_sequence<I...>)
    {
        (void)args;
        return new Tuple(load_arg<std::remove_cv_t<A>>(args[I])...);
    }
    static void* bind(void** args) { return bind_(args, std::index_sequence_for<A...>{}); }
    static void run(void* t) { std::apply(F, *static_cast<Tuple*>(t)); }
    static void unbind(void* t) { delete static_cast<Tuple*>(t); }

    static const bfemu_kernel* info(const char* name)
    {
        static const bfemu_param params[] = {
            {int(sizeof(std::remove_cv_t<A>)), kind<std::remove_cv_t<A>>()}..., {0, 0}};
        static const bfemu_kernel k{name, int(sizeof...(A)), params, &bind, &run, &unbind};
        return &k;
    }
};

}  // namespace bfemu_entry
