// The body of a register-tile micro-kernel, instantiated by gemm_simd_kernel.h with
// DLK_UKERNEL_NAME_UNPACKED and DLK_ROWS (an X-macro over the tile's rows) defined, and
// DLK_UKERNEL_NAME and DLK_MR (the row count) where the packed form is wanted too.
// No include guard: included once per tile shape.

// The tile with op(A) and B read where they lie: row k of B at b + k * ldb (the tile's 2 * lanes
// columns contiguous) and element (i, k) of op(A) at a[i * lda + k] (TA false: A's rows) or
// a[k * lda + i] (TA true: A transposed). Small products call it on A and B in place, where
// packing both cost about a fifth of a 64x64x64 product's time; the packed micro-kernel below is
// the same loop on packed slivers, whose layout is exactly TA with lda = MR and ldb = 2 * lanes.
template <typename V, bool TA>
void DLK_UKERNEL_NAME_UNPACKED(int64_t kc, const typename V::T* a, int64_t lda,
                               const typename V::T* b, int64_t ldb, typename V::T* c, int64_t ldc,
                               typename V::T alpha, typename V::T beta) {
  using T = typename V::T;
  using vec = typename V::vec;
  constexpr int L = V::lanes;
#define DLK_DECL(i) vec c##i##0 = V::zero(), c##i##1 = V::zero();
  DLK_ROWS(DLK_DECL)
#undef DLK_DECL
  for (int64_t k = 0; k < kc; ++k) {
    const vec b0 = V::loadu(b), b1 = V::loadu(b + L);
#define DLK_STEP(i)                                               \
  {                                                               \
    const vec ai = V::set1(TA ? a[k * lda + i] : a[i * lda + k]); \
    c##i##0 = V::fma(ai, b0, c##i##0);                            \
    c##i##1 = V::fma(ai, b1, c##i##1);                            \
  }
    DLK_ROWS(DLK_STEP)
#undef DLK_STEP
    b += ldb;
  }
  const vec va = V::set1(alpha);
  if (beta == T(0)) {
#define DLK_STORE(i)                           \
  V::storeu(c + i * ldc, V::mul(va, c##i##0)); \
  V::storeu(c + i * ldc + L, V::mul(va, c##i##1));
    DLK_ROWS(DLK_STORE)
#undef DLK_STORE
  } else {
    const vec vb = V::set1(beta);
#define DLK_UPDATE(i)                                                             \
  V::storeu(c + i * ldc, V::fma(va, c##i##0, V::mul(vb, V::loadu(c + i * ldc)))); \
  V::storeu(c + i * ldc + L, V::fma(va, c##i##1, V::mul(vb, V::loadu(c + i * ldc + L))));
    DLK_ROWS(DLK_UPDATE)
#undef DLK_UPDATE
  }
}

#if defined(DLK_UKERNEL_NAME)
// The micro-kernel on packed slivers (gemm_kernels.h): an A sliver stores MR values per k, a
// B sliver 2 * lanes values per k. Both strides are constants once this call is inlined.
template <typename V>
void DLK_UKERNEL_NAME(int64_t kc, const typename V::T* a, const typename V::T* b, typename V::T* c,
                      int64_t ldc, typename V::T alpha, typename V::T beta) {
  DLK_UKERNEL_NAME_UNPACKED<V, true>(kc, a, DLK_MR, b, 2 * V::lanes, c, ldc, alpha, beta);
}
#endif
