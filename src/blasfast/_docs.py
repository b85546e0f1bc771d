"""Docstring text shared by every op family (each family's ``_docs`` fills it in)."""

#: The ``stream`` parameter of every op that launches work; goes where a docstring has
#: ``    {stream}`` (4-space indent, as a numpydoc parameter).
STREAM_PARAM = """stream : cupy.cuda.Stream, int or object with ``__cuda_stream__``, optional
        GPU path only: the stream to launch on (default: CuPy's current stream, or
        PyTorch's current stream for CUDA tensors); an integer ``cudaStream_t`` handle or
        a CUDA-stream-protocol object (e.g. ``torch.cuda.Stream``) is wrapped as
        ``ExternalStream``. Must be None with host arrays (NumPy, CPU tensors):
        ``ValueError``."""
