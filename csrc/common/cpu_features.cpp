#include "common/cpu_features.h"

#include "common/check.h"

namespace dlk {

bool cpu_has_avx2_fma() {
#if defined(DLK_X86)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if defined(DLK_X86)
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") && cpu_has_avx2_fma();
  return has;
#else
  return false;
#endif
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::Portable: return true;
    case Isa::Avx2: return cpu_has_avx2_fma();
    case Isa::Avx512: return cpu_has_avx512();
  }
  return false;
}

Isa best_isa() {
  if (cpu_has_avx512()) return Isa::Avx512;
  if (cpu_has_avx2_fma()) return Isa::Avx2;
  return Isa::Portable;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

Isa isa_from_name(const std::string& name) {
  if (name == "portable") return Isa::Portable;
  if (name == "avx2") return Isa::Avx2;
  if (name == "avx512") return Isa::Avx512;
  fail("unknown instruction-set path: expected 'portable', 'avx2' or 'avx512', got '", name, "'");
}

}  // namespace dlk
