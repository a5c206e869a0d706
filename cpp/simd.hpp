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

// Transposes a 4x4 tile: rows r[0..3] become columns.
inline void transpose4(V& r0, V& r1, V& r2, V& r3) {
  const __m256d t0 = _mm256_unpacklo_pd(r0.v, r1.v);
  const __m256d t1 = _mm256_unpackhi_pd(r0.v, r1.v);
  const __m256d t2 = _mm256_unpacklo_pd(r2.v, r3.v);
  const __m256d t3 = _mm256_unpackhi_pd(r2.v, r3.v);
  r0.v = _mm256_permute2f128_pd(t0, t2, 0x20);
  r1.v = _mm256_permute2f128_pd(t1, t3, 0x20);
  r2.v = _mm256_permute2f128_pd(t0, t2, 0x31);
  r3.v = _mm256_permute2f128_pd(t1, t3, 0x31);
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
inline void transpose4(V& r0, V& r1, V& r2, V& r3) {
  V* r[4] = {&r0, &r1, &r2, &r3};
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j) std::swap(r[i]->v[j], r[j]->v[i]);
}
inline void store_stream(double* p, V a) { store(p, a); }
inline void stream_fence() {}

#endif

}  // namespace simd
}  // inline namespace QUARTZ_ISA
}  // namespace quartz
