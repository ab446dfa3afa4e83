// The 2-D convolution's sizes, shared by the CPU (csrc/cpu/conv2d.h) and CUDA
// (csrc/cuda/kernels.h) kernels so the two families name every size alike: NCHW input,
// weight O x (C / groups) x KH x KW, explicit zero padding per side, PyTorch's floor output size
//   OH = (H + pt + pb - dh * (KH - 1) - 1) / sh + 1   (OW likewise).
// The bindings fill it in and validate it; the kernels trust it.
#pragma once

#include <cstdint>

namespace dlk {

struct Conv2dShape {
  int64_t N, C, H, W;      // input
  int64_t O, KH, KW;       // weight is O x (C / groups) x KH x KW
  int64_t OH, OW;          // output
  int64_t sh, sw;          // stride
  int64_t pt, pb, pl, pr;  // zero padding: top, bottom, left, right
  int64_t dh, dw;          // dilation
  int64_t groups;
};

}  // namespace dlk
