// 2-D max and average pooling on the CPU, NCHW, C-contiguous, float32 and float64.
//
//   max:  y[n, c, oh, ow] = max over the window of x[n, c, oh*sh - ph + i, ow*sw - pw + j],
//         0 <= i < kh, 0 <= j < kw, taps outside the image ignored (padding is -inf);
//         argmax = ih * W + iw of the first maximum in row-major scan order (a NaN wins, as
//         in PyTorch). Backward: gx[argmax] += gy.
//   avg:  y = (sum over the window's taps inside the image) / divisor, divisor = kh * kw when
//         count_include_pad, else the number of taps inside the image. Backward spreads
//         gy / divisor over the same taps.
// Output size floor((H + 2 ph - kh) / sh) + 1 (PyTorch's floor mode); ph <= kh / 2, so every
// window holds at least one tap inside the image. Pointers are trusted: the bindings validate.
#pragma once

#include <cstdint>
#include <string>

namespace dlk::cpu {

struct Pool2dShape {
  int64_t N, C, H, W;
  int64_t KH, KW, SH, SW, PH, PW;
  int64_t OH, OW;
};

// Fast: the per-plane rung, AVX-512 build when the CPU has it; Portable: the same rung's
// baseline-x86-64 build (what a CPU without AVX-512 runs), forced so tests cover it here too;
// Avx2: Fast's choice on an AVX2 CPU without AVX-512 (its 2x2 float32 max-pool), forced likewise.
enum class Pool2dRung { Auto, Reference, Fast, Portable, Avx2 };
void set_pool2d_rung(Pool2dRung rung);
Pool2dRung pool2d_rung();
const char* pool2d_rung_name(Pool2dRung rung);
Pool2dRung pool2d_rung_from_name(const std::string& name);

template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* argmax);

// Returns the number of argmax entries outside [0, H*W), which were skipped (the binding then
// raises); gx is overwritten.
template <typename T>
int64_t max_pool2d_backward(const Pool2dShape& s, const T* gy, const int64_t* argmax, T* gx);

template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y, bool count_include_pad);

template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, const T* gy, T* gx, bool count_include_pad);

}  // namespace dlk::cpu
