// Row kernels for the technical indicators, defined as TA-Lib 0.8 computes them (seeding,
// operation order, fused multiply-add only in the EMA step), so results agree with TA-Lib to
// ~1e-12 relative. Each kernel writes NaN for its warm-up bars, exactly where TA-Lib does.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "isa.hpp"

namespace quartz {
inline namespace QUARTZ_ISA {
namespace ind {

using idx = std::ptrdiff_t;
constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

inline void fill_nan(double* out, idx from, idx to) {
  for (idx i = from; i < to; ++i) out[i] = NaN;
}

// Relative strength index with Wilder smoothing. Seed: the mean of the first `period` gains
// and losses; then G = (G*(p-1) + gain) * (1/p), multiplying by the reciprocal as TA-Lib does
// (dividing differs in the last bit). A NaN in the input yields NaN (TA-Lib would
// report 0.0, "extremely oversold", which is why callers must still clean halts first).
inline void rsi_row(const double* in, double* out, idx n, int period) {
  const idx warm = std::min<idx>(period, n);
  fill_nan(out, 0, warm);
  if (n <= period) return;
  const double p = period;
  const double p1 = period - 1;
  const double inv = 1.0 / p;
  auto value = [](double g, double l) {
    const double s = g + l;
    if (s > 0.0) return 100.0 * (g / s);
    return s == s ? 0.0 : NaN;
  };
  double prev = in[0], gain = 0.0, loss = 0.0;
  for (idx i = 1; i <= period; ++i) {
    const double d = in[i] - prev;
    prev = in[i];
    if (d < 0.0) loss -= d; else gain += d;
  }
  gain *= inv;
  loss *= inv;
  out[period] = value(gain, loss);
  for (idx i = period + 1; i < n; ++i) {
    const double d = in[i] - prev;
    prev = in[i];
    loss *= p1;
    gain *= p1;
    if (d < 0.0) loss -= d; else gain += d;
    loss *= inv;
    gain *= inv;
    out[i] = value(gain, loss);
  }
}

// MACD(fast, slow, signal) as TA-Lib's MACD function computes it: the slow EMA is seeded
// with the mean of bars 0..slow-1, the fast EMA with the mean of bars slow-fast..slow-1 (so
// both start at bar slow-1), the signal EMA with the mean of the first `signal` MACD values.
// Every EMA step is one fused multiply-add. All three outputs start at slow+signal-2.
inline void macd_row(const double* in, double* macd, double* sig, double* hist, idx n,
                     int fast, int slow, int signal) {
  const idx start = slow - 1;
  const idx first = start + signal - 1;
  const idx warm = std::min<idx>(first, n);
  fill_nan(macd, 0, warm);
  fill_nan(sig, 0, warm);
  fill_nan(hist, 0, warm);
  if (n <= first) return;
  const double kf = 2.0 / (fast + 1);
  const double ks = 2.0 / (slow + 1);
  const double kg = 2.0 / (signal + 1);
  double s = 0.0;
  for (idx i = 0; i <= start; ++i) s += in[i];
  double es = s / slow;
  double f = 0.0;
  for (idx i = slow - fast; i <= start; ++i) f += in[i];
  double ef = f / fast;
  double m = ef - es;
  double seed = m;
  for (idx i = start + 1; i < first; ++i) {
    ef = std::fma(in[i] - ef, kf, ef);
    es = std::fma(in[i] - es, ks, es);
    seed += ef - es;
  }
  ef = std::fma(in[first] - ef, kf, ef);
  es = std::fma(in[first] - es, ks, es);
  m = ef - es;
  seed += m;
  double g = seed / signal;
  macd[first] = m;
  sig[first] = g;
  hist[first] = m - g;
  for (idx i = first + 1; i < n; ++i) {
    ef = std::fma(in[i] - ef, kf, ef);
    es = std::fma(in[i] - es, ks, es);
    m = ef - es;
    g = std::fma(m - g, kg, g);
    macd[i] = m;
    sig[i] = g;
    hist[i] = m - g;
  }
}

// Simple moving average as a running window sum (TA-Lib's order of operations).
inline void sma_row(const double* in, double* out, idx n, int period) {
  const idx warm = std::min<idx>(period - 1, n);
  fill_nan(out, 0, warm);
  if (n < period) return;
  double total = 0.0;
  for (idx i = 0; i < period - 1; ++i) total += in[i];
  for (idx i = period - 1; i < n; ++i) {
    total += in[i];
    out[i] = total / period;
    total -= in[i - period + 1];
  }
}

// Bollinger bands: middle = SMA(period); sigma = population standard deviation of the window.
// The variance comes from running sums of deviations from a reference price (no cancellation
// at KRW price levels), recomputed exactly every kResetBars so rounding cannot accumulate.
constexpr idx kResetBars = 64;

inline void bbands_row(const double* in, double* upper, double* middle, double* lower, idx n,
                       int period, double k) {
  const idx warm = std::min<idx>(period - 1, n);
  fill_nan(upper, 0, warm);
  fill_nan(middle, 0, warm);
  fill_nan(lower, 0, warm);
  if (n < period) return;
  sma_row(in, middle, n, period);
  const double inv = 1.0 / period;
  double ref = 0.0, s1 = 0.0, s2 = 0.0;
  for (idx i = period - 1; i < n; ++i) {
    if ((i - (period - 1)) % kResetBars == 0) {
      ref = in[i];
      s1 = 0.0;
      s2 = 0.0;
      for (idx j = i - period + 1; j <= i; ++j) {
        const double d = in[j] - ref;
        s1 += d;
        s2 += d * d;
      }
    } else {
      const double dn = in[i] - ref;
      const double dd = in[i - period] - ref;
      s1 += dn - dd;
      s2 += dn * dn - dd * dd;
    }
    const double mean = s1 * inv;
    const double var = std::max(0.0, s2 * inv - mean * mean);
    const double width = k * std::sqrt(var);
    const double mid = middle[i];
    upper[i] = mid + width;
    lower[i] = mid - width;
  }
}

// Rolling maximum (or minimum) over `period` bars, exact, in O(n) with the van Herk /
// Gil-Werman block scheme. `pre` and `suf` are scratch buffers of n doubles.
template <bool IsMax>
inline void rolling_extreme_row(const double* in, double* out, idx n, int period,
                                std::vector<double>& pre, std::vector<double>& suf) {
  const idx warm = std::min<idx>(period - 1, n);
  fill_nan(out, 0, warm);
  if (n < period) return;
  auto pick = [](double a, double b) {
    if (a != a || b != b) return NaN;
    return IsMax ? (a > b ? a : b) : (a < b ? a : b);
  };
  pre.resize(n);
  suf.resize(n);
  for (idx b = 0; b < n; b += period) {
    const idx e = std::min<idx>(n, b + period);
    pre[b] = in[b];
    for (idx i = b + 1; i < e; ++i) pre[i] = pick(pre[i - 1], in[i]);
    suf[e - 1] = in[e - 1];
    for (idx i = e - 2; i >= b; --i) suf[i] = pick(suf[i + 1], in[i]);
  }
  for (idx i = period - 1; i < n; ++i) out[i] = pick(suf[i - period + 1], pre[i]);
}

}  // namespace ind
}  // inline namespace QUARTZ_ISA
}  // namespace quartz
