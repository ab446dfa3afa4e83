// Fused optimiser updates (optim_update.h): every parameter of a step in one call.
//
// Why: the per-parameter path runs each update as 6-12 numpy passes per parameter (Adam:
// m·β1, +(1−β1)g, v·β2, g·g, ·(1−β2), +, √v, /, +eps, m/denom, ·step, +), each reading and
// writing whole arrays and allocating temporaries, plus the Python and dispatch cost of every
// pass times every parameter. Here each element is read once and written once (Adam: θ, g, m, v
// in, θ, m, v out: 28 bytes per float32 element), which is what PyTorch's fused/foreach
// optimisers do (torch.optim's `fused=True`, the `_fused_adam_` / `_foreach_` kernels).
//
// Work split: every parameter is cut into chunks of at most kChunk elements, and the chunks of
// all parameters are spread over the kernel threads (dlk::parallel_for), so one large weight
// and many small biases balance alike; a step under kMinPerThread elements per thread stays on
// one thread (the thread start would cost more than the loop).
#include "cpu/optim_update.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/parallel.h"

#define DLK_OPTIM_NS optim_portable
#include "cpu/optim_update_loops.h"

namespace dlk::cpu {

#if defined(DLK_X86)
namespace optim_avx2 {  // optim_update_avx2.cpp: the same loops, 8 float lanes
template <typename T>
void sgd_run(int64_t, T*, const T*, T*, const SgdConsts<T>&, bool, bool, bool, bool);
template <typename T>
void adam_run(int64_t, T*, const T*, T*, T*, T*, const AdamConsts<T>&, bool, bool);
}  // namespace optim_avx2
#endif

namespace {

constexpr int64_t kChunk = 1 << 14;         // elements per chunk: 64 KiB of float32 per array
constexpr int64_t kMinPerThread = 1 << 15;  // elements a thread should get at least

enum class Rung { Auto = 0, Portable = 1, Avx2 = 2 };
std::atomic<int> g_rung{static_cast<int>(Rung::Auto)};

bool use_avx2() {
#if defined(DLK_X86)
  const auto r = static_cast<Rung>(g_rung.load());
  return r == Rung::Avx2 || (r == Rung::Auto && best_isa() != Isa::Portable);
#else
  return false;
#endif
}

struct Chunk {
  int64_t slot, begin, end;
};

// The chunks of all slots, in slot order, and the total element count.
template <typename Slot>
std::vector<Chunk> make_chunks(const Slot* slots, int64_t count, int64_t* total) {
  std::vector<Chunk> chunks;
  *total = 0;
  for (int64_t s = 0; s < count; ++s) {
    for (int64_t b = 0; b < slots[s].n; b += kChunk)
      chunks.push_back({s, b, std::min(slots[s].n, b + kChunk)});
    *total += slots[s].n;
  }
  return chunks;
}

// Runs body(chunk) over every chunk, spread over the threads with at least kMinPerThread
// elements each (chunks are equal-sized but for each slot's last one).
template <typename Body>
void for_each_chunk(const std::vector<Chunk>& chunks, int64_t total, const Body& body) {
  const int64_t n = static_cast<int64_t>(chunks.size());
  if (n == 0) return;
  const int64_t grain = std::max<int64_t>(1, (n * kMinPerThread + total - 1) / std::max<int64_t>(total, 1));
  parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(chunks[i]);
  });
}

void check_unit_interval(double x, const char* name) {
  DLK_CHECK(x >= 0.0 && x < 1.0, name, ": expected a value in [0, 1), got ", x);
}

void check_non_negative(double x, const char* name) {
  DLK_CHECK(x >= 0.0, name, ": expected a value >= 0, got ", x);
}

}  // namespace

void check_sgd_options(const SgdOptions& o) {
  check_non_negative(o.lr, "lr");
  check_non_negative(o.momentum, "momentum");
  check_non_negative(o.weight_decay, "weight_decay");
  DLK_CHECK(std::isfinite(o.dampening), "dampening: expected a finite value, got ",
            o.dampening);
  DLK_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
            "nesterov: Nesterov momentum requires a momentum > 0 and zero dampening, got "
            "momentum=", o.momentum, ", dampening=", o.dampening);
}

void check_adam_options(const AdamOptions& o) {
  check_non_negative(o.lr, "lr");
  check_unit_interval(o.beta1, "beta1");
  check_unit_interval(o.beta2, "beta2");
  check_non_negative(o.eps, "eps");
  check_non_negative(o.weight_decay, "weight_decay");
}

