// Build and run-time configuration: threads, instruction sets, versions.
#include <pybind11/stl.h>

#include "common/cpu_features.h"
#include "common/malloc_tuning.h"
#include "common/parallel.h"
#include "cpu/machine_peak.h"
#include "python/cpu_bindings.h"

namespace py = pybind11;

namespace dlk {

void bind_config(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Threads every CPU kernel uses from now on (starts from OMP_NUM_THREADS).");
  m.def("set_follow_free_cores", &set_follow_free_cores, py::arg("on"),
        "Use fewer kernel threads while other processes hold cores (default on).");
  m.def("get_follow_free_cores", &follow_free_cores);
  m.def("get_num_threads", &num_threads);
  m.def("set_deterministic_algorithms", &set_deterministic_algorithms, py::arg("on"),
        "Make every CPU kernel's result bitwise independent of the thread count (at a cost in "
        "conv2d grad-weight; see README).");
  m.def("get_deterministic_algorithms", &deterministic_algorithms);
  m.def(
      "fma_peak_gflops",
      [](int threads, double seconds) {
        py::gil_scoped_release release;
        return cpu::fma_peak_gflops(threads, seconds);
      },
      py::arg("threads") = 1, py::arg("seconds") = 0.5,
      "Measured fp32 FMA-loop ceiling in GFLOP/s (widest SIMD path; 0 without AVX2).");
  m.def(
      "triad_bandwidth_gbps",
      [](int threads, double seconds) {
        py::gil_scoped_release release;
        return cpu::triad_bandwidth_gbps(threads, seconds);
      },
      py::arg("threads") = 1, py::arg("seconds") = 0.5,
      "Measured STREAM-triad memory bandwidth in GB/s.");
  m.def("build_info", []() {
    py::dict d;
    d["version"] = DLK_VERSION;
    d["compiler"] = DLK_CXX_COMPILER;
    d["simd_compiled"] = std::string(DLK_SIMD_COMPILED);
    d["simd_selected"] = isa_name(best_isa());
    d["cpu_avx2_fma"] = cpu_has_avx2_fma();
    d["cpu_avx512"] = cpu_has_avx512();
    d["openmp_threads"] = num_threads();
    d["malloc_tuned"] = tune_malloc_for_reuse();
    d["pybind11"] = std::to_string(PYBIND11_VERSION_MAJOR) + "." +
                    std::to_string(PYBIND11_VERSION_MINOR) + "." +
                    std::to_string(PYBIND11_VERSION_PATCH);
    return d;
  });
}

}  // namespace dlk
