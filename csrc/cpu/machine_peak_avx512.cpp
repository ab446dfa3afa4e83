// The FMA-loop ceiling on avx512.
#include "cpu/machine_peak.h"
#include "cpu/machine_peak_chain.h"

namespace dlk::cpu {

double fma_peak_chain_avx512(long iterations) { return fma_chains<simd::F32x16>(iterations); }

}  // namespace dlk::cpu
