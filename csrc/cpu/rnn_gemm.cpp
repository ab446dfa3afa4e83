// W_hh packed once per sequence for the recurrent layers; see rnn_gemm.h.
#include "cpu/rnn_gemm.h"

#include <algorithm>
#include <atomic>

#include "common/check.h"

namespace dlk::cpu {

namespace {
std::atomic<int> g_path{static_cast<int>(RnnGemmPath::Auto)};
}

void set_rnn_gemm_path(RnnGemmPath path) { g_path.store(static_cast<int>(path)); }

RnnGemmPath rnn_gemm_path_from_name(const std::string& name) {
  if (name == "auto") return RnnGemmPath::Auto;
  if (name == "library") return RnnGemmPath::Library;
  if (name == "packed") return RnnGemmPath::Packed;
  if (name == "rows") return RnnGemmPath::Rows;
  if (name == "sweep") return RnnGemmPath::Sweep;
  fail("rnn gemm path: expected 'auto', 'library', 'packed', 'rows' or 'sweep', got '", name, "'");
}

bool rnn_sweep_split() {
  const auto p = static_cast<RnnGemmPath>(g_path.load());
  return p == RnnGemmPath::Sweep || p == RnnGemmPath::Auto;
}

int rnn_step_row_blocks(int64_t rows, int64_t flops_per_row, bool packed_weight) {
  if (!packed_weight || static_cast<RnnGemmPath>(g_path.load()) == RnnGemmPath::Packed) return 1;
  // At least 12 rows (two AVX2 tiles) and ~2 MFLOP (~20 us) per block.
  const int64_t by_rows = rows / 12, by_work = rows * flops_per_row / 2000000;
  return static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>({threads_for_kernel(), by_rows, by_work})));
}

template <typename T>
RecurrentWeight<T>::RecurrentWeight(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb,
                                    int64_t uses)
    : tb_(tb), K_(K), N_(N), ldb_(ldb), B_(B) {
  // Packing costs about one product's worth of B traffic: worth it from the second use on.
  if (static_cast<RnnGemmPath>(g_path.load()) != RnnGemmPath::Library && uses >= 2 && K > 0 &&
      N > 0)
    packed_ = std::make_unique<PackedB<T>>(tb, K, N, B, ldb);
}

template <typename T>
void RecurrentWeight<T>::multiply(int64_t M, const T* A, int64_t lda, T beta, T* C,
                                  int64_t ldc) const {
  if (packed_) return gemm_packed<T>(false, M, T(1), A, lda, *packed_, beta, C, ldc);
  gemm<T>(false, tb_, M, N_, K_, T(1), A, lda, B_, ldb_, beta, C, ldc);
}

template class RecurrentWeight<float>;
template class RecurrentWeight<double>;

}  // namespace dlk::cpu
