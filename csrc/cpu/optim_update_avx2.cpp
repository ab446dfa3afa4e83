// The fused optimiser update loops (optim_update_loops.h) compiled for AVX2: 8 float / 4 double
// lanes. Called only when the CPU has AVX2 (optim_update.cpp). Like optim_update.cpp this file
// is compiled with -ffp-contract=off: -mfma is on for *_avx2.cpp files, and a fused multiply-add
// would round differently from the per-parameter path.
#define DLK_OPTIM_NS optim_avx2
#include "cpu/optim_update_loops.h"

namespace dlk::cpu::optim_avx2 {

template void sgd_run<float>(int64_t, float*, const float*, float*, const SgdConsts<float>&,
                             bool, bool, bool, bool);
template void sgd_run<double>(int64_t, double*, const double*, double*,
                              const SgdConsts<double>&, bool, bool, bool, bool);
template void adam_run<float>(int64_t, float*, const float*, float*, float*, float*,
                              const AdamConsts<float>&, bool, bool);
template void adam_run<double>(int64_t, double*, const double*, double*, double*, double*,
                               const AdamConsts<double>&, bool, bool);

}  // namespace dlk::cpu::optim_avx2
