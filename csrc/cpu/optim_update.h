// Fused optimiser updates: one call updates every parameter of an optimiser step in place,
// one pass over each parameter's arrays, float32 and float64.
//
// The rules are torch.optim's single-tensor forms (SGD with momentum, dampening, Nesterov,
// maximize and L2 weight decay; Adam / AdamW with bias correction and AMSGrad), evaluated in
// the same order of operations as dl_kernels.optim's per-parameter path, element by element
// (see optim_update_loops.h). Pointers and sizes are trusted (checked at the binding boundary);
// the hyper-parameters are checked here.
#pragma once

#include <cstdint>
#include <string>

namespace dlk::cpu {

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;
};

// One parameter of an SGD step: n elements of param (updated), grad (read) and the momentum
// buffer (updated; unused when momentum == 0). fresh: the buffer has no history yet, so it
// becomes a copy of the gradient (torch's first step) instead of a running average.
template <typename T>
struct SgdSlot {
  T* param;
  const T* grad;
  T* momentum_buffer;
  int64_t n;
  bool fresh;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
  bool maximize = false;
  bool decoupled_weight_decay = false;  // AdamW: θ ← θ·(1 − lr·wd) before the step
};

// One parameter of an Adam step. step: this step's number t >= 1 (per parameter, as torch keeps
// it: a parameter that had no gradient on some steps has a smaller t). max_exp_avg_sq is used
// only with amsgrad.
template <typename T>
struct AdamSlot {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  T* max_exp_avg_sq;
  int64_t n;
  int64_t step;
};

// ValueError (std::invalid_argument) naming the bad hyper-parameter.
void check_sgd_options(const SgdOptions& o);
void check_adam_options(const AdamOptions& o);

// Update every slot once. Slots are split into chunks spread over the kernel threads; each
// element is written by one thread, so the result does not depend on the thread count.
template <typename T>
void sgd_update(const SgdSlot<T>* slots, int64_t count, const SgdOptions& o);
template <typename T>
void adam_update(const AdamSlot<T>* slots, int64_t count, const AdamOptions& o);

// Which build of the element loops runs: "auto" (AVX2 where the CPU has it), "portable" (the
// baseline x86-64 build) or "avx2" (ValueError on a CPU without it). Tests force each in turn.
void set_optim_update_rung(const std::string& name);
const char* optim_update_rung();  // the build that runs now: "avx2" or "portable"

}  // namespace dlk::cpu
