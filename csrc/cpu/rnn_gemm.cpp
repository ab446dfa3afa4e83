// Routing of the recurrent layers' GEMMs; see rnn_gemm.h.
#include "cpu/rnn_gemm.h"

#include <atomic>
#include <type_traits>
#include <vector>

#include "common/check.h"

#include "common/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/rnn_small_gemm.h"

namespace dlk::cpu {

// What Auto picks for the per-step recurrent products, from bench/cases_xent_rnn.py.
constexpr RnnGemmPath kAutoRecurrent = RnnGemmPath::Packed;

// rnn_gemm_avx512.cpp: the same small loops compiled for AVX-512.
bool rnn_small_gemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                           float* C, int64_t ldc);

// rnn_packed_avx512.cpp
int64_t rnn_packed_size(int64_t K, int64_t N);
void rnn_pack_b_avx512(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb, float* Bp);
void rnn_packed_gemm_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t rs,
                            int64_t cs, const float* Bp, float beta, float* C, int64_t ldc);

namespace {
std::atomic<int> g_path{static_cast<int>(RnnGemmPath::Auto)};

float* pack_buffer(int slot, int64_t n) {
  thread_local std::vector<float> pool[8];
  if (static_cast<int64_t>(pool[slot].size()) < n) pool[slot].resize(static_cast<size_t>(n));
  return pool[slot].data();
}

bool packed_on(RnnGemmPath want_auto) {
  if (best_isa() != Isa::Avx512) return false;
  const auto p = static_cast<RnnGemmPath>(g_path.load());
  return (p == RnnGemmPath::Auto ? want_auto : p) == RnnGemmPath::Packed;
}
}  // namespace

void set_rnn_gemm_path(RnnGemmPath path) {
  DLK_CHECK(path != RnnGemmPath::Packed || best_isa() == Isa::Avx512,
            "rnn gemm path 'packed' needs AVX-512");
  g_path.store(static_cast<int>(path));
}
RnnGemmPath rnn_gemm_path() { return static_cast<RnnGemmPath>(g_path.load()); }
RnnGemmPath rnn_gemm_path_from_name(const std::string& name) {
  if (name == "auto") return RnnGemmPath::Auto;
  if (name == "library") return RnnGemmPath::Library;
  if (name == "packed") return RnnGemmPath::Packed;
  fail("rnn gemm path: expected 'auto', 'library' or 'packed', got '", name, "'");
}

template <typename T>
RecurrentWeight<T>::RecurrentWeight(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb,
                                    int slot, int64_t M, int64_t uses)
    : tb_(tb), K_(K), N_(N), ldb_(ldb), B_(B) {
  if constexpr (std::is_same_v<T, float>) {
    // Packing costs about one pass over B: worth it only when it is reused by big-enough products.
    if (packed_on(kAutoRecurrent) && K > 0 && N > 0 && M > 4 && uses >= 2) {
      float* buf = pack_buffer(slot, rnn_packed_size(K, N));
      rnn_pack_b_avx512(tb, K, N, B, ldb, buf);
      packed_ = buf;
    }
  }
}

template <typename T>
void RecurrentWeight<T>::multiply(int64_t M, const T* A, int64_t lda, T beta, T* C,
                                  int64_t ldc) const {
  if constexpr (std::is_same_v<T, float>) {
    if (packed_ && M > 4) return rnn_packed_gemm_avx512(M, N_, K_, A, lda, 1, packed_, beta, C, ldc);
  }
  rnn_gemm<T>(false, tb_, M, N_, K_, T(1), A, lda, B_, ldb_, beta, C, ldc);
}

template class RecurrentWeight<float>;
template class RecurrentWeight<double>;

bool rnn_gemm_is_small(bool ta, bool tb, int64_t M, int64_t N, int64_t K) {
  return (!ta && M <= 4) || (ta && !tb && K <= 4);
}

template <typename T>
void rnn_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (rnn_gemm_is_small(ta, tb, M, N, K)) {
    if constexpr (std::is_same_v<T, float>) {
      if (best_isa() == Isa::Avx512 &&
          rnn_small_gemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    }
    if (small_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  }
  gemm<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void rnn_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                              const float*, int64_t, float, float*, int64_t);
template void rnn_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                               int64_t, const double*, int64_t, double, double*, int64_t);

}  // namespace dlk::cpu
