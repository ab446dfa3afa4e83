// Ceilings of this machine, measured, for benchmarks to report "fraction of peak" against.
#pragma once

namespace dlk::cpu {

// fp32 FMA throughput (GFLOP/s) of `threads` threads running independent FMA chains on the
// widest vectors this CPU has: 24 accumulators per thread so latency never limits, registers
// only so memory never limits. The highest rate any fp32 kernel can reach here.
double fma_peak_gflops(int threads, double seconds);

// Memory bandwidth (GB/s) of the STREAM triad a[i] = b[i] + s * c[i] over arrays far larger than
// the caches, counting 3 streams (2 read, 1 written; the write-allocate read is not counted).
double triad_bandwidth_gbps(int threads, double seconds);

#if defined(DLK_X86)
double fma_peak_chain_avx512(long iterations);  // flops done; in machine_peak_avx512.cpp
double fma_peak_chain_avx2(long iterations);    // in machine_peak_avx2.cpp
#endif

}  // namespace dlk::cpu
