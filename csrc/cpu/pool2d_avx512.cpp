// The fast pooling rung compiled for AVX-512 (see pool2d_fast.h): the same loops, 16 float
// lanes with mask-register selects. Called only when dlk::cpu_has_avx512().
#define DLK_POOL_NS pool_avx512
#include "cpu/pool2d_fast.h"

namespace dlk::cpu::pool_avx512 {
#define DLK_POOL_INSTANTIATE(T)                                                               \
  template void max_plane<T>(const Pool2dShape&, const T*, T*, int64_t*);                     \
  template void avg_plane<T>(const Pool2dShape&, const T*, T*, bool);                         \
  template void avg_plane_backward<T>(const Pool2dShape&, const T*, T*, bool);                \
  template int64_t max_plane_backward<T>(const Pool2dShape&, const T*, const int64_t*, T*);
DLK_POOL_INSTANTIATE(float)
DLK_POOL_INSTANTIATE(double)
#undef DLK_POOL_INSTANTIATE
}  // namespace dlk::cpu::pool_avx512
