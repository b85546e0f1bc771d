// The emulator's runtime: CUDA's execution model on the host.
//
// A launch's blocks run on a pool of OS threads ("workers"), one block per worker at a time;
// the threads of a block run on their worker as fibers (user-level threads with stacks of
// their own, switched by hand-written assembly on x86-64, ucontext elsewhere). A fiber runs
// until it reaches a scheduling point: a barrier, a warp collective, __nanosleep, its end
// (and, when shuffling, fences and atomics). The scheduler then resumes another runnable
// fiber: the next in thread order by default (deterministic), or a seeded random one.
//
// Blocks that spin-wait on each other (grid barriers, flags set by other blocks) must be
// resident together: when every running block only spins, more workers are started, up to
// the number of blocks an H200 could hold at once. When every resident block spins, no
// block is left to start, and nothing changes for deadlock_seconds, the launch fails with a
// deadlock report instead of hanging.
//
// Errors found while running (a collective not reached by its lanes, a barrier after some
// threads exited, a WMMA misuse, a deadlock) unwind every fiber of the launch and come back
// to Python as the launch's error message.
#include "bfemu_api.h"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define BFEMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#define BFEMU_UCONTEXT 1
#endif

namespace {

// ---------------------------------------------------------------- context switching
struct Fiber;
void fiber_main(Fiber* f);

#if !defined(BFEMU_UCONTEXT)
// bfemu_ctx_switch(save, to): push the callee-saved registers, MXCSR and the x87 control
// word, store the stack pointer in *save, load `to`, pop the same, return there.
extern "C" void bfemu_ctx_switch(void** save, void* to);
extern "C" void bfemu_ctx_start();
asm(R"(
    .text
    .p2align 4
    .hidden bfemu_ctx_switch
    .type bfemu_ctx_switch, @function
bfemu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size bfemu_ctx_switch, .-bfemu_ctx_switch

    .p2align 4
    .hidden bfemu_ctx_start
    .type bfemu_ctx_start, @function
bfemu_ctx_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size bfemu_ctx_start, .-bfemu_ctx_start
)");
#endif

// ---------------------------------------------------------------- state
enum State : uint8_t { RUNNABLE, AT_BARRIER, AT_WARP, DONE };
// Y_POINT: a shuffled schedule's switch at a memory operation. It is neither progress nor
// spinning, so a spin loop that does atomics (a grid barrier) still reads as stalled.
enum Why : uint8_t { Y_BLOCKED, Y_SPIN, Y_AGAIN, Y_POINT, Y_EXIT };

struct Fiber {
    void* sp = nullptr;
#if defined(BFEMU_UCONTEXT)
    ucontext_t uc;
#endif
    char* stack_lo = nullptr;
    size_t stack_size = 0;
    void* fake_stack = nullptr;  // ASan's fake stack while switched out
    bfemu_thread_view view{};
    State state = RUNNABLE;
    Why why = Y_AGAIN;
    int pred = 0;      // barrier predicate
    int result = 0;    // barrier result
};

struct Slot {           // one warp collective in progress
    unsigned mask = 0, arrived = 0;
    int kind = 0;
    const char* what = nullptr;
    void* data[32] = {};
};

struct Warp {
    unsigned exists = 0, exited = 0;
    std::vector<Slot> slots;
};

struct Abort {};        // unwinds a fiber when its launch has failed

// Unmap fiber stacks. Under ASan their shadow first goes back to clean: the frames of
// fibers that switched away stay poisoned, and munmap leaves the shadow as it is, so the
// next mapping at that address (a Python allocation, say) would report false overflows.
inline void unmap_stacks(char* p, size_t bytes)
{
#if defined(BFEMU_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(p, bytes);
#endif
    munmap(p, bytes);
}

struct Launch;

struct Worker {
    // scheduler context (the OS thread's own stack)
    void* sched_sp = nullptr;
#if defined(BFEMU_UCONTEXT)
    ucontext_t sched_uc;
#endif
    const void* sched_lo = nullptr;
    size_t sched_size = 0;
    void* sched_fake = nullptr;
    // fiber stacks, reused block after block
    char* stacks = nullptr;
    size_t nstacks = 0, stack_size = 0, stride = 0;
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    // what the launch manager watches
    std::atomic<int> busy{0}, stalled{0};
    std::atomic<uint64_t> progress{0};
    // this thread's shared memory in the kernel library last run
    const bfemu_module* tls_module = nullptr;
    void* tls_begin = nullptr;
    size_t tls_size = 0;

