// What the CPU we run on can execute, read once from CPUID (and the OS's XSAVE state).
#pragma once

#include <string>

namespace dlk {

enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2 };

bool cpu_has_avx2_fma();
bool cpu_has_avx512();  // F, BW, VL, DQ: what the *_avx512.cpp files are compiled for
Isa best_isa();         // the widest of the above that this build compiled and the CPU runs
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);
Isa isa_from_name(const std::string& name);  // "portable" | "avx2" | "avx512", else ValueError

}  // namespace dlk
