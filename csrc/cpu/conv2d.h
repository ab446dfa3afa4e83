// 2-D convolution on the CPU, NCHW, C-contiguous, float32 and float64.
//
//   y[n, o, oh, ow] = b[o] + sum_{c in group(o), kh, kw}
//                     x[n, c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw] * w[o, c - c0(o), kh, kw]
// with x read as 0 outside the image (zero padding, explicit per side), groups splitting the
// channels into `groups` independent convolutions (depthwise: groups == C).
// Backward: grad-input (the transposed convolution of gy with w), grad-weight (the correlation
// of gy with x), grad-bias (gy summed over n, oh, ow).
//
// Pointers are trusted here: the bindings validate every shape.
#pragma once

#include "cpu/activation.h"

#include <cstdint>
#include <string>

#include "common/conv2d_shape.h"

namespace dlk::cpu {

using dlk::Conv2dShape;  // common/conv2d_shape.h: the same sizes as the CUDA kernels

// floor((in + pad_lo + pad_hi - dil * (k - 1) - 1) / stride) + 1, as PyTorch; <= 0 when the
// (dilated) kernel does not fit in the padded input.
int64_t conv2d_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                           int64_t dil);

// The rungs (see conv2d.cpp's header): Auto picks the fastest one that applies to the shape.
// Winograd applies to 3x3 stride-1 undilated ungrouped convolutions (forward, and grad-input
// when every padding is <= 2); forced on any other shape it falls back to Im2col.
// Im2colPerImage is Im2col with one image per GEMM (no image blocks), kept for comparison.
// Implicit (float32, AVX2) is the forward, grad-input and grad-weight of stride-1 undilated
// ungrouped convolutions without a column matrix (conv2d_implicit_avx2.cpp); forced elsewhere
// (float64, a CPU without AVX2, other shapes, a grad-input with non-finite weights) it falls
// back to Im2col.
enum class Conv2dRung { Auto, Reference, Im2col, Winograd, Im2colPerImage, Implicit };
void set_conv2d_rung(Conv2dRung rung);
Conv2dRung conv2d_rung();
const char* conv2d_rung_name(Conv2dRung rung);
Conv2dRung conv2d_rung_from_name(const std::string& name);

// y: N x O x OH x OW, y = act(conv + bias). bias may be null. ReLU is applied as each block of
// y is written (conv + bias + ReLU in one pass over y); tanh and sigmoid in a pass after.
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y,
                    Activation act = Activation::None);

// gx: N x C x H x W, overwritten.
template <typename T>
void conv2d_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx);

// gw: O x C/groups x KH x KW, overwritten.
template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* gy, const T* x, T* gw);

// gb[o] = sum over n and the P = OH * OW positions of gy[n, o, :]; overwritten.
template <typename T>
void conv2d_backward_bias(int64_t N, int64_t O, int64_t P, const T* gy, T* gb);

// A stride-1 undilated grad-input as a forward convolution (Winograd's and the implicit rung's):
// gx = conv(gy zero-padded by KH-1-pt above and so on, w') with w'[c][o] = w[o][c] turned by
// 180 degrees. The shape of that convolution (its x is gy, its y is gx), and w' (C x O x KH x KW).
Conv2dShape grad_input_as_forward(const Conv2dShape& s);
template <typename T>
void flip_weights(const Conv2dShape& s, const T* w, T* flipped);

// The Winograd F(2x2, 3x3) rung (conv2d_winograd.cpp), for shapes the predicates accept.
bool winograd_applies(const Conv2dShape& s);
bool winograd_applies_backward_input(const Conv2dShape& s);
template <typename T>
void conv2d_forward_winograd(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y,
                             bool relu = false);
template <typename T>
void conv2d_backward_input_winograd(const Conv2dShape& s, const T* gy, const T* w, T* gx);

// The implicit-GEMM rung (conv2d_implicit_avx2.cpp); call only with AVX2 + FMA.
bool implicit_conv_applies(const Conv2dShape& s);
void conv2d_forward_implicit_avx2(const Conv2dShape& s, const float* x, const float* w,
                                  const float* bias, float* y, bool relu);
void conv2d_backward_weight_implicit_avx2(const Conv2dShape& s, const float* gy, const float* x,
                                          float* gw);
// Grad-input: also needs padding smaller than the kernel and every weight finite.
bool implicit_conv_backward_input_applies(const Conv2dShape& s, const float* w);
void conv2d_backward_input_implicit_avx2(const Conv2dShape& s, const float* gy, const float* w,
                                         float* gx);

}  // namespace dlk::cpu