    ~Worker()
    {
        if (stacks) unmap_stacks(stacks, nstacks * stride);
    }
};

struct Block {
    Launch* L = nullptr;
    Worker* W = nullptr;
    unsigned nthreads = 0, live = 0, exited = 0, nwarps = 0;
    unsigned bar_arrived = 0;
    int bar_and = 1, bar_or = 0, bar_count = 0;
    std::vector<unsigned> queue;  // runnable fibers (ring buffer)
    size_t qhead = 0, qsize = 0;
    bool shuffle = false;
    std::mt19937_64 rng;

    void push(unsigned i)
    {
        queue[(qhead + qsize) % queue.size()] = i;
        ++qsize;
    }
    unsigned pop()
    {
        if (shuffle && qsize > 1) {
            const size_t k = rng() % qsize;
            std::swap(queue[qhead], queue[(qhead + k) % queue.size()]);
        }
        const unsigned i = queue[qhead];
        qhead = (qhead + 1) % queue.size();
        --qsize;
        return i;
    }
};

struct Launch {
    const bfemu_kernel* K = nullptr;
    const bfemu_module* M = nullptr;
    void* bound = nullptr;
    bfemu_u3 grid{}, block{};
    uint64_t nblocks = 0;
    unsigned nthreads = 0;
    size_t shared_bytes = 0;
    bfemu_config cfg{};
    std::atomic<uint64_t> next{0};
    std::atomic<uint64_t> blocks_run{0};
    std::atomic<int> aborted{0};
    std::mutex err_m;
    std::string error;
    // the workers taking part, base and extra
    std::mutex wm;
    std::vector<Worker*> workers;
    std::atomic<int> running{0};

    void fail(const std::string& msg)
    {
        std::lock_guard<std::mutex> g(err_m);
        if (error.empty()) error = msg;
        aborted.store(1);
    }
};

thread_local Worker* t_worker = nullptr;
thread_local Block* t_block = nullptr;
thread_local Fiber* t_fiber = nullptr;

// ---------------------------------------------------------------- errors
std::string where()
{
    char buf[256];
    Fiber* f = t_fiber;
    Block* b = t_block;
    if (!f || !b) return "outside any kernel";
    const auto& v = f->view;
    snprintf(buf, sizeof buf, "kernel '%s', block (%u, %u, %u), thread (%u, %u, %u)",
             b->L->K->name, v.blockIdx.x, v.blockIdx.y, v.blockIdx.z, v.threadIdx.x,
             v.threadIdx.y, v.threadIdx.z);
    return buf;
}

struct Failure {
    std::string msg;
};

[[noreturn]] void fail_here(const std::string& msg)
{
    throw Failure{where() + ": " + msg};
}

void check_abort()
{
    if (t_block && t_block->L->aborted.load(std::memory_order_relaxed)) throw Abort{};
}

// ---------------------------------------------------------------- switching
#if defined(BFEMU_UCONTEXT)
void uc_entry() { fiber_main(t_fiber); }  // run_fiber set t_fiber before switching
#endif

void init_fiber_stack(Fiber& f)
{
#if defined(BFEMU_UCONTEXT)
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = f.stack_lo;
    f.uc.uc_stack.ss_size = f.stack_size;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, reinterpret_cast<void (*)()>(uc_entry), 0);
#else
    // Frame popped by bfemu_ctx_switch: [mxcsr, fpcw][r15 r14 r13 r12 rbx rbp][ret]; after
    // the ret the stack pointer is 16-byte aligned, as bfemu_ctx_start's call needs.
    uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack_lo) + f.stack_size) & ~uintptr_t(15);
    top -= 16;
    auto* sp = reinterpret_cast<uint64_t*>(top - 64);
    uint32_t mxcsr;
    uint16_t fpcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    std::memset(sp, 0, 64);
    std::memcpy(sp, &mxcsr, 4);
    std::memcpy(reinterpret_cast<char*>(sp) + 4, &fpcw, 2);
    sp[4] = reinterpret_cast<uint64_t>(&f);            // r12: the argument
    sp[3] = reinterpret_cast<uint64_t>(&fiber_main);   // r13: the entry
    sp[7] = reinterpret_cast<uint64_t>(&bfemu_ctx_start);
    f.sp = sp;
