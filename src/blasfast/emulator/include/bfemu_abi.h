// The interface between the emulator's runtime library (libbfemu_rt, runtime/runtime.cpp)
// and the kernel libraries it runs (a CUDA source compiled as host C++ with bfemu_prelude.h).
// Plain C types only: both sides, and Python's ctypes, read these structs.
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BFEMU_ABI_VERSION 3
#define BFEMU_EXPORT extern "C" __attribute__((visibility("default")))

// What a kernel thread sees as threadIdx, blockIdx, blockDim and gridDim. The runtime keeps
// one per emulated thread; bfemu_self() returns the calling thread's.
struct bfemu_u3 { unsigned x, y, z; };
struct bfemu_thread_view {
    bfemu_u3 threadIdx, blockIdx, blockDim, gridDim;
    unsigned lane, warp, linear;  // lane in warp, warp in block, linear thread index
};

// One kernel parameter as the kernel declares it (after decay).
enum bfemu_param_kind { BFEMU_SINT = 0, BFEMU_UINT = 1, BFEMU_FLOAT = 2, BFEMU_POINTER = 3,
                        BFEMU_OTHER = 4, BFEMU_BOOL = 5 };
struct bfemu_param { int size; int kind; };

// One kernel: its name expression, its parameters, and how to call it. bind() copies the
// launch's argument values (args[i] points at parameter i, the cuLaunchKernel convention)
// into a heap tuple; run() calls the kernel with it (once per emulated thread).
struct bfemu_kernel {
    const char* name;
    int nparams;
    const bfemu_param* params;
    void* (*bind)(void** args);
    void (*run)(void* bound);
    void (*unbind)(void* bound);
};

// One kernel library: where the calling OS thread's shared memory lives. Static __shared__
// variables and the dynamic (extern __shared__) arrays are thread_local in the kernel
// library, so each worker thread, which runs one block at a time, has a block's worth.
struct bfemu_module {
    int abi_version;
    size_t dyn_capacity;                          // bytes of each dynamic shared array
    int ndyn;                                     // number of extern __shared__ arrays
    void* (*dyn_array)(int i);                    // this thread's instance of array i
    void (*tls_block)(void** begin, size_t* size);// this thread's whole TLS block (all shared)
};

// How to run one launch.
struct bfemu_config {
    int shuffle;               // 0: round-robin in thread order; 1: seeded random order
    uint64_t seed;             // the shuffle's seed
    int workers;               // OS threads that run blocks (blocks run in parallel)
    int max_resident;          // most blocks resident at once (spin-waits across blocks)
    double deadlock_seconds;   // all resident blocks spinning this long with no progress
    int poison_shared;         // fill shared memory with 0xFF bytes at every block start
    size_t stack_bytes;        // stack of each emulated thread
};

// What a launch did, for the caller's report.
struct bfemu_stats {
    uint64_t blocks_run;
    uint64_t max_resident_seen;
};
