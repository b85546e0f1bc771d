// What the emulator's runtime library (libbfemu_rt) exports: the launch entry point, called
// by Python, and the services emulated threads call (barriers, warp collectives, sleeps).
#pragma once

#include "bfemu_abi.h"

// A warp collective's completion: called once, by the last lane to arrive, with every
// participating lane's data pointer (lane_data[l] for l in mask; others are null).
typedef void (*bfemu_collective_fn)(void** lane_data, unsigned mask, const char* what);

// Collective kinds (a lane may only meet lanes doing the same kind with the same mask).
enum bfemu_collective_kind {
    BFEMU_SYNCWARP = 1, BFEMU_SHFL = 2, BFEMU_VOTE = 3, BFEMU_WMMA_LOAD = 4,
    BFEMU_WMMA_STORE = 5, BFEMU_WMMA_MMA = 6, BFEMU_MMA_SYNC = 7, BFEMU_MATCH = 8
};

// Barrier reductions (__syncthreads, _and, _or, _count).
enum bfemu_barrier_op { BFEMU_BAR = 0, BFEMU_BAR_AND = 1, BFEMU_BAR_OR = 2, BFEMU_BAR_COUNT = 3 };

// The calling emulated thread's indices. Constant for the life of an emulated thread (which
// never moves between OS threads), hence `const`: the compiler may hoist it.
BFEMU_EXPORT const bfemu_thread_view* bfemu_self(void) __attribute__((const));

BFEMU_EXPORT int bfemu_barrier(int op, int pred);
BFEMU_EXPORT void bfemu_warp_collective(int kind, const char* what, unsigned mask, void* data,
                                        bfemu_collective_fn done);
BFEMU_EXPORT void bfemu_nanosleep(unsigned ns);
BFEMU_EXPORT void bfemu_memory_point(void);  // fences and atomics: a switch point when shuffling
BFEMU_EXPORT unsigned bfemu_activemask(void);
BFEMU_EXPORT void bfemu_trap(void);
// Report an error in the running kernel (names the kernel, block and thread) and end the
// launch. Does not return (it unwinds the emulated thread).
BFEMU_EXPORT void bfemu_fail(const char* fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

// Run one kernel launch to completion. Returns 0, or -1 with a message in err.
BFEMU_EXPORT int bfemu_launch(const bfemu_kernel* kernel, const bfemu_module* module,
                              void** args, const unsigned* grid, const unsigned* block,
                              size_t shared_bytes, const bfemu_config* config,
                              bfemu_stats* stats, char* err, size_t errlen);