#endif
}

void run_fiber(Worker& w, Fiber& f)
{
    t_fiber = &f;
#if defined(BFEMU_ASAN)
    __sanitizer_start_switch_fiber(&w.sched_fake, f.stack_lo, f.stack_size);
#endif
#if defined(BFEMU_UCONTEXT)
    swapcontext(&w.sched_uc, &f.uc);
#else
    bfemu_ctx_switch(&w.sched_sp, f.sp);
#endif
#if defined(BFEMU_ASAN)
    __sanitizer_finish_switch_fiber(w.sched_fake, nullptr, nullptr);
#endif
    t_fiber = nullptr;
}

void to_scheduler(Fiber& f, Why why)
{
    Worker& w = *t_worker;
    f.why = why;
#if defined(BFEMU_ASAN)
    __sanitizer_start_switch_fiber(why == Y_EXIT ? nullptr : &f.fake_stack, w.sched_lo,
                                   w.sched_size);
#endif
#if defined(BFEMU_UCONTEXT)
    swapcontext(&f.uc, &w.sched_uc);
#else
    bfemu_ctx_switch(&f.sp, w.sched_sp);
#endif
#if defined(BFEMU_ASAN)
    __sanitizer_finish_switch_fiber(f.fake_stack, &w.sched_lo, &w.sched_size);
#endif
}

void fiber_main(Fiber* f)
{
    Worker& w = *t_worker;
#if defined(BFEMU_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &w.sched_lo, &w.sched_size);
#endif
    (void)w;
    Launch& L = *t_block->L;
    try {
        check_abort();
        L.K->run(L.bound);
    } catch (const Abort&) {
    } catch (const Failure& e) {
        L.fail(e.msg);
    } catch (const std::exception& e) {
        L.fail(where() + ": C++ exception: " + e.what());
    } catch (...) {
        L.fail(where() + ": unknown C++ exception");
    }
    f->state = DONE;
    to_scheduler(*f, Y_EXIT);
    __builtin_trap();  // never resumed
}

