// The same indicator definitions as indicators.hpp, computed for W = 8 tickers at once. A block
// of W rows is transposed to bar-major order (x[bar * W + lane]) so every step is a vector
// operation across tickers: the recurrences (Wilder, EMA) are latency-bound per ticker, and
// independent tickers side by side fill the pipeline and the SIMD lanes. Per lane, the
// operations and their order are exactly those of the row kernels, so results are identical.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>

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

// One lane group of a bar-major block: the kVec tickers from lane `off`. Each kernel below
// runs one indicator for one group, in two parts: begin(n) writes the warm-up NaNs, seeds the
// state and returns the first bar step() handles (n if there is none); step(i) computes bar i.
// run_fused interleaves the steps of several kernels bar by bar.
struct Group {
  int off;
  V at(const double* p, idx bar) const { return simd::load(p + bar * W + off); }
  void put(double* p, idx bar, V v) const { simd::store(p + bar * W + off, v); }
  void nan(double* p, idx from, idx to) const {
    for (idx i = from; i < to; ++i) put(p, i, simd::set1(NaN));
  }
};

struct SmaLanes {
  Group g;
  const double* x;
  double* out;
  int period;
  V p = simd::set1(period), total = simd::set1(0.0);
  idx begin(idx n) {
    g.nan(out, 0, std::min<idx>(period - 1, n));
    if (n < period) return n;
    for (idx i = 0; i < period - 1; ++i) total = total + g.at(x, i);
    return period - 1;
  }
  void step(idx i) {
    total = total + g.at(x, i);
    g.put(out, i, total / p);
    total = total - g.at(x, i - period + 1);
  }
};

struct RsiLanes {
  Group g;
  const double* x;
  double* out;
  int period;
  V p1 = simd::set1(period - 1), inv = simd::set1(1.0 / period);
  V zero = simd::set1(0.0), hundred = simd::set1(100.0);
  V gain = zero, loss = zero;
  idx begin(idx n) {
    g.nan(out, 0, std::min<idx>(period, n));
    if (n <= period) return n;
    // Adding an exact 0.0 leaves a sum unchanged, so the masked terms equal TA-Lib's branches.
    for (idx i = 1; i <= period; ++i) {
      const V d = g.at(x, i) - g.at(x, i - 1);
      const V neg = simd::lt(d, zero);
      gain = gain + simd::drop(neg, d);
      loss = loss - simd::keep(neg, d);
    }
    gain = gain * inv;
    loss = loss * inv;
    emit(period);
    return period + 1;
  }
  // rsi_row gives 0.0 where s is not positive and NaN where s is NaN; here s never is: gain
  // and loss only ever add non-negative terms (or +inf) to 0.0 and scale by positive
  // constants, and the differences of finite prices are never NaN.
  void emit(idx i) {
    const V s = gain + loss;
    const V v = hundred * (gain / s);
    g.put(out, i, simd::keep(simd::gt(s, zero), v));
  }
  void step(idx i) {
    const V d = g.at(x, i) - g.at(x, i - 1);
    const V neg = simd::lt(d, zero);
    loss = (loss * p1 - simd::keep(neg, d)) * inv;
    gain = (gain * p1 + simd::drop(neg, d)) * inv;
    emit(i);
  }
};

struct MacdLanes {
  Group g;
  const double* x;
  double *macd, *sig, *hist;
  int fast, slow, signal;
  V kf = simd::set1(2.0 / (fast + 1)), ks = simd::set1(2.0 / (slow + 1));
  V kg = simd::set1(2.0 / (signal + 1));
  V es = simd::set1(0.0), ef = es, sg = es;
  idx begin(idx n) {
    const idx start = slow - 1;
    const idx first = start + signal - 1;
    const idx warm = std::min<idx>(first, n);
    g.nan(macd, 0, warm);
    g.nan(sig, 0, warm);
    g.nan(hist, 0, warm);
    if (n <= first) return n;
    for (idx i = 0; i <= start; ++i) es = es + g.at(x, i);
    for (idx i = slow - fast; i <= start; ++i) ef = ef + g.at(x, i);
    es = es / simd::set1(slow);
    ef = ef / simd::set1(fast);
    V seed = ef - es;
    for (idx i = start + 1; i <= first; ++i) {
      const V xi = g.at(x, i);
      ef = simd::fma(xi - ef, kf, ef);
      es = simd::fma(xi - es, ks, es);
      seed = seed + (ef - es);
    }
    const V m = ef - es;
    sg = seed / simd::set1(signal);
    g.put(macd, first, m);
    g.put(sig, first, sg);
    g.put(hist, first, m - sg);
    return first + 1;
  }
  void step(idx i) {
    const V xi = g.at(x, i);
    ef = simd::fma(xi - ef, kf, ef);
    es = simd::fma(xi - es, ks, es);
    const V m = ef - es;
    sg = simd::fma(m - sg, kg, sg);
    g.put(macd, i, m);
    g.put(sig, i, sg);
    g.put(hist, i, m - sg);
  }
};

