// AVX-512 micro-kernels (16 floats / 8 doubles per register, 32 registers).
// 12 x 32 fp32 tile = 24 accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers, the
// register budget of BLIS's Skylake-X sgemm kernel, transposed for row-major C.
#include "cpu/bias_activation.h"
#include "cpu/gemm_kernels.h"
#include "cpu/gemm_simd_kernel.h"
#include "cpu/rnn_math.h"
#include "cpu/simd_traits.h"
#include "cpu/vec_math_avx512.h"

namespace dlk::cpu {

GemmMicroKernel<float> gemm_ukernel_avx512_f32() {
  return {simd_ukernel_12x2<simd::F32x16>,
          12,
          32,
          384,
          480,
          1536,
          bias_activation_run<avx512::Math, float>,
          simd_ukernel_12x2_unpacked<simd::F32x16, false>,
          simd_ukernel_12x2_unpacked<simd::F32x16, true>,
          {simd_ukernel_4x2_unpacked<simd::F32x16, true>,
           simd_ukernel_8x2_unpacked<simd::F32x16, true>},
          {4, 8}};
}
GemmMicroKernel<double> gemm_ukernel_avx512_f64() {
  return {
      simd_ukernel_12x2<simd::F64x8>,
      12,
      16,
      256,
      480,
      1536,
      bias_activation_run<ScalarMath, double>,
      simd_ukernel_12x2_unpacked<simd::F64x8, false>,
      simd_ukernel_12x2_unpacked<simd::F64x8, true>,
      {simd_ukernel_4x2_unpacked<simd::F64x8, true>, simd_ukernel_8x2_unpacked<simd::F64x8, true>},
      {4, 8}};
}

}  // namespace dlk::cpu
