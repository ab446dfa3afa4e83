// Fused softmax cross-entropy and log-softmax over the last axis, float32 and float64.
// Pointers are trusted (shapes checked at the binding boundary); target values are checked here,
// because they are data: a target outside [0, C) other than ignore_index is a ValueError.
#pragma once

#include <cstdint>
#include <string>

namespace dlk::cpu {

enum class XentRung { Auto, Reference, Avx2, Avx512 };
// Tests force a rung; a rung this CPU cannot run (Avx2 or Avx512): ValueError.
void set_softmax_xent_rung(XentRung rung);
XentRung softmax_xent_rung_resolved(bool is_float32);
XentRung xent_rung_from_name(const std::string& name);
const char* xent_rung_name(XentRung rung);

// Throws ValueError naming the first bad target. Returns the number of non-ignored targets.
int64_t check_xent_targets(int64_t N, int64_t C, const int64_t* targets, int64_t ignore_index);

// Per row i (rows with targets[i] == ignore_index get loss 0, lse still written):
//   lse_i  = log sum_j exp(x_ij)                              (max-shifted)
//   loss_i = (1 - eps) (lse_i - x_i,t) + eps (lse_i - mean_j x_ij)
// lse is double for float32 logits too: rounded to float32 it would be off by up to 3e-5 near
// 1000, and the backward's exp(x - lse) would carry that as its relative error.
template <typename T>
void softmax_xent_forward(int64_t N, int64_t C, const T* logits, const int64_t* targets,
                          int64_t ignore_index, double eps, T* loss, double* lse);

// dx_ij = s_i (exp(x_ij - lse_i) - eps / C - (1 - eps) [j == t_i]); s_i = scale * (row_scale ?
// row_scale[i] : 1), and 0 on ignored rows. One pass: read x, write dx.
template <typename T>
void softmax_xent_backward(int64_t N, int64_t C, const T* logits, const int64_t* targets,
                           const double* lse, int64_t ignore_index, double eps, const T* row_scale,
                           double scale, T* dlogits);

// y = x - logsumexp(x) per row of C; gx = gy - exp(y) * sum_j gy_j.
template <typename T>
void log_softmax_forward(int64_t N, int64_t C, const T* x, T* y);
template <typename T>
void log_softmax_backward(int64_t N, int64_t C, const T* gy, const T* y, T* gx);

// y = exp(x) by the float32 exp of the rung that runs now (libm in double, rounded, on the
// reference rung): what the tests hold to float64.
void softmax_xent_exp(int64_t n, const float* x, float* y);

}  // namespace dlk::cpu
