#pragma once

#include <algorithm>

namespace dlk {

namespace detail {
using ChunkFn = void (*)(const void* ctx, int64_t chunk);
// Runs fn(ctx, c) for c in [0, chunks) on the pool (parallel.cpp).
void run_chunks(int64_t chunks, int threads, ChunkFn fn, const void* ctx);
}  // namespace detail

template <typename Body>
void parallel_chunks(int64_t chunks, int threads, const Body& body) {
  if (chunks <= 0) return;
  if (threads <= 1 || chunks == 1) {
    for (int64_t c = 0; c < chunks; ++c) body(c);
    return;
  }
  detail::run_chunks(
      chunks, threads, [](const void* ctx, int64_t c) { (*static_cast<const Body*>(ctx))(c); },
      &body);
}

template <typename Body>
void parallel_for(int64_t n, int64_t grain, const Body& body) {
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  const int nt = static_cast<int>(std::min<int64_t>(threads_for_kernel(), max_chunks));
  if (nt <= 1) {
    body(int64_t{0}, n);
    return;
  }
  // A few chunks per thread: a thread that loses its core in the middle of a chunk holds up
  // the call by one small chunk, and the others share out the rest.
  const int64_t chunks = std::min<int64_t>(max_chunks, 4 * nt);
  parallel_chunks(chunks, nt, [&](int64_t c) {
    const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    if (begin < end) body(begin, end);
  });
}

}  // namespace dlk
