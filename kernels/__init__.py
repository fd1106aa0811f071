"""CuPy-fused CUDA kernels and their torch references (see the kernels issue)."""