void set_optim_update_rung(const std::string& name) {
  Rung r;
  if (name == "auto")
    r = Rung::Auto;
  else if (name == "portable")
    r = Rung::Portable;
  else if (name == "avx2")
    r = Rung::Avx2;
  else
    fail("optim_update rung: expected 'auto', 'portable' or 'avx2', got '", name, "'");
#if defined(DLK_X86)
  DLK_CHECK(r != Rung::Avx2 || isa_supported(Isa::Avx2),
            "optim_update rung avx2: this CPU has no AVX2 and FMA");
#else
  DLK_CHECK(r != Rung::Avx2, "optim_update rung avx2: this build is not for x86-64");
#endif
  g_rung.store(static_cast<int>(r));
}

const char* optim_update_rung() { return use_avx2() ? "avx2" : "portable"; }

template <typename T>
void sgd_update(const SgdSlot<T>* slots, int64_t count, const SgdOptions& o) {
  check_sgd_options(o);
  // The scalars as the per-parameter path rounds them: computed in double, rounded to T.
  SgdConsts<T> c;
  c.sign = o.maximize ? T(-1) : T(1);
  c.wd = T(o.weight_decay);
  c.momentum = T(o.momentum);
  c.keep = T(1 - o.dampening);
  c.neg_lr = T(-o.lr);
  const bool decay = o.weight_decay != 0, momentum = o.momentum != 0;
  int64_t total;
  const std::vector<Chunk> chunks = make_chunks(slots, count, &total);
  const bool avx2 = use_avx2();
  for_each_chunk(chunks, total, [&](const Chunk& ch) {
    const SgdSlot<T>& s = slots[ch.slot];
    T* buf = momentum ? s.momentum_buffer + ch.begin : nullptr;
    const int64_t n = ch.end - ch.begin;
#if defined(DLK_X86)
    if (avx2)
      return optim_avx2::sgd_run<T>(n, s.param + ch.begin, s.grad + ch.begin, buf, c, decay,
                                    momentum, s.fresh, o.nesterov);
#endif
    optim_portable::sgd_run<T>(n, s.param + ch.begin, s.grad + ch.begin, buf, c, decay,
                               momentum, s.fresh, o.nesterov);
  });
}

template <typename T>
void adam_update(const AdamSlot<T>* slots, int64_t count, const AdamOptions& o) {
  check_adam_options(o);
  for (int64_t s = 0; s < count; ++s)
    DLK_CHECK(slots[s].step >= 1, "steps[", s, "]: expected a step number >= 1, got ",
              slots[s].step);
  // Per-parameter constants (the step count, hence the bias corrections, is per parameter),
  // computed in double as the per-parameter path does in Python, then rounded to T.
  const bool l2 = o.weight_decay != 0 && !o.decoupled_weight_decay;
  std::vector<AdamConsts<T>> consts(static_cast<size_t>(count));
  for (int64_t s = 0; s < count; ++s) {
    const double t = static_cast<double>(slots[s].step);
    AdamConsts<T>& c = consts[s];
    c.sign = o.maximize ? T(-1) : T(1);
    c.shrink = o.decoupled_weight_decay && o.weight_decay != 0 ? T(1 - o.lr * o.weight_decay)
                                                                : T(1);
    c.wd = T(o.weight_decay);
    c.beta1 = T(o.beta1);
    c.keep1 = T(1 - o.beta1);
    c.beta2 = T(o.beta2);
    c.keep2 = T(1 - o.beta2);
    c.bc2_sqrt = T(std::sqrt(1 - std::pow(o.beta2, t)));
    c.eps = T(o.eps);
    c.neg_step_size = T(-o.lr / (1 - std::pow(o.beta1, t)));
  }
  int64_t total;
  const std::vector<Chunk> chunks = make_chunks(slots, count, &total);
  const bool avx2 = use_avx2();
  for_each_chunk(chunks, total, [&](const Chunk& ch) {
    const AdamSlot<T>& s = slots[ch.slot];
    const int64_t b = ch.begin, n = ch.end - ch.begin;
    T* vmax = o.amsgrad ? s.max_exp_avg_sq + b : nullptr;
#if defined(DLK_X86)
    if (avx2)
      return optim_avx2::adam_run<T>(n, s.param + b, s.grad + b, s.exp_avg + b,
                                     s.exp_avg_sq + b, vmax, consts[ch.slot], l2, o.amsgrad);
#endif
    optim_portable::adam_run<T>(n, s.param + b, s.grad + b, s.exp_avg + b, s.exp_avg_sq + b,
                                vmax, consts[ch.slot], l2, o.amsgrad);
  });
}

template void sgd_update<float>(const SgdSlot<float>*, int64_t, const SgdOptions&);
template void sgd_update<double>(const SgdSlot<double>*, int64_t, const SgdOptions&);
template void adam_update<float>(const AdamSlot<float>*, int64_t, const AdamOptions&);
template void adam_update<double>(const AdamSlot<double>*, int64_t, const AdamOptions&);

}  // namespace dlk::cpu
