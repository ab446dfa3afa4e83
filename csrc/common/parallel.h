// Thread count shared by every CPU kernel, and the parallel loops over a pool of our own.
//
// The count starts from OMP_NUM_THREADS and follows set_num_threads(). Kernels called from
// inside another kernel's parallel work run single-threaded, so that nesting (a conv calling
// GEMM per image) never oversubscribes the cores.
//
// Why a pool of our own rather than an OpenMP team: an OpenMP region ends in a barrier that waits
// for every thread of the team, so when another process holds the core one of our threads needs,
// every kernel call waits for the scheduler to give that thread a time slice (milliseconds for
// a kernel of microseconds). Here work is split into chunks that threads claim one at a time,
// and the calling thread claims chunks too: a worker that has not woken up yet simply finds no
// work left, and the caller waits only for chunks a worker actually started. With the other
// cores busy a call therefore degrades to the single-thread time instead of the scheduler's.
// Idle workers spin for a bounded time (DLK_SPIN_US, default 50 microseconds) so back-to-back
// kernels find them awake, then sleep on a condition variable.
#pragma once

#include <cstdint>

namespace dlk {

int num_threads();
void set_num_threads(int n);

// Threads a kernel should use here: 1 inside parallel work, else num_threads(), or fewer while
// other processes hold cores (follow_free_cores, on by default; see parallel.cpp).
int threads_for_kernel();
void set_follow_free_cores(bool on);
bool follow_free_cores();

// Deterministic mode (dl_kernels.use_deterministic_algorithms): every kernel's result is
// bitwise the same whatever the thread count. Most kernels are so anyway (each output is summed
// by one thread in a fixed order); the ones that split a sum over threads (conv2d grad-weight)
// switch to a split that does not depend on the thread count. Off by default.
bool deterministic_algorithms();
void set_deterministic_algorithms(bool on);

// Calls body(c) once for every chunk c in [0, chunks), spread over at most `threads` threads
// (the caller included). Which thread runs a chunk is up to who claims it first: a body must
// depend on c only, never on the thread. Returns when every chunk is done; a body's exception
// is rethrown here (the first one, after the other chunks finish).
template <typename Body>
void parallel_chunks(int64_t chunks, int threads, const Body& body);

// Calls body(begin, end) on disjoint ranges covering [0, n), spread over the kernel threads (a
// few ranges per thread); ranges are at least `grain` long so tiny loops stay on one thread.
template <typename Body>
void parallel_for(int64_t n, int64_t grain, const Body& body);

}  // namespace dlk

#include "common/parallel_impl.h"