// ---------------------------------------------------------------- blocks
void ensure_stacks(Worker& w, unsigned n, size_t stack_size)
{
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    stack_size = (stack_size + page - 1) / page * page;
    if (w.stacks && w.nstacks >= n && w.stack_size == stack_size) return;
    if (w.stacks) unmap_stacks(w.stacks, w.nstacks * w.stride);
    const size_t stride = stack_size + page;  // a guard page below every stack
    void* p = mmap(nullptr, n * stride, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    w.stacks = static_cast<char*>(p);
    w.nstacks = n;
    w.stack_size = stack_size;
    w.stride = stride;
    for (unsigned i = 0; i < n; ++i) mprotect(w.stacks + i * stride, page, PROT_NONE);
}

// Shared memory at block start: the block's static __shared__ variables and dynamic array
// are the worker's thread_locals in the kernel library. Filled with 0xFF bytes (NaN, -1)
// when poisoning, so that a read before any write shows; under ASan only the launch's
// dynamic size stays addressable, as on the device.
void prepare_shared(Worker& w, const Launch& L)
{
    const bfemu_module* M = L.M;
    if (w.tls_module != M) {
        M->tls_block(&w.tls_begin, &w.tls_size);
        w.tls_module = M;
    }
    char* const lo = static_cast<char*>(w.tls_begin);
    char* const hi = lo + w.tls_size;
    std::vector<std::pair<char*, char*>> dyn;
    for (int i = 0; i < M->ndyn; ++i) {
        char* d = static_cast<char*>(M->dyn_array(i));
        dyn.emplace_back(d, d + M->dyn_capacity);
#if defined(BFEMU_ASAN)
        ASAN_UNPOISON_MEMORY_REGION(d, M->dyn_capacity);
        ASAN_POISON_MEMORY_REGION(d + L.shared_bytes, M->dyn_capacity - L.shared_bytes);
#endif
        if (L.cfg.poison_shared) std::memset(d, 0xff, L.shared_bytes);
    }
    if (!L.cfg.poison_shared || !lo) return;
    std::sort(dyn.begin(), dyn.end());
    char* at = lo;
    for (const auto& r : dyn) {
        if (r.first >= lo && r.first < hi && at < r.first) std::memset(at, 0xff, r.first - at);
        if (r.second > at) at = std::min(r.second, hi);
    }
    if (at < hi) std::memset(at, 0xff, hi - at);
}

std::string describe_block_deadlock(Block& B)
{
    Worker& w = *B.W;
    unsigned at_bar = 0, at_warp = 0, done = 0;
    std::string warps;
    for (unsigned i = 0; i < B.nthreads; ++i) {
        const State s = w.fibers[i].state;
        at_bar += s == AT_BARRIER;
        at_warp += s == AT_WARP;
        done += s == DONE;
    }
    int shown = 0;
    for (unsigned k = 0; k < B.nwarps && shown < 4; ++k)
        for (const Slot& s : w.warps[k].slots) {
            if (shown++ >= 4) break;
            char buf[200];
            snprintf(buf, sizeof buf, "; warp %u: %s with mask 0x%08x has lanes 0x%08x", k,
                     s.what, s.mask, s.arrived);
            warps += buf;
        }
    char buf[300];
    const auto& v = w.fibers[0].view;
    snprintf(buf, sizeof buf,
             "kernel '%s', block (%u, %u, %u): deadlock: of %u threads, %u wait at "
             "__syncthreads, %u at a warp collective, %u have exited",
             B.L->K->name, v.blockIdx.x, v.blockIdx.y, v.blockIdx.z, B.nthreads, at_bar,
             at_warp, done);
    return buf + warps;
}

void run_block(Worker& w, Launch& L, uint64_t linear)
{
    const unsigned n = L.nthreads;
    ensure_stacks(w, n, L.cfg.stack_bytes);
    if (w.fibers.size() < n) w.fibers.resize(n);
    const unsigned nwarps = (n + 31) / 32;
    if (w.warps.size() < nwarps) w.warps.resize(nwarps);

    Block B;
    B.L = &L;
    B.W = &w;
    B.nthreads = B.live = n;
    B.nwarps = nwarps;
    B.queue.assign(n, 0);
    B.shuffle = L.cfg.shuffle != 0;
    B.rng.seed(L.cfg.seed * 0x9E3779B97F4A7C15ull + linear);
    t_block = &B;

    const bfemu_u3 bid{unsigned(linear % L.grid.x), unsigned(linear / L.grid.x % L.grid.y),
                       unsigned(linear / (uint64_t(L.grid.x) * L.grid.y))};
    for (unsigned k = 0; k < nwarps; ++k) {
        Warp& wp = w.warps[k];
        const unsigned lanes = std::min(32u, n - 32 * k);
        wp.exists = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
        wp.exited = 0;
        wp.slots.clear();
    }
    for (unsigned i = 0; i < n; ++i) {
        Fiber& f = w.fibers[i];
        f.stack_lo = w.stacks + i * w.stride + (w.stride - w.stack_size);
        f.stack_size = w.stack_size;
        f.fake_stack = nullptr;
#if defined(BFEMU_ASAN)
        ASAN_UNPOISON_MEMORY_REGION(f.stack_lo, f.stack_size);
#endif
        f.view.threadIdx = {i % L.block.x, i / L.block.x % L.block.y,
                            i / (L.block.x * L.block.y)};
        f.view.blockIdx = bid;
        f.view.blockDim = L.block;
        f.view.gridDim = L.grid;
        f.view.lane = i % 32;
        f.view.warp = i / 32;
        f.view.linear = i;
        f.state = RUNNABLE;
        init_fiber_stack(f);
        B.push(i);
    }
    prepare_shared(w, L);

    size_t spins = 0;      // consecutive switches that only spun
    unsigned backoff = 1;  // microseconds a stalled block sleeps
    while (B.live) {
        if (B.qsize == 0) {  // nobody can run: blocked on barriers / collectives for good
            if (!L.aborted.load()) L.fail(describe_block_deadlock(B));
            for (unsigned i = 0; i < n; ++i) {  // resume everyone to unwind
                Fiber& f = w.fibers[i];
                if (f.state == AT_BARRIER || f.state == AT_WARP) {
                    f.state = RUNNABLE;
                    B.push(i);
                }
            }
            continue;
        }
        const unsigned i = B.pop();
        Fiber& f = w.fibers[i];
        run_fiber(w, f);
        switch (f.why) {
        case Y_SPIN:
            B.push(i);
            if (++spins >= B.qsize) {  // a whole pass of spinning: the block is stalled
                w.stalled.store(1, std::memory_order_relaxed);
                std::this_thread::sleep_for(std::chrono::microseconds(backoff));
                backoff = std::min(backoff * 2, 1000u);
                spins = 0;
            }
            continue;
        case Y_POINT:
            B.push(i);
            continue;
        case Y_AGAIN:
            B.push(i);
            break;
        case Y_BLOCKED:
            break;
        case Y_EXIT:
            --B.live;
            ++B.exited;
            {
                Warp& wp = w.warps[f.view.warp];
                wp.exited |= 1u << f.view.lane;
                if (!L.aborted.load()) {
                    for (const Slot& s : wp.slots)
                        if (s.mask & (1u << f.view.lane)) {
                            t_fiber = &f;
                            L.fail(where() + ": exited while lanes 0x" +
                                   [&] { char b[16]; snprintf(b, 16, "%08x", s.arrived); return std::string(b); }() +
                                   " of its warp wait for it in " + s.what);
                            t_fiber = nullptr;
                            break;
                        }
                    if (B.bar_arrived && !L.aborted.load()) {
                        t_fiber = &f;
                        L.fail(where() + ": exited while " + std::to_string(B.bar_arrived) +
                               " threads of its block wait at __syncthreads (every thread of "
                               "a block must reach each __syncthreads)");
                        t_fiber = nullptr;
                    }
                }
            }
            break;
        }
        spins = 0;
        backoff = 1;
        w.stalled.store(0, std::memory_order_relaxed);
        w.progress.fetch_add(1, std::memory_order_relaxed);
        if (L.aborted.load(std::memory_order_relaxed)) {  // wake blocked fibers to unwind
            for (unsigned j = 0; j < n; ++j) {
                Fiber& g = w.fibers[j];
                if (g.state == AT_BARRIER || g.state == AT_WARP) {
                    g.state = RUNNABLE;
                    B.push(j);
                }
            }
        }
    }
    t_block = nullptr;
    L.blocks_run.fetch_add(1, std::memory_order_relaxed);
}

void run_blocks(Worker& w, Launch& L)
{
    t_worker = &w;
    w.busy.store(1);
    for (;;) {
        if (L.aborted.load()) break;
        const uint64_t b = L.next.fetch_add(1);
        if (b >= L.nblocks) break;
        try {
            run_block(w, L, b);
        } catch (const std::exception& e) {
            L.fail(std::string("emulator: ") + e.what());
        }
    }
    w.stalled.store(0);
    w.busy.store(0);
    t_worker = nullptr;
}

// ---------------------------------------------------------------- the worker pool
struct Pool {
    std::mutex m;
    std::condition_variable cv_work, cv_done;
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<std::thread> threads;
    Launch* launch = nullptr;
    uint64_t generation = 0;
    int active = 0;
    bool quit = false;

    void loop(size_t index)
    {
        Worker* w = workers[index].get();
        uint64_t seen = 0;
        for (;;) {
            Launch* L;
            {
                std::unique_lock<std::mutex> lk(m);
                cv_work.wait(lk, [&] { return quit || generation != seen; });
                if (quit) return;
                seen = generation;
                if (static_cast<int>(index) >= active) continue;
                L = launch;
            }
            run_blocks(*w, *L);
            {
                std::lock_guard<std::mutex> g(m);
                if (L->running.fetch_sub(1) == 1) cv_done.notify_all();
            }
        }
    }

    void ensure(int n)
    {
        while (static_cast<int>(workers.size()) < n) {
            workers.push_back(std::make_unique<Worker>());
            const size_t idx = workers.size() - 1;
            threads.emplace_back([this, idx] { loop(idx); });
        }
    }

    ~Pool()
    {
        {
            std::lock_guard<std::mutex> g(m);
            quit = true;
        }
        cv_work.notify_all();
        for (auto& t : threads) t.join();
    }
};

Pool& pool()
{
    static Pool* p = new Pool;  // never destroyed: workers may outlive static destructors
    return *p;
}

std::mutex launch_mutex;  // one launch at a time, as on one stream

uint64_t total_progress(Launch& L)
{
    std::lock_guard<std::mutex> g(L.wm);
    uint64_t s = 0;
    for (Worker* w : L.workers) s += w->progress.load(std::memory_order_relaxed);
    return s + L.blocks_run.load();
}

}  // namespace

