#include "common/malloc_tuning.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dlk {

bool tune_malloc_for_reuse() {
#if defined(__GLIBC__)
  static const bool applied = [] {
    const char* env = std::getenv("DLK_MALLOC_TUNING");
    if (env && std::strcmp(env, "0") == 0) return false;
    // Blocks up to 512 MiB come from the heap, and up to 1 GiB of free heap top is kept.
    return mallopt(M_MMAP_THRESHOLD, 512 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  }();
  return applied;
#else
  return false;
#endif
}

}  // namespace dlk
