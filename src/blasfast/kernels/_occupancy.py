"""How many blocks of a kernel one SM holds at once: the CUDA occupancy calculator.

The same arithmetic as ``cudaOccupancyMaxActiveBlocksPerMultiprocessor`` for the limits
that matter to our kernels (blocks, warps, registers allocated per warp in units of 256,
shared memory plus the per-block reservation), from the kernel's attributes and a
``cupy.cuda.Device().attributes``-style dict. Used by launchers whose kernels need every
block resident together (grid-wide barriers) and by the emulator's launch checks.
"""

__all__ = ["blocks_per_sm"]

_RESERVED_SHARED = 1024     # shared memory the driver reserves per block (sm_80 and later)


def blocks_per_sm(threads, shared_bytes, registers, device):
    """Blocks of ``threads`` threads using ``shared_bytes`` of shared memory (static plus
    dynamic) and ``registers`` per thread (None: unknown, not limiting) that one SM of
    ``device`` holds at once; 0 when a block does not fit at all."""
    warps = -(-int(threads) // 32)
    limits = [int(device["MaxBlocksPerMultiprocessor"]),
              (int(device["MaxThreadsPerMultiProcessor"]) // 32) // warps]
    if registers:
        per_warp = -(-int(registers) * 32 // 256) * 256
        limits.append((int(device["MaxRegistersPerMultiprocessor"]) // per_warp) // warps)
    if shared_bytes:
        limits.append(int(device["MaxSharedMemoryPerMultiprocessor"]) //
                      (int(shared_bytes) + _RESERVED_SHARED))
    return max(0, min(limits))
