// Macro statistics per series: latest value, period-on-period and year-on-year change,
// trend slopes over three windows, z-score against a trailing window, and turning points.
//
// Input rows are series on a regular grid (monthly or annual), NaN where there is no value
// (leading padding, gaps). Every sum runs left to right so the numpy reference
// (quartz_cli.domain.macro_stats) can reproduce the results exactly.
#include <cmath>
#include <cstdint>
#include <vector>

#include <pybind11/stl.h>

#include "batch.hpp"
#include "registry.hpp"

namespace quartz {

namespace {

using Int8Array2D = py::array_t<std::int8_t, py::array::c_style>;

// Output columns, in this order (mirrored by STAT_COLUMNS in macro_stats.py).
constexpr int kLatest = 0, kPopAbs = 1, kPopPct = 2, kYoyAbs = 3, kYoyPct = 4, kSlope0 = 5,
              kZ = 8, kLastIndex = 9, kColumns = 10;

struct Params {
  int pop_lag;
  int yoy_lag;
  int slope_windows[3];
  int z_window;
  int z_min;
  int turn_window;
};

inline bool has(double v) { return std::isfinite(v); }

void change(const double* x, py::ssize_t last, int lag, double* abs_out, double* pct_out) {
  *abs_out = kNaN;
  *pct_out = kNaN;
  if (lag <= 0 || last - lag < 0) return;
  const double prev = x[last - lag];
  if (!has(prev)) return;
  *abs_out = x[last] - prev;
  if (prev != 0.0) *pct_out = (x[last] / prev - 1.0) * 100.0;
}

// Least-squares slope per step of the `k` values ending at `last`; NaN if any is missing.
double slope(const double* x, py::ssize_t last, int k) {
  if (k < 2 || last - k + 1 < 0) return kNaN;
  const py::ssize_t first = last - k + 1;
  double sum = 0.0;
  for (py::ssize_t i = first; i <= last; ++i) {
    if (!has(x[i])) return kNaN;
    sum += x[i];
  }
  const double mean_x = sum / k;
  const double mean_t = (k - 1) / 2.0;
  double num = 0.0, den = 0.0;
  for (int t = 0; t < k; ++t) {
    const double dt = t - mean_t;
    num += dt * (x[first + t] - mean_x);
    den += dt * dt;
  }
  return num / den;
}

// (latest - mean) / population std over the valid values of the trailing window.
double zscore(const double* x, py::ssize_t last, int window, int min_count) {
  const py::ssize_t first = std::max<py::ssize_t>(0, last - window + 1);
  double sum = 0.0;
  int count = 0;
  for (py::ssize_t i = first; i <= last; ++i) {
    if (has(x[i])) {
      sum += x[i];
      ++count;
    }
  }
  if (count < min_count || count < 2) return kNaN;
  const double mean = sum / count;
  double ss = 0.0;
  for (py::ssize_t i = first; i <= last; ++i) {
    if (has(x[i])) ss += (x[i] - mean) * (x[i] - mean);
  }
  const double sd = std::sqrt(ss / count);
  if (!(sd > 0.0)) return kNaN;
  return (x[last] - mean) / sd;
}

// Marks +1 at the first step of a run of equal values that is higher than the `w` values
// before it and the `w` values after the run, -1 for lower; plateaus count as one point.
void turning_points(const double* x, py::ssize_t last, int w, std::int8_t* out) {
  if (w < 1) return;
  py::ssize_t i = 0;
  while (i <= last) {
    py::ssize_t end = i;
    if (has(x[i])) {
      while (end + 1 <= last && x[end + 1] == x[i]) ++end;
    }
    const bool starts_run = i == 0 || x[i - 1] != x[i];
    if (has(x[i]) && starts_run && i - w >= 0 && end + w <= last) {
      bool above = true, below = true, complete = true;
      for (py::ssize_t j = i - w; j < i; ++j) {
        if (!has(x[j])) { complete = false; break; }
        above = above && x[j] < x[i];
        below = below && x[j] > x[i];
      }
      for (py::ssize_t j = end + 1; complete && j <= end + w; ++j) {
        if (!has(x[j])) { complete = false; break; }
        above = above && x[j] < x[i];
        below = below && x[j] > x[i];
      }
      if (complete && above) out[i] = 1;
      if (complete && below) out[i] = -1;
    }
    i = end + 1;
  }
}

void stats_row(const double* x, py::ssize_t n, const Params& p, double* out,
               std::int8_t* turns) {
  for (int c = 0; c < kColumns; ++c) out[c] = kNaN;
  for (py::ssize_t i = 0; i < n; ++i) turns[i] = 0;
  py::ssize_t last = n - 1;
  while (last >= 0 && !has(x[last])) --last;
  if (last < 0) return;
  out[kLatest] = x[last];
  out[kLastIndex] = static_cast<double>(last);
  change(x, last, p.pop_lag, &out[kPopAbs], &out[kPopPct]);
  change(x, last, p.yoy_lag, &out[kYoyAbs], &out[kYoyPct]);
  for (int s = 0; s < 3; ++s) out[kSlope0 + s] = slope(x, last, p.slope_windows[s]);
  out[kZ] = zscore(x, last, p.z_window, p.z_min);
  turning_points(x, last, p.turn_window, turns);
}

py::tuple macro_stats_batch(const Array2D& values, int pop_lag, int yoy_lag,
                            std::vector<int> slope_windows, int z_window, int z_min,
                            int turn_window, int threads) {
  if (slope_windows.size() != 3) throw std::invalid_argument("slope_windows needs 3 windows");
  if (z_window < 2) throw std::invalid_argument("z_window must be >= 2");
  const Rows in = rows_of(values);
  Params p{pop_lag, yoy_lag, {slope_windows[0], slope_windows[1], slope_windows[2]},
           z_window, z_min, turn_window};
  Array2D stats({in.rows, static_cast<py::ssize_t>(kColumns)});
  Int8Array2D turns({in.rows, in.cols});
  double* out = stats.mutable_data();
  std::int8_t* marks = turns.mutable_data();
  {
    py::gil_scoped_release release;
    for_each_row(in.rows, threads, [&](py::ssize_t r) {
      stats_row(in.row(r), in.cols, p, out + r * kColumns, marks + r * in.cols);
    });
  }
  return py::make_tuple(stats, turns);
}

void register_macro_stats(py::module_& m) {
  m.def("macro_stats_batch", &macro_stats_batch, py::arg("values"), py::arg("pop_lag"),
        py::arg("yoy_lag"), py::arg("slope_windows"), py::arg("z_window"), py::arg("z_min"),
        py::arg("turn_window"), py::arg("threads") = 0,
        "Statistics of each row of a (series x periods) float64 array, NaN = no value.\n"
        "Returns (stats, turns): stats is (series x 10) with columns latest, pop_abs, pop_pct,\n"
        "yoy_abs, yoy_pct, slope_a, slope_b, slope_c, zscore, last_index; turns is int8\n"
        "(series x periods), +1 peak, -1 trough. Releases the GIL; threads=0 uses all cores.");
}

Registrar macro_stats_registrar(register_macro_stats);

}  // namespace

}  // namespace quartz
