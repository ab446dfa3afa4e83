// Fused softmax cross-entropy and log-softmax over the last axis, float32 and float64.
// Pointers are trusted (shapes checked at the binding boundary); target values are checked here,
// because they are data: a target outside [0, C) other than ignore_index is a ValueError.
#pragma once

#include <cstdint>
#include <string>

namespace dlk::cpu {

enum class XentRung { Auto, Reference, Avx512 };
void set_softmax_xent_rung(
    XentRung rung);  // tests force a rung; Avx512 on a CPU without it: ValueError
XentRung softmax_xent_rung_resolved(bool is_float32);
XentRung xent_rung_from_name(const std::string& name);
const char* xent_rung_name(XentRung rung);

// Throws ValueError naming the first bad target. Returns the number of non-ignored targets.
int64_t check_xent_targets(int64_t N, int64_t C, const int64_t* targets, int64_t ignore_index);

// Per row i (rows with targets[i] == ignore_index get loss 0, lse still written):
//   lse_i  = log sum_j exp(x_ij)                              (max-shifted)
//   loss_i = (1 - eps) (lse_i - x_i,t) + eps (lse_i - mean_j x_ij)
template <typename T>
void softmax_xent_forward(int64_t N, int64_t C, const T* logits, const int64_t* targets,
                          int64_t ignore_index, double eps, T* loss, T* lse);

// dx_ij = s_i (exp(x_ij - lse_i) - eps / C - (1 - eps) [j == t_i]); s_i = scale * (row_scale ?
// row_scale[i] : 1), and 0 on ignored rows. One pass: read x, write dx.
template <typename T>
void softmax_xent_backward(int64_t N, int64_t C, const T* logits, const int64_t* targets,
                           const T* lse, int64_t ignore_index, double eps, const T* row_scale,
                           double scale, T* dlogits);

// y = x - logsumexp(x) per row of C; gx = gy - exp(y) * sum_j gy_j.
template <typename T>
void log_softmax_forward(int64_t N, int64_t C, const T* x, T* y);
template <typename T>
void log_softmax_backward(int64_t N, int64_t C, const T* gy, const T* y, T* gx);

}  // namespace dlk::cpu
