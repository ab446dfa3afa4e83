// Device basics: errors, devices, the stream, the caching allocator, device arrays.
#include "cuda/runtime.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace dlk::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::ostringstream os;
  os << "CUDA error in " << call << " (" << file << ":" << line << "): " << cudaGetErrorName(err)
     << ": " << cudaGetErrorString(err);
  throw std::runtime_error(os.str());
}

void check_launch(const char* kernel, const char* file, int line) {
  static const bool sync_each = [] {
    const char* v = std::getenv("DLK_CUDA_SYNC");
    return v && *v && *v != '0';
  }();
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && sync_each) err = cudaStreamSynchronize(stream());
  if (err != cudaSuccess) {
    std::string what = std::string("launch of kernel ") + kernel;
    throw_cuda_error(err, what.c_str(), file, line);
  }
}

// ---- devices -------------------------------------------------------------------------------
namespace {
std::mutex g_mutex;
std::string g_last_error;
}  // namespace

int device_count() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (err != cudaSuccess) {
    // No driver (cudaErrorInsufficientDriver) or no GPU (cudaErrorNoDevice): report, don't throw.
    g_last_error = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + ": " +
                   cudaGetErrorString(err);
    if (err == cudaErrorInsufficientDriver)
      g_last_error += " (no CUDA driver library libcuda.so.1 was found, or it is too old)";
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  if (n == 0) g_last_error = "the CUDA driver reports no devices";
  return n;
}

std::string last_error_message() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_last_error;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  DLK_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

void memory_info(size_t& free_bytes, size_t& total_bytes) {
  DLK_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
}

int sm_count() {
  static int count = [] {
    int dev = 0, n = 0;
    DLK_CUDA_CHECK(cudaGetDevice(&dev));
    DLK_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
  }();
  return count;
}

cudaStream_t stream() {
  // Created once and never destroyed: destroying it at interpreter exit could race the
  // runtime's own teardown.
  static cudaStream_t s = [] {
    cudaStream_t st = nullptr;
    DLK_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    return st;
  }();
  return s;
}

void synchronize() { DLK_CUDA_CHECK(cudaStreamSynchronize(stream())); }

// ---- caching allocator ---------------------------------------------------------------------
namespace {

struct Allocator {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;      // rounded size -> block
  std::unordered_map<void*, size_t> block_size;  // every live or cached block
  AllocatorStats stats;

  static size_t round_up(size_t bytes) {
    const size_t small = 512, large = size_t(2) << 20;
    return bytes < (size_t(1) << 20) ? (bytes + small - 1) / small * small
                                     : (bytes + large - 1) / large * large;
  }

  void release_cached_locked() {
    for (auto& [size, ptr] : free_blocks) {
      cudaFree(ptr);  // cudaFree waits for pending work that might still use the block
      block_size.erase(ptr);
      stats.cached_bytes -= size;
    }
    free_blocks.clear();
  }
};

Allocator& allocator() {
  static Allocator* a = new Allocator();  // never destroyed: see stream()
  return *a;
}

}  // namespace

void* device_alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  Allocator& a = allocator();
  const size_t size = Allocator::round_up(bytes);
  std::lock_guard<std::mutex> lock(a.mutex);
  // Best fit among cached blocks, but never a block more than twice the request.
  auto it = a.free_blocks.lower_bound(size);
  if (it != a.free_blocks.end() && it->first <= 2 * size) {
    void* p = it->second;
    a.stats.cached_bytes -= it->first;
    a.stats.in_use_bytes += it->first;
    a.stats.cache_hits++;
    a.free_blocks.erase(it);
    if (a.stats.in_use_bytes > a.stats.peak_in_use_bytes)
      a.stats.peak_in_use_bytes = a.stats.in_use_bytes;
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    a.release_cached_locked();
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess) {
    std::ostringstream os;
    os << "cudaMalloc(" << size << " bytes)";
    throw_cuda_error(err, os.str().c_str(), __FILE__, __LINE__);
  }
  a.block_size[p] = size;
  a.stats.malloc_calls++;
  a.stats.in_use_bytes += size;
  if (a.stats.in_use_bytes > a.stats.peak_in_use_bytes)
    a.stats.peak_in_use_bytes = a.stats.in_use_bytes;
  return p;
}

void device_free(void* ptr) {
  if (!ptr) return;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  auto it = a.block_size.find(ptr);
  if (it == a.block_size.end()) return;  // not ours: never happens through DeviceArray
  a.stats.in_use_bytes -= it->second;
  a.stats.cached_bytes += it->second;
  a.free_blocks.emplace(it->second, ptr);
}

void empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.release_cached_locked();
}

AllocatorStats allocator_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.stats;
}

// ---- device arrays -------------------------------------------------------------------------
size_t dtype_size(DType dt) { return dt == DType::float32 ? 4 : 8; }
const char* dtype_name(DType dt) { return dt == DType::float32 ? "float32" : "int64"; }

Storage::Storage(size_t nbytes) : ptr(device_alloc(nbytes)), bytes(nbytes) {}
Storage::~Storage() { device_free(ptr); }

DeviceArray::DeviceArray(std::vector<int64_t> shp, DType dt) : shape(std::move(shp)), dtype(dt) {
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("DeviceArray: negative dimension in shape");
  storage = std::make_shared<Storage>(nbytes());
}

DeviceArray::DeviceArray(std::shared_ptr<Storage> st, size_t off, std::vector<int64_t> shp,
                         DType dt)
    : storage(std::move(st)), offset_bytes(off), shape(std::move(shp)), dtype(dt) {}

int64_t DeviceArray::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace dlk::cuda
