// The FMA-loop ceiling on avx2.
#include "cpu/machine_peak.h"
#include "cpu/machine_peak_chain.h"

namespace dlk::cpu {

double fma_peak_chain_avx2(long iterations) { return fma_chains<simd::F32x8>(iterations); }

}  // namespace dlk::cpu
