// The inline PTX our kernels use, each as a named device function with two bodies: the
// `asm` for the GPU, and, when the CUDA emulator compiles the source as host C++
// (BLASFAST_EMULATOR), an exact host version of what the PTX ISA specifies.
#pragma once

#include <cuda_fp16.h>

// cvt.rna.tf32.f32: round a float to TF32 (10 mantissa bits), to nearest, ties away from
// zero; the low 13 bits of the result are zero. NaN and Inf pass through.
__device__ __forceinline__ float cvt_rna_tf32(float x)
{
#if defined(BLASFAST_EMULATOR)
    unsigned u = __float_as_uint(x);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    return __uint_as_float(u);
#else
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return __uint_as_float(r);
#endif
}

#if defined(BLASFAST_EMULATOR)
namespace ptx_emulation {
struct Mma16816 {
    unsigned a[4], b[2];
    float c[4], d[4];
};

inline float half_at(unsigned reg, int hi)
{
    return __half2float(__ushort_as_half(static_cast<unsigned short>(hi ? reg >> 16 : reg)));
}

// The PTX ISA's fragment layout for mma.m16n8k16 with .f16 A/B and .f32 C/D, where
// g = lane >> 2 (groupID) and t = lane % 4 (threadID_in_group):
//   A (16 x 16, row): a[0] = (g, 2t..2t+1), a[1] = (g+8, 2t..), a[2] = (g, 2t+8..),
//                     a[3] = (g+8, 2t+8..); the lower half of each register the lower column
//   B (16 x 8, col):  b[0] = (2t..2t+1, g), b[1] = (2t+8..2t+9, g)
//   C, D (16 x 8):    c[0], c[1] = (g, 2t), (g, 2t+1); c[2], c[3] = (g+8, 2t), (g+8, 2t+1)
inline void mma16816_done(void** data, unsigned mask, const char* what)
{
    if (mask != 0xffffffffu) bfemu_fail("%s: must be executed by all 32 lanes", what);
    float A[16][16], B[16][8], C[16][8];
    for (int lane = 0; lane < 32; ++lane) {
        const Mma16816* m = static_cast<Mma16816*>(data[lane]);
        const int g = lane >> 2, t = lane & 3;
        for (int h = 0; h < 2; ++h) {
            A[g][2 * t + h] = half_at(m->a[0], h);
            A[g + 8][2 * t + h] = half_at(m->a[1], h);
            A[g][2 * t + 8 + h] = half_at(m->a[2], h);
            A[g + 8][2 * t + 8 + h] = half_at(m->a[3], h);
            B[2 * t + h][g] = half_at(m->b[0], h);
            B[2 * t + 8 + h][g] = half_at(m->b[1], h);
            C[g][2 * t + h] = m->c[h];
            C[g + 8][2 * t + h] = m->c[2 + h];
        }
    }
    for (int i = 0; i < 16; ++i)  // FP16 products are exact in FP32; sums in k order
        for (int j = 0; j < 8; ++j) {
            float s = C[i][j];
            for (int k = 0; k < 16; ++k) s = fmaf(A[i][k], B[k][j], s);
            C[i][j] = s;
        }
    for (int lane = 0; lane < 32; ++lane) {
        Mma16816* m = static_cast<Mma16816*>(data[lane]);
        const int g = lane >> 2, t = lane & 3;
        m->d[0] = C[g][2 * t];
        m->d[1] = C[g][2 * t + 1];
        m->d[2] = C[g + 8][2 * t];
        m->d[3] = C[g + 8][2 * t + 1];
    }
}
}  // namespace ptx_emulation
#endif

// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 with C = 0: D = A * B for one warp,
// A 16 x 16 row-major FP16 (4 registers of 2 halves), B 16 x 8 column-major FP16 (2
// registers), D 16 x 8 FP32 (4 floats per lane). Must be executed by the whole warp.
__device__ __forceinline__ void mma_m16n8k16_f32_f16(float (&d)[4], unsigned a0, unsigned a1,
                                                     unsigned a2, unsigned a3, unsigned b0,
                                                     unsigned b1)
{
#if defined(BLASFAST_EMULATOR)
    ptx_emulation::Mma16816 m{{a0, a1, a2, a3}, {b0, b1}, {0.f, 0.f, 0.f, 0.f}, {}};
    bfemu_warp_collective(BFEMU_MMA_SYNC, "mma.sync.m16n8k16", 0xffffffffu, &m,
                          &ptx_emulation::mma16816_done);
    for (int i = 0; i < 4; ++i) d[i] = m.d[i];
#else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %10, %10, %10};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "f"(0.0f));
#endif
}
