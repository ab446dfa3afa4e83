#include "common/parallel.h"

#include <omp.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "common/check.h"

namespace dlk {

namespace {
std::atomic<int> g_threads{0};  // 0: not set yet, take OMP_NUM_THREADS / the core count
std::atomic<bool> g_deterministic{false};
thread_local bool t_in_parallel = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker spins before it sleeps (DLK_SPIN_US, microseconds).
int64_t spin_ns() {
  static const int64_t ns = [] {
    const char* s = std::getenv("DLK_SPIN_US");
    const long us = s ? std::strtol(s, nullptr, 10) : 50;
    return static_cast<int64_t>(us < 0 ? 0 : us) * 1000;
  }();
  return ns;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One job at a time. Its state word packs (generation:32 | chunks:16 | next chunk:16), so a claim
// is one compare-and-swap that also checks the job is still the one the claimer saw; the job's
// function and context are written before the word is published and stay valid until every
// claimed chunk is done (the caller waits for that), so whoever wins a claim may read them.
class Pool {
 public:
  static constexpr int64_t kMaxChunks = 0xFFFF;

  // Runs the job on up to `threads` threads; false if the pool is in use by another caller
  // (then the caller runs the chunks itself).
  bool run(int64_t chunks, int threads, detail::ChunkFn fn, const void* ctx) {
    std::unique_lock<std::mutex> caller(caller_mutex_, std::try_to_lock);
    if (!caller.owns_lock()) return false;
    ensure_workers(threads - 1);
    fn_ = fn;
    ctx_ = ctx;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = (state_.load(std::memory_order_relaxed) >> 32) + 1;
    // Workers beyond threads - 1 must not join: they see a job whose chunk count they may take
    // only if their index is below `threads - 1` (limit_).
    limit_.store(threads - 1, std::memory_order_relaxed);
    state_.store((gen << 32) | (static_cast<uint64_t>(chunks) << 16), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(sleep_mutex_); }
      wake_.notify_all();
    }
    t_in_parallel = true;
    work(static_cast<uint32_t>(gen));
    t_in_parallel = false;
    // Wait only for chunks a worker claimed and is still running.
    for (int spins = 0; done_.load(std::memory_order_acquire) < chunks; ++spins) {
      if (spins < 4096)
        cpu_relax();
      else
        sched_yield();
    }
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  static Pool& instance() {
    static Pool* pool = new Pool();  // never destroyed: workers may still sleep at exit
    return *pool;
  }

 private:
  void ensure_workers(int want) {
    while (static_cast<int>(workers_started_) < want) {
      const int index = workers_started_++;
      std::thread(&Pool::worker_loop, this, index).detach();
    }
  }

  // Claims and runs chunks of generation `gen` until none is left.
  void work(uint32_t gen) {
    for (;;) {
      uint64_t s = state_.load(std::memory_order_acquire);
      for (;;) {
        const uint64_t chunks = (s >> 16) & 0xFFFF, next = s & 0xFFFF;
        if ((s >> 32) != gen || next >= chunks) return;
        if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) break;
      }
      try {
        fn_(ctx_, static_cast<int64_t>(s & 0xFFFF));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void worker_loop(int index) {
    t_in_parallel = true;
    uint32_t seen = static_cast<uint32_t>(state_.load(std::memory_order_acquire) >> 32);
    for (;;) {
      // Bounded spinning, then sleep until a new job is published.
      const int64_t deadline = now_ns() + spin_ns();
      uint32_t gen = seen;
      for (int i = 0;; ++i) {
        gen = static_cast<uint32_t>(state_.load(std::memory_order_acquire) >> 32);
        if (gen != seen) break;
        cpu_relax();
        if ((i & 63) == 63 && now_ns() > deadline) {
          std::unique_lock<std::mutex> lock(sleep_mutex_);
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          wake_.wait(lock, [&] {
            return static_cast<uint32_t>(state_.load(std::memory_order_seq_cst) >> 32) != seen;
          });
          sleepers_.fetch_sub(1, std::memory_order_relaxed);
          i = 0;
        }
      }
      seen = gen;
      if (index < limit_.load(std::memory_order_relaxed)) work(gen);
    }
  }

  std::mutex caller_mutex_;
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int> limit_{0};
  detail::ChunkFn fn_ = nullptr;
  const void* ctx_ = nullptr;
  std::exception_ptr error_;
  std::mutex error_mutex_;
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  int workers_started_ = 0;
};

// A forked child has none of the parent's worker threads: it runs everything serially
// (DataLoader workers and multiprocessing children are single-threaded users anyway).
std::atomic<bool> g_forked{false};
const bool g_atfork_registered = [] {
  pthread_atfork(nullptr, nullptr, [] { g_forked.store(true); });
  return true;
}();
}  // namespace

namespace detail {
void run_chunks(int64_t chunks, int threads, ChunkFn fn, const void* ctx) {
  threads = static_cast<int>(std::min<int64_t>(threads, chunks));
  const bool pooled = threads > 1 && chunks <= Pool::kMaxChunks && !t_in_parallel &&
                      !g_forked.load(std::memory_order_relaxed) &&
                      Pool::instance().run(chunks, threads, fn, ctx);
  if (!pooled) {
    const bool outer = t_in_parallel;
    t_in_parallel = true;
    try {
      for (int64_t c = 0; c < chunks; ++c) fn(ctx, c);
    } catch (...) {
      t_in_parallel = outer;
      throw;
    }
    t_in_parallel = outer;
  }
}
}  // namespace detail

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

// ---- following the cores actually free ------------------------------------------------------
// Every 20 ms the caller reads how many threads the whole machine has runnable (the fourth field
// of /proc/loadavg, an instantaneous count) and subtracts this process's own (about 10 us for
// both reads): what is left are other processes' threads, each holding a core. Kernels then use at
// most the cores they leave free (at least one). With one other CPU-bound process on two cores,
// two threads of ours would make three runnable threads for two cores, and the calling thread,
// which also runs the Python between kernels, would get two thirds of a core: slower than one
// thread alone. The largest of the last three readings is used, so a momentary blip of another
// process does not halve an idle machine's speed. dl_kernels.set_follow_free_cores(False) turns
// this off (exact thread counts, for tests of thread-count effects).
namespace {
std::atomic<bool> g_follow_free{true};
std::atomic<int64_t> g_next_sample_ns{0};
std::atomic<int> g_free_history[3] = {{1 << 20}, {1 << 20}, {1 << 20}};
std::atomic<int> g_free_slot{0};

int online_cores() {
  static const int n = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
    const unsigned h = std::thread::hardware_concurrency();
    return h > 0 ? static_cast<int>(h) : 1;
  }();
  return n;
}

// Runnable threads on the machine now, or -1 where /proc/loadavg cannot be read.
int runnable_threads() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return -1;
  double a, b, c;
  int running = -1, total = 0;
  if (std::fscanf(f, "%lf %lf %lf %d/%d", &a, &b, &c, &running, &total) != 5) running = -1;
  std::fclose(f);
  return running;
}

// Runnable threads of this process now (state R in /proc/self/task/*/stat): ours, and those of
// other libraries in the process (a BLAS's or PyTorch's OpenMP threads spinning after their
// call), which are not other processes holding cores.
int runnable_threads_here() {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return 1;
  int running = 0;
  char path[64], buf[256];
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::snprintf(path, sizeof(path), "/proc/self/task/%.20s/stat", e->d_name);
    const int fd = open(path, O_RDONLY);
    if (fd < 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    const char* paren = std::strrchr(buf, ')');  // the state follows "pid (name) "
    if (paren && paren[1] == ' ' && paren[2] == 'R') ++running;
  }
  closedir(dir);
  return std::max(running, 1);
}

int free_cores() {
  const int64_t now = now_ns();
  if (now >= g_next_sample_ns.load(std::memory_order_relaxed)) {
    g_next_sample_ns.store(now + 20'000'000, std::memory_order_relaxed);
    const int running = runnable_threads();
    if (running >= 0) {
      const int others = std::max(0, running - runnable_threads_here());
      const int slot = g_free_slot.fetch_add(1, std::memory_order_relaxed) % 3;
      g_free_history[slot].store(std::max(1, online_cores() - others), std::memory_order_relaxed);
    }
  }
  int best = 1;
  for (const auto& h : g_free_history) best = std::max(best, h.load(std::memory_order_relaxed));
  return best;
}
}  // namespace

void set_follow_free_cores(bool on) { g_follow_free.store(on); }
bool follow_free_cores() { return g_follow_free.load(); }

int threads_for_kernel() {
  if (t_in_parallel || omp_in_parallel()) return 1;
  const int n = num_threads();
  if (n <= 1 || !g_follow_free.load(std::memory_order_relaxed) ||
      g_forked.load(std::memory_order_relaxed))
    return n;
  return std::min(n, free_cores());
}

}  // namespace dlk