// Bollinger bands; `middle` holds SMA(period) of x up to bar i when step(i) runs.
struct BbandsLanes {
  Group g;
  const double* x;
  const double* middle;
  double *upper, *lower;
  int period;
  double kdev;
  V inv = simd::set1(1.0 / period), zero = simd::set1(0.0), kv = simd::set1(kdev);
  V ref = zero, s1 = zero, s2 = zero;
  idx begin(idx n) {
    const idx warm = std::min<idx>(period - 1, n);
    g.nan(upper, 0, warm);
    g.nan(lower, 0, warm);
    return n < period ? n : period - 1;
  }
  void step(idx i) {
    if ((i - (period - 1)) % kResetBars == 0) {
      ref = g.at(x, i);
      s1 = s2 = zero;
      for (idx j = i - period + 1; j <= i; ++j) {
        const V d = g.at(x, j) - ref;
        s1 = s1 + d;
        s2 = s2 + d * d;
      }
    } else {
      const V dn = g.at(x, i) - ref;
      const V dd = g.at(x, i - period) - ref;
      s1 = s1 + (dn - dd);
      s2 = s2 + (dn * dn - dd * dd);
    }
    const V mean = s1 * inv;
    const V raw = s2 * inv - mean * mean;
    const V var = simd::keep(simd::lt(zero, raw), raw);  // std::max(0.0, raw)
    const V width = kv * simd::sqrt(var);
    const V mid = g.at(middle, i);
    g.put(upper, i, mid + width);
    g.put(lower, i, mid - width);
  }
};

// Runs the kernels over bars [0, n) with their steps interleaved: each alone until all are
// past their warm-up, then one loop steps every kernel at each bar. Alone, RSI and MACD wait
// on their recurrences' latency and SMA and Bollinger on the divider; side by side, the
// out-of-order core overlaps the one with the other. The loop is then bound by the divider
// and the two multiply ports, so the kernels spend those sparingly (one lane group per loop:
// two would not fit the 16 vector registers). Each kernel's own operations and their order
// are unchanged. A kernel that reads another's output (Bollinger: the SMA) must come after it.
// Kernels are taken by value: as locals whose address never escapes, their state lives in
// registers (through a reference, every store to an output could alias it).
template <typename... Kernel>
void run_fused(idx n, Kernel... kernel) {
  const idx start[] = {kernel.begin(n)...};
  const idx common = *std::max_element(std::begin(start), std::end(start));
  const idx* from = start;
  ((void)[&] {
    for (idx i = *from++; i < common; ++i) kernel.step(i);
  }(), ...);
  for (idx i = common; i < n; ++i) (kernel.step(i), ...);
}

inline void nan_lanes(double* out, idx from, idx to) {
  for (idx i = from * W; i < to * W; ++i) out[i] = NaN;
}

#define QUARTZ_LANES for (int k = 0; k < K; ++k)
#define AT(ptr, bar) ((ptr) + (bar) * W + k * kVec)


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
      V r0, r1, r2, r3;
      simd::load_transposed(rows[l0] + i, rows[l0 + 1] + i, rows[l0 + 2] + i, rows[l0 + 3] + i,
                            r0, r1, r2, r3);
      // x - x is NaN exactly when x is NaN or infinite.
      bad = simd::mask_or(bad, simd::mask_or(simd::unordered(r0 - r0, r1 - r1),
                                             simd::unordered(r2 - r2, r3 - r3)));
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
      const double* tile = block + i * W + l0;
      V r0, r1, r2, r3;
      simd::load_transposed(tile, tile + W, tile + 2 * W, tile + 3 * W, r0, r1, r2, r3);
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
  double* t[9];
  for (int s = 0; s < 9; ++s) t[s] = x + (s + 1) * n * W;
  double* stage = x + 10 * n * W;
  double* suf = stage + n * W;
  bool finite = gather_rows(io.close, n, x);
  for (int k = 0; k < K; ++k) {
    const Group g{k * kVec};
    SmaLanes sma5{g, x, t[0], 5}, sma10{g, x, t[1], 10}, sma20{g, x, t[2], 20};
    BbandsLanes bbands{g, x, t[2], t[3], t[4], 20, 2.0};
    RsiLanes rsi{g, x, t[5], 14};
    MacdLanes macd{g, x, t[6], t[7], t[8], 12, 26, 9};
    run_fused(n, sma5, sma10, sma20, bbands, rsi, macd);
  }
  // technical_batch's series order: sma5, sma10, sma20, rsi, macd, signal, histogram,
  // bb upper, bb middle (= sma20), bb lower.
  static constexpr int kSlot[10] = {0, 1, 2, 5, 6, 7, 8, 3, 2, 4};
  for (int s = 0; s < 10; ++s) {
    scatter_rows(t[kSlot[s]], io.lanes, n, io.out[s], stage);
    prefetch.step();
  }
  finite = gather_rows(io.high, n, x) && finite;
  rolling_extreme_lanes<true>(x, t[0], n, io.swing_lookback, suf);
  scatter_rows(t[0], io.lanes, n, io.out[10], stage);
  prefetch.step();
  finite = gather_rows(io.low, n, x) && finite;
  rolling_extreme_lanes<false>(x, t[0], n, io.swing_lookback, suf);
  scatter_rows(t[0], io.lanes, n, io.out[11], stage);
  prefetch.step();
  // Once per block, not per series: a fence waits until every streamed line has left the core.
  simd::stream_fence();
  return finite;
}

}  // namespace ind
}  // inline namespace QUARTZ_ISA
}  // namespace quartz
