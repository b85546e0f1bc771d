"""CUDA kernel sources (``*.cu``) and the loader that compiles them on first use.

``python -m blasfast.kernels check`` compiles every declared instantiation for sm_80 and
sm_90 through NVRTC with no GPU present and prints registers, shared memory and spills.
"""
