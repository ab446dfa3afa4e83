#include "common/parallel.h"

#include <omp.h>

#include <atomic>

#include "common/check.h"

namespace dlk {

namespace {
std::atomic<int> g_threads{0};  // 0: not set yet, take OpenMP's default
std::atomic<bool> g_deterministic{false};
}  // namespace

bool deterministic_algorithms() { return g_deterministic.load(); }
void set_deterministic_algorithms(bool on) { g_deterministic.store(on); }

int num_threads() {
  int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

void set_num_threads(int n) {
  DLK_CHECK(n >= 1, "set_num_threads: expected a thread count >= 1, got ", n);
  g_threads.store(n);
  omp_set_num_threads(n);
}

int threads_for_kernel() { return omp_in_parallel() ? 1 : num_threads(); }

}  // namespace dlk