// ---------------------------------------------------------------- services for kernels
BFEMU_EXPORT const bfemu_thread_view* bfemu_self(void)
{
    return &t_fiber->view;
}

BFEMU_EXPORT int bfemu_barrier(int op, int pred)
{
    Fiber& f = *t_fiber;
    Block& B = *t_block;
    check_abort();
    if (B.exited)
        fail_here("reached __syncthreads after " + std::to_string(B.exited) +
                  " threads of its block exited (every thread of a block must reach each "
                  "__syncthreads)");
    pred = pred != 0;
    B.bar_and &= pred;
    B.bar_or |= pred;
    B.bar_count += pred;
    if (++B.bar_arrived == B.nthreads) {
        const int res[4] = {0, B.bar_and, B.bar_or, B.bar_count};
        B.bar_arrived = 0;
        B.bar_and = 1;
        B.bar_or = 0;
        B.bar_count = 0;
        Worker& w = *B.W;
        for (unsigned i = 0; i < B.nthreads; ++i) {
            Fiber& g = w.fibers[i];
            if (g.state == AT_BARRIER) {
                g.state = RUNNABLE;
                g.result = res[op & 3];
                B.push(i);
            }
        }
        f.result = res[op & 3];
        to_scheduler(f, Y_AGAIN);
    } else {
        f.state = AT_BARRIER;
        to_scheduler(f, Y_BLOCKED);
    }
    check_abort();
    return f.result;
}

