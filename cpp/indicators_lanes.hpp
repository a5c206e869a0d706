// The same indicator definitions as indicators.hpp, computed for W = 8 tickers at once. A block
// of W rows is transposed to bar-major order (x[bar * W + lane]) so every step is a vector
// operation across tickers: the recurrences (Wilder, EMA) are latency-bound per ticker, and
// independent tickers side by side fill the pipeline and the SIMD lanes. Per lane, the
// operations and their order are exactly those of the row kernels, so results are identical.
#pragma once

#include <algorithm>
#include <cstdint>

#include "indicators.hpp"
#include "simd.hpp"
#include "technical_block.hpp"

namespace quartz {
inline namespace QUARTZ_ISA {
namespace ind {

using simd::V;
constexpr int kVec = 4;              // doubles per V
constexpr int W = kBlockRows;        // tickers per block
constexpr int K = W / kVec;          // V per bar

inline void nan_lanes(double* out, idx from, idx to) {
  for (idx i = from * W; i < to * W; ++i) out[i] = NaN;
}

#define QUARTZ_LANES for (int k = 0; k < K; ++k)
#define AT(ptr, bar) ((ptr) + (bar) * W + k * kVec)

inline void sma_lanes(const double* x, double* out, idx n, int period) {
  nan_lanes(out, 0, std::min<idx>(period - 1, n));
  if (n < period) return;
  const V p = simd::set1(period);
  V total[K];
  QUARTZ_LANES total[k] = simd::set1(0.0);
  for (idx i = 0; i < period - 1; ++i) QUARTZ_LANES total[k] = total[k] + simd::load(AT(x, i));
  for (idx i = period - 1; i < n; ++i)
    QUARTZ_LANES {
      total[k] = total[k] + simd::load(AT(x, i));
      simd::store(AT(out, i), total[k] / p);
      total[k] = total[k] - simd::load(AT(x, i - period + 1));
    }
}

inline void rsi_lanes(const double* x, double* out, idx n, int period) {
  nan_lanes(out, 0, std::min<idx>(period, n));
  if (n <= period) return;
  const V p1 = simd::set1(period - 1);
  const V inv = simd::set1(1.0 / period);
  const V zero = simd::set1(0.0), hundred = simd::set1(100.0), nan = simd::set1(NaN);
  V gain[K], loss[K];
  QUARTZ_LANES gain[k] = loss[k] = zero;
  // Adding an exact 0.0 leaves a sum unchanged, so the selects equal TA-Lib's branches.
  for (idx i = 1; i <= period; ++i)
    QUARTZ_LANES {
      const V d = simd::load(AT(x, i)) - simd::load(AT(x, i - 1));
      const V neg = simd::lt(d, zero);
      gain[k] = gain[k] + simd::select(neg, zero, d);
      loss[k] = loss[k] - simd::select(neg, d, zero);
    }
  QUARTZ_LANES {
    gain[k] = gain[k] * inv;
    loss[k] = loss[k] * inv;
  }
  auto emit = [&](idx i) {
    QUARTZ_LANES {
      const V s = gain[k] + loss[k];
      const V v = hundred * (gain[k] / s);
      simd::store(AT(out, i), simd::select(simd::gt(s, zero), v,
                                           simd::select(simd::ordered(s, s), zero, nan)));
    }
  };
  emit(period);
  for (idx i = period + 1; i < n; ++i) {
    QUARTZ_LANES {
      const V d = simd::load(AT(x, i)) - simd::load(AT(x, i - 1));
      const V neg = simd::lt(d, zero);
      loss[k] = (loss[k] * p1 - simd::select(neg, d, zero)) * inv;
      gain[k] = (gain[k] * p1 + simd::select(neg, zero, d)) * inv;
    }
    emit(i);
  }
}

inline void macd_lanes(const double* x, double* macd, double* sig, double* hist, idx n,
                       int fast, int slow, int signal) {
  const idx start = slow - 1;
  const idx first = start + signal - 1;
  const idx warm = std::min<idx>(first, n);
  nan_lanes(macd, 0, warm);
  nan_lanes(sig, 0, warm);
  nan_lanes(hist, 0, warm);
  if (n <= first) return;
  const V kf = simd::set1(2.0 / (fast + 1));
  const V ks = simd::set1(2.0 / (slow + 1));
  const V kg = simd::set1(2.0 / (signal + 1));
  V es[K], ef[K], seed[K], g[K];
  QUARTZ_LANES es[k] = ef[k] = simd::set1(0.0);
  for (idx i = 0; i <= start; ++i) QUARTZ_LANES es[k] = es[k] + simd::load(AT(x, i));
  for (idx i = slow - fast; i <= start; ++i) QUARTZ_LANES ef[k] = ef[k] + simd::load(AT(x, i));
  QUARTZ_LANES {
    es[k] = es[k] / simd::set1(slow);
    ef[k] = ef[k] / simd::set1(fast);
    seed[k] = ef[k] - es[k];
  }
  for (idx i = start + 1; i <= first; ++i)
    QUARTZ_LANES {
      const V xi = simd::load(AT(x, i));
      ef[k] = simd::fma(xi - ef[k], kf, ef[k]);
      es[k] = simd::fma(xi - es[k], ks, es[k]);
      seed[k] = seed[k] + (ef[k] - es[k]);
    }
  QUARTZ_LANES {
    const V m = ef[k] - es[k];
    g[k] = seed[k] / simd::set1(signal);
    simd::store(AT(macd, first), m);
    simd::store(AT(sig, first), g[k]);
    simd::store(AT(hist, first), m - g[k]);
  }
  for (idx i = first + 1; i < n; ++i)
    QUARTZ_LANES {
      const V xi = simd::load(AT(x, i));
      ef[k] = simd::fma(xi - ef[k], kf, ef[k]);
      es[k] = simd::fma(xi - es[k], ks, es[k]);
      const V m = ef[k] - es[k];
      g[k] = simd::fma(m - g[k], kg, g[k]);
      simd::store(AT(macd, i), m);
      simd::store(AT(sig, i), g[k]);
      simd::store(AT(hist, i), m - g[k]);
    }
}

// Bollinger bands; `middle` must already hold SMA(period) of x.
inline void bbands_lanes(const double* x, const double* middle, double* upper, double* lower,
                         idx n, int period, double kdev) {
  const idx warm = std::min<idx>(period - 1, n);
  nan_lanes(upper, 0, warm);
  nan_lanes(lower, 0, warm);
  if (n < period) return;
  const V inv = simd::set1(1.0 / period), zero = simd::set1(0.0), kv = simd::set1(kdev);
  V ref[K] = {}, s1[K] = {}, s2[K] = {};
  for (idx i = period - 1; i < n; ++i) {
    if ((i - (period - 1)) % kResetBars == 0) {
      QUARTZ_LANES {
        ref[k] = simd::load(AT(x, i));
        s1[k] = s2[k] = zero;
      }
      for (idx j = i - period + 1; j <= i; ++j)
        QUARTZ_LANES {
          const V d = simd::load(AT(x, j)) - ref[k];
          s1[k] = s1[k] + d;
          s2[k] = s2[k] + d * d;
        }
    } else {
      QUARTZ_LANES {
        const V dn = simd::load(AT(x, i)) - ref[k];
        const V dd = simd::load(AT(x, i - period)) - ref[k];
        s1[k] = s1[k] + (dn - dd);
        s2[k] = s2[k] + (dn * dn - dd * dd);
      }
    }
    QUARTZ_LANES {
      const V mean = s1[k] * inv;
      const V raw = s2[k] * inv - mean * mean;
      const V var = simd::select(simd::lt(zero, raw), raw, zero);  // std::max(0.0, raw)
      const V width = kv * simd::sqrt(var);
      const V mid = simd::load(AT(middle, i));
      simd::store(AT(upper, i), mid + width);
      simd::store(AT(lower, i), mid - width);
    }
  }
}

// Inputs of the lane kernels are finite (gather_rows reports NaN and inf), so plain max/min is
// exact.
template <bool IsMax>
inline V pick_extreme(V a, V b) {
  return IsMax ? simd::max(a, b) : simd::min(a, b);
}

// Rolling max/min (van Herk / Gil-Werman) of finite input. Blocks of `period` bars: the
// running extreme from each block's start (kept in registers) and the one to its end (`suf`,
// a ring of two blocks, 2 * period * W doubles, so it stays in L1).
template <bool IsMax>
void rolling_extreme_lanes(const double* x, double* out, idx n, int period, double* suf) {
  nan_lanes(out, 0, std::min<idx>(period - 1, n));
  if (n < period) return;
  V pre[K];
  for (idx b = 0; b < n; b += period) {
    const idx e = std::min<idx>(n, b + period);
    double* s = suf + ((b / period) % 2) * period * W - b * W;  // s + i * W: slot of bar i
    QUARTZ_LANES simd::store(AT(s, e - 1), simd::load(AT(x, e - 1)));
    for (idx i = e - 2; i >= b; --i)
      QUARTZ_LANES simd::store(AT(s, i), pick_extreme<IsMax>(simd::load(AT(s, i + 1)),
                                                             simd::load(AT(x, i))));
    // The block before this one, for the windows that start in it.
    const double* sp = suf + ((b / period + 1) % 2) * period * W - (b - period) * W;
    for (idx i = b; i < e; ++i) {
      QUARTZ_LANES pre[k] = i == b ? simd::load(AT(x, i))
                                   : pick_extreme<IsMax>(pre[k], simd::load(AT(x, i)));
      if (i < period - 1) continue;
      const idx j = i - period + 1;
      const double* sj = j >= b ? s : sp;
      QUARTZ_LANES simd::store(AT(out, i), pick_extreme<IsMax>(simd::load(AT(sj, j)), pre[k]));
    }
  }
}

#undef AT
#undef QUARTZ_LANES

// Row-major rows (W of them; callers repeat the last row to pad) → bar-major block, by 4x4
// tiles. Returns false if any value is NaN or infinite (the lane kernels require finite input).
inline bool gather_rows(const double* const* rows, idx n, double* block) {
  const idx n4 = n - n % kVec;
  V bad = simd::set1(0.0);
  bool finite = true;
  for (int l0 = 0; l0 < W; l0 += kVec)
    for (idx i = 0; i < n4; i += kVec) {
      V r0 = simd::load(rows[l0] + i), r1 = simd::load(rows[l0 + 1] + i);
      V r2 = simd::load(rows[l0 + 2] + i), r3 = simd::load(rows[l0 + 3] + i);
      // x - x is NaN exactly when x is NaN or infinite.
      bad = simd::mask_or(bad, simd::mask_or(simd::unordered(r0 - r0, r1 - r1),
                                             simd::unordered(r2 - r2, r3 - r3)));
      simd::transpose4(r0, r1, r2, r3);
      simd::store(block + i * W + l0, r0);
      simd::store(block + (i + 1) * W + l0, r1);
      simd::store(block + (i + 2) * W + l0, r2);
      simd::store(block + (i + 3) * W + l0, r3);
    }
  for (idx i = n4; i < n; ++i)
    for (int l = 0; l < W; ++l) {
      block[i * W + l] = rows[l][i];
      finite = finite && rows[l][i] - rows[l][i] == 0.0;
    }
  return finite && !simd::any(bad);
}

// Doubles to skip from `p` to reach a 32-byte boundary (numpy's large arrays start 16 bytes
// past one, so without this peel no store could stream).
inline idx peel_to_32(const double* p) {
  return static_cast<idx>(((32 - reinterpret_cast<std::uintptr_t>(p) % 32) % 32) / 8);
}

// Copies n doubles to `dst` with streaming stores (each output is written once and not read
// back, so it need not pass through the cache): a scalar head up to dst's 32-byte boundary,
// whole aligned vectors, a scalar tail. `src` may have any alignment.
inline void stream_copy(const double* src, double* dst, idx n) {
  const idx head = std::min(peel_to_32(dst), n);
  const idx body = head + (n - head) / kVec * kVec;
  for (idx i = 0; i < head; ++i) dst[i] = src[i];
  for (idx i = head; i < body; i += kVec) simd::store_stream(dst + i, simd::load(src + i));
  for (idx i = body; i < n; ++i) dst[i] = src[i];
}

// Bar-major block → its first `lanes` rows, which lie one after another from `dst` (streamed:
// the caller fences). The 4x4
// tiles are transposed into row-major `stage` (W * n doubles, hot in cache), which then has
// the output's layout and is streamed out as one span. Streaming row by row instead would
// leave a partly written cache line at every row's ends (a 275-bar row is 2,200 bytes), and
// without streaming every output line is read from memory before it is written.
inline void scatter_rows(const double* block, int lanes, idx n, double* dst, double* stage) {
  const idx n4 = n - n % kVec;
  for (int l0 = 0; l0 < lanes; l0 += kVec) {
    double* s = stage + l0 * n;
    for (idx i = 0; i < n4; i += kVec) {
      V r0 = simd::load(block + i * W + l0), r1 = simd::load(block + (i + 1) * W + l0);
      V r2 = simd::load(block + (i + 2) * W + l0), r3 = simd::load(block + (i + 3) * W + l0);
      simd::transpose4(r0, r1, r2, r3);
      simd::store(s + i, r0);
      simd::store(s + n + i, r1);
      simd::store(s + 2 * n + i, r2);
      simd::store(s + 3 * n + i, r3);
    }
    for (int l = l0; l < l0 + kVec; ++l)
      for (idx i = n4; i < n; ++i) stage[l * n + i] = block[i * W + l];
  }
  stream_copy(stage, dst, lanes * n);
}

// Asks for the next block's prices (io.next) in `parts` slices, one per call, while this block
// computes: its first reads would otherwise wait on memory with nothing else in flight.
struct NextBlockPrefetch {
  const TechnicalBlock& io;
  int parts;
  int done = 0;
  void step() {
    constexpr idx kLine = 64 / sizeof(double);
    const idx from = io.next_len * done / parts, to = io.next_len * (done + 1) / parts;
    ++done;
    for (const double* span : io.next)
      for (idx i = from - from % kLine; i < to; i += kLine) __builtin_prefetch(span + i, 0, 2);
  }
};

// Every series of technical_batch for one block, each computed while the block's transposed
// prices are hot in cache. Returns false if any input price is NaN or infinite.
inline bool technical_block(const TechnicalBlock& io) {
  NextBlockPrefetch prefetch{io, kTechnicalSeries};
  const idx n = io.bars;
  double* x = io.scratch;
  double* t0 = x + n * W;
  double* t1 = t0 + n * W;
  double* t2 = t1 + n * W;
  double* hl = t2 + n * W;
  double* stage = hl + n * W;
  double* suf = stage + n * W;
  bool finite = gather_rows(io.close, n, x);
  sma_lanes(x, t0, n, 5);
  scatter_rows(t0, io.lanes, n, io.out[0], stage);
  prefetch.step();
  sma_lanes(x, t0, n, 10);
  scatter_rows(t0, io.lanes, n, io.out[1], stage);
  prefetch.step();
  sma_lanes(x, t0, n, 20);
  scatter_rows(t0, io.lanes, n, io.out[2], stage);
  prefetch.step();
  scatter_rows(t0, io.lanes, n, io.out[8], stage);
  prefetch.step();
  bbands_lanes(x, t0, t1, t2, n, 20, 2.0);
  scatter_rows(t1, io.lanes, n, io.out[7], stage);
  prefetch.step();
  scatter_rows(t2, io.lanes, n, io.out[9], stage);
  prefetch.step();
  rsi_lanes(x, t0, n, 14);
  scatter_rows(t0, io.lanes, n, io.out[3], stage);
  prefetch.step();
  macd_lanes(x, t0, t1, t2, n, 12, 26, 9);
  scatter_rows(t0, io.lanes, n, io.out[4], stage);
  prefetch.step();
  scatter_rows(t1, io.lanes, n, io.out[5], stage);
  prefetch.step();
  scatter_rows(t2, io.lanes, n, io.out[6], stage);
  prefetch.step();
  finite = gather_rows(io.high, n, hl) && finite;
  rolling_extreme_lanes<true>(hl, t0, n, io.swing_lookback, suf);
  scatter_rows(t0, io.lanes, n, io.out[10], stage);
  prefetch.step();
  finite = gather_rows(io.low, n, hl) && finite;
  rolling_extreme_lanes<false>(hl, t0, n, io.swing_lookback, suf);
  scatter_rows(t0, io.lanes, n, io.out[11], stage);
  prefetch.step();
  // Once per block, not per series: a fence waits until every streamed line has left the core.
  simd::stream_fence();
  return finite;
}

}  // namespace ind
}  // inline namespace QUARTZ_ISA
}  // namespace quartz
