// Attention of one query per row over that row's keys, fused: the step of an attentional
// decoder (Luong, Pham & Manning 2015's dot / general scores; "general" projects the keys once
// per source, so its step is a dot score against the projected keys). Per row n:
//
//   e_s   = q · k_s                        (s < S; masked positions: e_s = -inf)
//   w_s   = exp(e_s - max e) / sum_s' exp(e_s' - max e)
//   ctx   = sum_s w_s v_s                  (every position, masked ones with weight 0)
//
// and the backward of both outputs (ctx, w):
//
//   dw_s  = g_ctx · v_s + g_w_s
//   de_s  = w_s (dw_s - sum_s' w_s' dw_s')  (0 at masked positions)
//   g_q   = sum_s de_s k_s,   g_k_s = de_s q,   g_v_s = w_s g_ctx
//
// The composed form (broadcast products, sums, masked_fill, softmax) makes ~8 passes over
// (N, S, D) arrays and as many autograd nodes per decoder step; this is one pass per row, with
// the softmax in double. NaN and inf follow the composed form exactly: an all-masked row is
// NaN, a NaN anywhere in a row's unmasked scores makes the row NaN, and values at masked
// positions still enter the context with weight 0 (0 * NaN = NaN), as in PyTorch.
#pragma once

#include <cstdint>

namespace dlk::cpu {

// q (N, D), k (N, S, D), v (N, S, Dv), mask (N, S) (nonzero: may attend; nullptr: all) ->
// ctx (N, Dv), w (N, S).
template <typename T>
void attention_forward(int64_t N, int64_t S, int64_t D, int64_t Dv, const T* q, const T* k,
                       const T* v, const uint8_t* mask, T* ctx, T* w);

// g_ctx (N, Dv), g_w (N, S) or nullptr, and the forward's inputs and w -> g_q (N, D),
// g_k (N, S, D), g_v (N, S, Dv).
template <typename T>
void attention_backward(int64_t N, int64_t S, int64_t D, int64_t Dv, const T* g_ctx, const T* g_w,
                        const T* q, const T* k, const T* v, const uint8_t* mask, const T* w, T* g_q,
                        T* g_k, T* g_v);

}  // namespace dlk::cpu