BFEMU_EXPORT void bfemu_warp_collective(int kind, const char* what, unsigned mask, void* data,
                                        bfemu_collective_fn done)
{
    Fiber& f = *t_fiber;
    Block& B = *t_block;
    check_abort();
    Warp& wp = B.W->warps[f.view.warp];
    const unsigned bit = 1u << f.view.lane;
    char buf[160];
    if (!(mask & bit)) {
        snprintf(buf, sizeof buf, "%s: the mask 0x%08x does not include the calling lane %u",
                 what, mask, f.view.lane);
        fail_here(buf);
    }
    if (mask & ~wp.exists) {
        snprintf(buf, sizeof buf,
                 "%s: the mask 0x%08x names lanes 0x%08x that do not exist (the block has %u "
                 "threads)", what, mask, mask & ~wp.exists, B.nthreads);
        fail_here(buf);
    }
    if (mask & wp.exited) {
        snprintf(buf, sizeof buf, "%s: lanes 0x%08x of the mask 0x%08x have exited", what,
                 mask & wp.exited, mask);
        fail_here(buf);
    }
    Slot* slot = nullptr;
    for (Slot& s : wp.slots) {
        if (s.mask == mask) {
            slot = &s;
        } else if (s.mask & mask) {
            snprintf(buf, sizeof buf,
                     "%s with mask 0x%08x overlaps %s with mask 0x%08x in progress in the "
                     "same warp", what, mask, s.what, s.mask);
            fail_here(buf);
        }
    }
    if (!slot) {
        wp.slots.emplace_back();
        slot = &wp.slots.back();
        slot->mask = mask;
        slot->kind = kind;
        slot->what = what;
    } else if (slot->kind != kind || std::strcmp(slot->what, what) != 0) {
        snprintf(buf, sizeof buf, "%s meets %s of other lanes (mask 0x%08x)", what,
                 slot->what, mask);
        fail_here(buf);
    }
    slot->data[f.view.lane] = data;
    slot->arrived |= bit;
    if (slot->arrived == mask) {
        Slot s = *slot;
        wp.slots.erase(wp.slots.begin() + (slot - wp.slots.data()));
        done(s.data, mask, what);  // may fail_here: the error names this (the last) lane
        const unsigned base = f.view.warp * 32;
        for (unsigned l = 0; l < 32; ++l)
            if ((mask & (1u << l)) && l != f.view.lane) {
                B.W->fibers[base + l].state = RUNNABLE;
                B.push(base + l);
            }
        to_scheduler(f, Y_AGAIN);
    } else {
        f.state = AT_WARP;
        to_scheduler(f, Y_BLOCKED);
    }
    check_abort();
}

