// Thread count shared by every CPU kernel, and a parallel_for over index ranges.
//
// The count starts from OMP_NUM_THREADS (OpenMP's default) and follows set_num_threads().
// Kernels called from inside another kernel's parallel region run single-threaded, so that
// nesting (a conv calling GEMM per image) never oversubscribes the two cores.
#pragma once

#include <cstdint>

namespace dlk {

int num_threads();
void set_num_threads(int n);

// Threads a kernel should use here: 1 inside a parallel region, else num_threads().
int threads_for_kernel();

// Deterministic mode (dl_kernels.use_deterministic_algorithms): every kernel's result is
// bitwise the same whatever the thread count. Most kernels are so anyway (each output is summed
// by one thread in a fixed order); the ones that split a sum over threads (conv2d grad-weight)
// switch to a split that does not depend on the thread count. Off by default.
bool deterministic_algorithms();
void set_deterministic_algorithms(bool on);

// Calls body(begin, end) on disjoint chunks of [0, n) spread over the kernel threads; chunks
// are at least `grain` long so tiny loops stay on one thread.
template <typename Body>
void parallel_for(int64_t n, int64_t grain, const Body& body);

}  // namespace dlk

#include "common/parallel_impl.h"
