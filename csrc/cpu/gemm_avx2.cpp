// AVX2 + FMA micro-kernels (8 floats / 4 doubles per register, 16 registers).
// 6 x 16 fp32 tile = 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
#include "cpu/bias_activation.h"
#include "cpu/gemm_kernels.h"
#include "cpu/gemm_simd_kernel.h"
#include "cpu/rnn_math.h"
#include "cpu/simd_traits.h"
#include "cpu/vec_math_avx2.h"

namespace dlk::cpu {

GemmMicroKernel<float> gemm_ukernel_avx2_f32() {
  return {
      simd_ukernel_6x2<simd::F32x8>,
      6,
      16,
      256,
      512,
      1536,
      bias_activation_run<avx2::Math, float>,
      simd_ukernel_6x2_unpacked<simd::F32x8, false>,
      simd_ukernel_6x2_unpacked<simd::F32x8, true>,
      {simd_ukernel_2x2_unpacked<simd::F32x8, true>, simd_ukernel_4x2_unpacked<simd::F32x8, true>},
      {2, 4}};
}
GemmMicroKernel<double> gemm_ukernel_avx2_f64() {
  return {
      simd_ukernel_6x2<simd::F64x4>,
      6,
      8,
      256,
      256,
      1536,
      bias_activation_run<ScalarMath, double>,
      simd_ukernel_6x2_unpacked<simd::F64x4, false>,
      simd_ukernel_6x2_unpacked<simd::F64x4, true>,
      {simd_ukernel_2x2_unpacked<simd::F64x4, true>, simd_ukernel_4x2_unpacked<simd::F64x4, true>},
      {2, 4}};
}

}  // namespace dlk::cpu