BFEMU_EXPORT void bfemu_nanosleep(unsigned)
{
    check_abort();
    to_scheduler(*t_fiber, Y_SPIN);
    check_abort();
}

BFEMU_EXPORT void bfemu_memory_point(void)
{
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (t_block && t_block->shuffle) {
        check_abort();
        to_scheduler(*t_fiber, Y_POINT);
        check_abort();
    }
}

BFEMU_EXPORT unsigned bfemu_activemask(void)
{
    const Warp& wp = t_block->W->warps[t_fiber->view.warp];
    return wp.exists & ~wp.exited;
}

BFEMU_EXPORT void bfemu_trap(void)
{
    fail_here("__trap() called");
}

BFEMU_EXPORT void bfemu_fail(const char* fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fail_here(buf);
}

// ---------------------------------------------------------------- the launch
BFEMU_EXPORT int bfemu_launch(const bfemu_kernel* kernel, const bfemu_module* module,
                              void** args, const unsigned* grid, const unsigned* block,
                              size_t shared_bytes, const bfemu_config* config,
                              bfemu_stats* stats, char* err, size_t errlen)
{
    std::lock_guard<std::mutex> serial(launch_mutex);
    auto report = [&](const std::string& msg) {
        if (err && errlen) snprintf(err, errlen, "%s", msg.c_str());
        return -1;
    };
    if (module->abi_version != BFEMU_ABI_VERSION)
        return report("kernel library built for another emulator ABI; rebuild it");
    Launch L;
    L.K = kernel;
    L.M = module;
    L.grid = {grid[0], grid[1], grid[2]};
    L.block = {block[0], block[1], block[2]};
    L.nblocks = uint64_t(grid[0]) * grid[1] * grid[2];
    L.nthreads = block[0] * block[1] * block[2];
    L.shared_bytes = shared_bytes;
    L.cfg = *config;
    if (L.nblocks == 0 || L.nthreads == 0) return report("empty grid or block");
    try {
        L.bound = kernel->bind(args);
    } catch (const std::exception& e) {
        return report(std::string("binding the arguments: ") + e.what());
    }

    Pool& P = pool();
    const int base = static_cast<int>(std::max<uint64_t>(
        1, std::min<uint64_t>(L.nblocks, std::max(1, L.cfg.workers))));
    std::vector<std::unique_ptr<Worker>> extra;
    std::vector<std::thread> extra_threads;
    {
        std::lock_guard<std::mutex> g(P.m);
        P.ensure(base);
        for (int i = 0; i < base; ++i) L.workers.push_back(P.workers[i].get());
        L.running.store(base);
        P.launch = &L;
        P.active = base;
        ++P.generation;
    }
    P.cv_work.notify_all();

    uint64_t last = 0;
    auto quiet_since = std::chrono::steady_clock::now();
    uint64_t max_resident = base;
    for (;;) {
        {
            std::unique_lock<std::mutex> lk(P.m);
            if (P.cv_done.wait_for(lk, std::chrono::milliseconds(2),
                                   [&] { return L.running.load() == 0; }))
                break;
        }
        int nbusy = 0, nstalled = 0;
        {
            std::lock_guard<std::mutex> g(L.wm);
            for (Worker* w : L.workers) {
                const int b = w->busy.load();
                nbusy += b;
                nstalled += b && w->stalled.load();
            }
        }
        const uint64_t prog = total_progress(L);
        const auto now = std::chrono::steady_clock::now();
        if (prog != last || nstalled < nbusy || nbusy == 0) {
            last = prog;
            quiet_since = now;
            continue;
        }
        // Every running block spins and nothing moves. Start blocks that may be waited on.
        const int resident = static_cast<int>(L.workers.size());
        if (L.next.load() < L.nblocks && resident < L.cfg.max_resident) {
            const int add = std::min(std::max(resident, 1), L.cfg.max_resident - resident);
            std::lock_guard<std::mutex> g(L.wm);
            for (int i = 0; i < add; ++i) {
                extra.push_back(std::make_unique<Worker>());
                Worker* w = extra.back().get();
                L.workers.push_back(w);
                L.running.fetch_add(1);
                extra_threads.emplace_back([w, &L, &P] {
                    run_blocks(*w, L);
                    std::lock_guard<std::mutex> g2(P.m);
                    if (L.running.fetch_sub(1) == 1) P.cv_done.notify_all();
                });
            }
            max_resident = std::max<uint64_t>(max_resident, L.workers.size());
            quiet_since = now;
            continue;
        }
        if (std::chrono::duration<double>(now - quiet_since).count() > L.cfg.deadlock_seconds) {
            char buf[600];
            snprintf(buf, sizeof buf,
                     "kernel '%s': deadlock: all %d resident blocks spin-wait (__nanosleep) "
                     "with no progress for %.1f s, and %s. A wait across blocks needs every "
                     "block it waits for resident at once: at most %d blocks of this kernel "
                     "fit on an H200 at a time (launch: %llu blocks of %u threads).",
                     kernel->name, nbusy, L.cfg.deadlock_seconds,
                     L.next.load() < L.nblocks ? "no more blocks can be made resident"
                                               : "every other block has finished",
                     L.cfg.max_resident, static_cast<unsigned long long>(L.nblocks),
                     L.nthreads);
            L.fail(buf);
        }
    }
    for (auto& t : extra_threads) t.join();
    kernel->unbind(L.bound);
    if (stats) {
        stats->blocks_run = L.blocks_run.load();
        stats->max_resident_seen = max_resident;
    }
    if (L.aborted.load()) return report(L.error);
    return 0;
}
