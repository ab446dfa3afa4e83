// Device basics shared by every CUDA kernel family: error checking, the library's stream, the
// caching allocator and the device array type the bindings hand to Python.
//
// Every CUDA runtime call goes through DLK_CUDA_CHECK and every kernel launch is followed by
// DLK_CUDA_LAUNCH_CHECK: a failure throws std::runtime_error naming the call (pybind11 turns it
// into a Python RuntimeError). Launch errors that only surface later (a fault inside a kernel)
// are reported by the next checked call; set DLK_CUDA_SYNC=1 to synchronise after every launch
// so the error names the kernel that caused it (slow; for debugging).
//
// All work is ordered on one non-blocking stream per process (`stream()`), so a buffer returned
// to the allocator can be handed to the next request at once: any later use is queued after
// every earlier use on the same stream.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dlk::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
void check_launch(const char* kernel, const char* file, int line);

#define DLK_CUDA_CHECK(call)                                              \
  do {                                                                    \
    cudaError_t dlk_err_ = (call);                                        \
    if (dlk_err_ != cudaSuccess)                                          \
      ::dlk::cuda::throw_cuda_error(dlk_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define DLK_CUDA_LAUNCH_CHECK(kernel_name) \
  ::dlk::cuda::check_launch(kernel_name, __FILE__, __LINE__)

// ---- devices -------------------------------------------------------------------------------
// Never throws: 0 when there is no driver or no GPU; last_error_message() says why.
int device_count();
std::string last_error_message();
std::string device_name(int device);
void memory_info(size_t& free_bytes, size_t& total_bytes);  // current device
int sm_count();                                             // current device, cached

// The library's stream on the current device (created on first use).
cudaStream_t stream();
void synchronize();

// ---- caching allocator ---------------------------------------------------------------------
// Blocks are rounded up (512 B below 1 MiB, 2 MiB above) and kept in per-size free lists when
// released; cudaMalloc is called only when no cached block fits, and on out-of-memory the
// cache is emptied and the allocation retried once.
void* device_alloc(size_t bytes);
void device_free(void* ptr);
void empty_cache();
struct AllocatorStats {
  size_t in_use_bytes = 0, cached_bytes = 0, peak_in_use_bytes = 0;
  size_t malloc_calls = 0, cache_hits = 0;
};
AllocatorStats allocator_stats();

// ---- device arrays -------------------------------------------------------------------------
enum class DType { float32, int64 };
size_t dtype_size(DType dt);
const char* dtype_name(DType dt);

struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

// A C-contiguous array in device memory. Views made by reshape share the storage.
struct DeviceArray {
  std::shared_ptr<Storage> storage;
  size_t offset_bytes = 0;
  std::vector<int64_t> shape;
  DType dtype = DType::float32;

  DeviceArray(std::vector<int64_t> shape, DType dtype);
  DeviceArray(std::shared_ptr<Storage> storage, size_t offset_bytes, std::vector<int64_t> shape,
              DType dtype);

  int64_t size() const;
  size_t nbytes() const { return static_cast<size_t>(size()) * dtype_size(dtype); }
  int64_t ndim() const { return static_cast<int64_t>(shape.size()); }
  void* data() const { return static_cast<char*>(storage->ptr) + offset_bytes; }
  float* f32() const { return static_cast<float*>(data()); }
  int64_t* i64() const { return static_cast<int64_t*>(data()); }
};
using ArrayPtr = std::shared_ptr<DeviceArray>;

inline ArrayPtr new_array(std::vector<int64_t> shape, DType dt = DType::float32) {
  return std::make_shared<DeviceArray>(std::move(shape), dt);
}

// A scratch buffer from the caching allocator, returned to it when the object goes away.
template <typename T>
struct Scratch {
  T* ptr = nullptr;
  explicit Scratch(size_t count) {
    if (count) ptr = static_cast<T*>(device_alloc(count * sizeof(T)));
  }
  ~Scratch() {
    if (ptr) device_free(ptr);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// Grid size for `n` independent items at `block` threads each, capped so a grid-stride loop
// covers the rest.
inline unsigned grid_for(int64_t n, int block) {
  int64_t g = (n + block - 1) / block;
  if (g > (1 << 30)) g = 1 << 30;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

}  // namespace dlk::cuda
