// The element loops of the fused optimiser updates, written once as plain loops that GCC's -O3
// auto-vectoriser turns into SIMD code (sqrt and division included: -fno-math-errno).
//
// Included by optim_update.cpp (baseline x86-64: SSE2) and optim_update_avx2.cpp (AVX2); each
// defines DLK_OPTIM_NS so the copies are distinct functions. Only the vector width differs.
//
// Every operation is the one dl_kernels.optim's per-parameter path performs, in its order, each
// rounded to T (the scalars are rounded to T first, as numpy does with a Python float against a
// float32 array). Both files are compiled with -ffp-contract=off (CMakeLists.txt), so no
// multiply-add is fused and the results are bitwise those of the per-parameter path.
// The options are template parameters: each loop body is branch-free and vectorises.
#pragma once

#include <cmath>
#include <cstdint>

namespace dlk::cpu {

// Per-call constants of an SGD loop, already rounded to T.
template <typename T>
struct SgdConsts {
  T sign;        // -1 with maximize (exact), else 1
  T wd;          // weight decay
  T momentum;
  T keep;        // 1 - dampening
  T neg_lr;      // -lr
};

// Per-parameter constants of an Adam loop, already rounded to T.
template <typename T>
struct AdamConsts {
  T sign;           // -1 with maximize, else 1
  T shrink;         // AdamW: 1 - lr·wd; else 1 (θ·1 is θ exactly)
  T wd;             // L2 weight decay added to the gradient (Adam)
  T beta1, keep1;   // β1, 1 − β1
  T beta2, keep2;   // β2, 1 − β2
  T bc2_sqrt;       // √(1 − β2^t)
  T eps;
  T neg_step_size;  // −lr / (1 − β1^t)
};

// The entry points of one build; the flags pick the loop instantiation.
namespace DLK_OPTIM_NS {

// g ← sign·∇ (+ wd·θ);  b ← g (fresh) or μ·b + (1 − dampening)·g;
// g ← g + μ·b (Nesterov) or b;  θ ← θ + (−lr)·g.
template <typename T, bool kDecay, bool kMomentum, bool kFresh, bool kNesterov>
void sgd_loop(int64_t n, T* __restrict p, const T* __restrict grad, T* __restrict buf,
              const SgdConsts<T>& c) {
  const T sign = c.sign, wd = c.wd, mu = c.momentum, keep = c.keep, neg_lr = c.neg_lr;
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i] * sign;
    if (kDecay) g = g + p[i] * wd;
    if (kMomentum) {
      const T b = kFresh ? g : buf[i] * mu + g * keep;
      buf[i] = b;
      g = kNesterov ? g + b * mu : b;
    }
    p[i] = p[i] + g * neg_lr;
  }
}

// NaN wins, as numpy.maximum (the per-parameter path's amsgrad).
template <typename T>
inline T nan_max(T a, T b) {
  return (a > b || a != a) ? a : b;
}

// θ ← shrink·θ;  g ← sign·∇ (+ wd·θ);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
// v̂ ← max(v̂, v) (AMSGrad);  θ ← θ + (−lr/(1 − β1^t))·m / (√v̂ / √(1 − β2^t) + eps).
template <typename T, bool kL2, bool kAmsgrad>
void adam_loop(int64_t n, T* __restrict p, const T* __restrict grad, T* __restrict m,
               T* __restrict v, T* __restrict vmax, const AdamConsts<T>& c) {
  const T sign = c.sign, shrink = c.shrink, wd = c.wd, b1 = c.beta1, k1 = c.keep1,
          b2 = c.beta2, k2 = c.keep2, bc2 = c.bc2_sqrt, eps = c.eps, step = c.neg_step_size;
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i] * sign;
    const T theta = p[i] * shrink;
    if (kL2) g = g + theta * wd;
    const T mi = m[i] * b1 + g * k1;
    const T vi = v[i] * b2 + (g * g) * k2;
    m[i] = mi;
    v[i] = vi;
    T vhat = vi;
    if (kAmsgrad) {
      vhat = nan_max(vmax[i], vi);
      vmax[i] = vhat;
    }
    const T denom = std::sqrt(vhat) / bc2 + eps;
    p[i] = theta + (mi / denom) * step;
  }
}

template <typename T>
void sgd_run(int64_t n, T* p, const T* grad, T* buf, const SgdConsts<T>& c, bool decay,
             bool momentum, bool fresh, bool nesterov) {
  if (!momentum) {
    if (decay) return sgd_loop<T, true, false, false, false>(n, p, grad, buf, c);
    return sgd_loop<T, false, false, false, false>(n, p, grad, buf, c);
  }
  // Nesterov with a fresh buffer is g + μ·g: kept as its own loop, like the others.
  if (decay) {
    if (fresh)
      return nesterov ? sgd_loop<T, true, true, true, true>(n, p, grad, buf, c)
                      : sgd_loop<T, true, true, true, false>(n, p, grad, buf, c);
    return nesterov ? sgd_loop<T, true, true, false, true>(n, p, grad, buf, c)
                    : sgd_loop<T, true, true, false, false>(n, p, grad, buf, c);
  }
  if (fresh)
    return nesterov ? sgd_loop<T, false, true, true, true>(n, p, grad, buf, c)
                    : sgd_loop<T, false, true, true, false>(n, p, grad, buf, c);
  return nesterov ? sgd_loop<T, false, true, false, true>(n, p, grad, buf, c)
                  : sgd_loop<T, false, true, false, false>(n, p, grad, buf, c);
}

template <typename T>
void adam_run(int64_t n, T* p, const T* grad, T* m, T* v, T* vmax, const AdamConsts<T>& c,
              bool l2, bool amsgrad) {
  if (l2)
    return amsgrad ? adam_loop<T, true, true>(n, p, grad, m, v, vmax, c)
                   : adam_loop<T, true, false>(n, p, grad, m, v, vmax, c);
  return amsgrad ? adam_loop<T, false, true>(n, p, grad, m, v, vmax, c)
                 : adam_loop<T, false, false>(n, p, grad, m, v, vmax, c);
}

}  // namespace DLK_OPTIM_NS
}  // namespace dlk::cpu
