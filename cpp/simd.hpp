// A 4-wide double vector with the few operations the lane kernels need: AVX2 + FMA
// intrinsics in the AVX2 translation unit (isa.hpp), plain loops in the baseline one (same
// results: every operation is IEEE-exact per element, and fma is a true fused multiply-add
// either way; without hardware FMA, std::fma is libm's exact software version).
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <limits>

#include "isa.hpp"

#ifdef QUARTZ_ISA_AVX2
#include <immintrin.h>
#endif

namespace quartz {
inline namespace QUARTZ_ISA {
namespace simd {

#ifdef QUARTZ_ISA_AVX2

struct V {
  __m256d v;
};
inline V load(const double* p) { return {_mm256_loadu_pd(p)}; }
inline void store(double* p, V a) { _mm256_storeu_pd(p, a.v); }
inline V set1(double x) { return {_mm256_set1_pd(x)}; }
inline V operator+(V a, V b) { return {_mm256_add_pd(a.v, b.v)}; }
inline V operator-(V a, V b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline V operator*(V a, V b) { return {_mm256_mul_pd(a.v, b.v)}; }
inline V operator/(V a, V b) { return {_mm256_div_pd(a.v, b.v)}; }
inline V fma(V a, V b, V c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
inline V sqrt(V a) { return {_mm256_sqrt_pd(a.v)}; }
// Masks are all-ones lanes, kept as V.
inline V lt(V a, V b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_LT_OQ)}; }
inline V gt(V a, V b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_GT_OQ)}; }
inline V unordered(V a, V b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_UNORD_Q)}; }
// mask ? a : 0.0 and mask ? 0.0 : a, as logic operations (a blend would compete with the
// multiplies for two ports; logic runs on all four).
inline V keep(V mask, V a) { return {_mm256_and_pd(mask.v, a.v)}; }
inline V drop(V mask, V a) { return {_mm256_andnot_pd(mask.v, a.v)}; }
inline V max(V a, V b) { return {_mm256_max_pd(a.v, b.v)}; }
inline V min(V a, V b) { return {_mm256_min_pd(a.v, b.v)}; }
inline V mask_or(V a, V b) { return {_mm256_or_pd(a.v, b.v)}; }
inline bool any(V mask) { return _mm256_movemask_pd(mask.v) != 0; }

// The 4x4 tile whose rows are the 4 doubles at a, b, c and d, transposed: r0..r3 are its
// columns. Half-rows go straight from memory into each register's upper half
// (vinsertf128), so the only shuffles are four unpacks: a lane-crossing permute per column
// would all queue on one port.
inline void load_transposed(const double* a, const double* b, const double* c, const double* d,
                            V& r0, V& r1, V& r2, V& r3) {
  const __m256d ac01 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(a)),
                                            _mm_loadu_pd(c), 1);
  const __m256d bd01 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(b)),
                                            _mm_loadu_pd(d), 1);
  const __m256d ac23 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(a + 2)),
                                            _mm_loadu_pd(c + 2), 1);
  const __m256d bd23 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(b + 2)),
                                            _mm_loadu_pd(d + 2), 1);
  r0.v = _mm256_unpacklo_pd(ac01, bd01);
  r1.v = _mm256_unpackhi_pd(ac01, bd01);
  r2.v = _mm256_unpacklo_pd(ac23, bd23);
  r3.v = _mm256_unpackhi_pd(ac23, bd23);
}
// A store that bypasses the cache when `p` is 32-byte aligned (outputs are written once).
inline void store_stream(double* p, V a) {
  if ((reinterpret_cast<std::uintptr_t>(p) & 31) == 0) _mm256_stream_pd(p, a.v);
  else _mm256_storeu_pd(p, a.v);
}
inline void stream_fence() { _mm_sfence(); }

#else

struct V {
  double v[4];
};
inline V load(const double* p) { return {{p[0], p[1], p[2], p[3]}}; }
inline void store(double* p, V a) {
  for (int i = 0; i < 4; ++i) p[i] = a.v[i];
}
inline V set1(double x) { return {{x, x, x, x}}; }
#define QUARTZ_SIMD_BINOP(op)                                  \
  inline V operator op(V a, V b) {                             \
    V r;                                                       \
    for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] op b.v[i];     \
    return r;                                                  \
  }
QUARTZ_SIMD_BINOP(+)
QUARTZ_SIMD_BINOP(-)
QUARTZ_SIMD_BINOP(*)
QUARTZ_SIMD_BINOP(/)
#undef QUARTZ_SIMD_BINOP
inline V fma(V a, V b, V c) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
  return r;
}
inline V sqrt(V a) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = std::sqrt(a.v[i]);
  return r;
}
inline double mask_of(bool b) { return b ? 1.0 : 0.0; }
inline V lt(V a, V b) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = mask_of(a.v[i] < b.v[i]);
  return r;
}
inline V gt(V a, V b) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = mask_of(a.v[i] > b.v[i]);
  return r;
}
inline V unordered(V a, V b) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = mask_of(a.v[i] != a.v[i] || b.v[i] != b.v[i]);
  return r;
}
inline V keep(V mask, V a) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = mask.v[i] != 0.0 ? a.v[i] : 0.0;
  return r;
}
inline V drop(V mask, V a) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = mask.v[i] != 0.0 ? 0.0 : a.v[i];
  return r;
}

inline V max(V a, V b) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];
  return r;
}
inline V min(V a, V b) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i];
  return r;
}
inline V mask_or(V a, V b) {
  V r;
  for (int i = 0; i < 4; ++i) r.v[i] = (a.v[i] != 0.0 || b.v[i] != 0.0) ? 1.0 : 0.0;
  return r;
}
inline bool any(V mask) {
  for (int i = 0; i < 4; ++i)
    if (mask.v[i] != 0.0) return true;
  return false;
}
inline void load_transposed(const double* a, const double* b, const double* c, const double* d,
                            V& r0, V& r1, V& r2, V& r3) {
  const double* row[4] = {a, b, c, d};
  V* col[4] = {&r0, &r1, &r2, &r3};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) col[j]->v[i] = row[i][j];
}
inline void store_stream(double* p, V a) { store(p, a); }
inline void stream_fence() {}

#endif

}  // namespace simd
}  // inline namespace QUARTZ_ISA
}  // namespace quartz
