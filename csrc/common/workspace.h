// A grow-only, page-aligned scratch buffer, kept across calls.
//
// Kernels keep one per thread (thread_local) for packed panels and column chunks: a fresh
// allocation per call would pay first-touch page faults (~2 us per 4 KiB page on this machine)
// on every call, and sharing one between threads would race.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace dlk {

class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() { std::free(ptr_); }

  // At least `count` elements of T; the contents are unspecified (kept from earlier use).
  template <typename T>
  T* get(size_t count) {
    const size_t need = count * sizeof(T);
    if (need > bytes_) {
      std::free(ptr_);
      ptr_ = nullptr;
      const size_t rounded = (need + 4095) / 4096 * 4096;
      ptr_ = std::aligned_alloc(4096, rounded);
      if (!ptr_) {
        bytes_ = 0;
        throw std::bad_alloc();
      }
      bytes_ = rounded;
    }
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace dlk
