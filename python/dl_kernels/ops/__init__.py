"""Functions over tensors, beyond the Tensor class: ``core`` (cat, stack, split, where,
maximum, minimum, matmul and the ``dl_kernels.exp(t)``-style aliases of Tensor methods)."""
