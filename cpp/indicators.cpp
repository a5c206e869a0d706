// Batch bindings for the technical indicators: every function takes (tickers x bars) float64
// arrays, releases the GIL and spreads rows over all cores (batch.hpp).
#include <atomic>
#include <string>

#include "batch.hpp"
#include "indicators.hpp"
#include "registry.hpp"
#include "technical_block.hpp"

namespace quartz {

namespace {

using Array3D = py::array_t<double, py::array::c_style>;

void check_same_shape(const Rows& a, const Rows& b, const char* name) {
  if (a.rows != b.rows || a.cols != b.cols)
    throw std::invalid_argument(std::string(name) + " must have the shape of close");
}

void check_period(int period, const char* name) {
  if (period < 1) throw std::invalid_argument(std::string(name) + " must be >= 1");
}

Array2D rsi_batch(const Array2D& close, int period, int threads) {
  check_period(period, "period");
  const Rows in = rows_of(close);
  Array2D out = empty_like(in);
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    for_each_row(in.rows, threads, [&](py::ssize_t r) {
      ind::rsi_row(in.row(r), o + r * in.cols, in.cols, period);
    });
  }
  return out;
}

py::tuple macd_batch(const Array2D& close, int fast, int slow, int signal, int threads) {
  check_period(fast, "fast");
  check_period(signal, "signal");
  if (slow <= fast) throw std::invalid_argument("slow must be greater than fast");
  const Rows in = rows_of(close);
  const MacdRowFn macd_row = macd_row_for(resolve_isa("auto"));
  Array2D m = empty_like(in), s = empty_like(in), h = empty_like(in);
  double *pm = m.mutable_data(), *ps = s.mutable_data(), *ph = h.mutable_data();
  {
    py::gil_scoped_release release;
    for_each_row(in.rows, threads, [&](py::ssize_t r) {
      const py::ssize_t off = r * in.cols;
      macd_row(in.row(r), pm + off, ps + off, ph + off, in.cols, fast, slow, signal);
    });
  }
  return py::make_tuple(m, s, h);
}

py::tuple bbands_batch(const Array2D& close, int period, double k, int threads) {
  check_period(period, "period");
  const Rows in = rows_of(close);
  Array2D u = empty_like(in), mid = empty_like(in), lo = empty_like(in);
  double *pu = u.mutable_data(), *pm = mid.mutable_data(), *pl = lo.mutable_data();
  {
    py::gil_scoped_release release;
    for_each_row(in.rows, threads, [&](py::ssize_t r) {
      const py::ssize_t off = r * in.cols;
      ind::bbands_row(in.row(r), pu + off, pm + off, pl + off, in.cols, period, k);
    });
  }
  return py::make_tuple(u, mid, lo);
}

template <bool IsMax>
Array2D rolling_batch(const Array2D& values, int period, int threads) {
  check_period(period, "period");
  const Rows in = rows_of(values);
  Array2D out = empty_like(in);
  double* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    for_each_row(in.rows, threads, [&](py::ssize_t r) {
      thread_local std::vector<double> pre, suf;
      ind::rolling_extreme_row<IsMax>(in.row(r), o + r * in.cols, in.cols, period, pre, suf);
    });
  }
  return out;
}

constexpr py::ssize_t kBlocksPerRange = 8;

// Every indicator Quartz reads, in one pass over each row while it is hot in cache:
// SMA 5/10/20, RSI 14, MACD 12/26/9 (line, signal, histogram), Bollinger 20/2 (upper,
// middle, lower), and the swing high/low over `swing_lookback` bars for Fibonacci levels.
// Blocks of kBlockRows tickers run on the lane-kernel variant `isa` selects (isa_dispatch.cpp).
Array3D technical_batch(const Array2D& close, const Array2D& high, const Array2D& low,
                        int swing_lookback, int threads, py::object out_obj,
                        const std::string& isa) {
  check_period(swing_lookback, "swing_lookback");
  const Rows c = rows_of(close), hi = rows_of(high), lo = rows_of(low);
  check_same_shape(c, hi, "high");
  check_same_shape(c, lo, "low");
  const TechnicalBlockFn block_fn = technical_block_for(resolve_isa(isa));
  Array3D out;
  if (out_obj.is_none()) {
    out = Array3D({static_cast<py::ssize_t>(kTechnicalSeries), c.rows, c.cols});
  } else {
    // isinstance checks dtype and layout: a cast could silently write into a converted copy.
    if (!py::isinstance<Array3D>(out_obj))
      throw std::invalid_argument("out must be a C-contiguous float64 array");
    out = py::reinterpret_borrow<Array3D>(out_obj);
    if (out.ndim() != 3 || out.shape(0) != kTechnicalSeries || out.shape(1) != c.rows ||
        out.shape(2) != c.cols || !out.writeable())
      throw std::invalid_argument("out must be a writeable C-contiguous float64 array of shape "
                                  "(12, tickers, bars)");
  }
  double* base = out.mutable_data();
  const py::ssize_t plane = c.rows * c.cols;
  const py::ssize_t n = c.cols;
  const py::ssize_t blocks = (c.rows + kBlockRows - 1) / kBlockRows;
  std::atomic<bool> saw_nan{false};
  // Every worker's scratch, kept by the calling thread from call to call: the other workers
  // are new threads each call, and scratch of their own (a few hundred KB, so mapped afresh
  // by malloc) would be faulted in again every time.
  const size_t per_worker = static_cast<size_t>(kTechnicalScratch * n * kBlockRows);
  thread_local std::vector<double> scratch;
  scratch.resize(per_worker * range_workers(blocks, threads, kBlocksPerRange));
  double* const scratch_base = scratch.data();
  {
    py::gil_scoped_release release;
    // Ranges of kBlocksPerRange blocks: within one, the next block's prices are fetched while
    // this one computes.
    for_each_range(blocks, threads, kBlocksPerRange,
                   [&](py::ssize_t first, py::ssize_t last, unsigned worker) {
      double* const mine = scratch_base + per_worker * worker;
      for (py::ssize_t b = first; b < last; ++b) {
        const py::ssize_t r0 = b * kBlockRows;
        TechnicalBlock io;
        io.lanes = static_cast<int>(std::min<py::ssize_t>(kBlockRows, c.rows - r0));
        for (int l = 0; l < kBlockRows; ++l) {
          const py::ssize_t r = r0 + std::min(l, io.lanes - 1);
          io.close[l] = c.row(r);
          io.high[l] = hi.row(r);
          io.low[l] = lo.row(r);
        }
        for (int s = 0; s < kTechnicalSeries; ++s) io.out[s] = base + s * plane + r0 * n;
        const py::ssize_t r1 = r0 + kBlockRows;
        const bool has_next = b + 1 < last;
        io.next[0] = has_next ? c.row(r1) : nullptr;
        io.next[1] = has_next ? hi.row(r1) : nullptr;
        io.next[2] = has_next ? lo.row(r1) : nullptr;
        io.next_len = has_next ? std::min<py::ssize_t>(kBlockRows, c.rows - r1) * n : 0;
        io.bars = n;
        io.swing_lookback = swing_lookback;
        io.scratch = mine;
        if (!block_fn(io)) saw_nan = true;
      }
    });
  }
  if (saw_nan)
    throw std::invalid_argument("technical_batch needs finite prices: remove halted or missing "
                                "bars (NaN) and infinities first");
  return out;
}

void register_indicators(py::module_& m) {
  m.def("rsi_batch", &rsi_batch, py::arg("close"), py::arg("period") = 14,
        py::arg("threads") = 0,
        "RSI (Wilder) of each row; the first `period` bars are NaN. Releases the GIL.");
  m.def("macd_batch", &macd_batch, py::arg("close"), py::arg("fast") = 12, py::arg("slow") = 26,
        py::arg("signal") = 9, py::arg("threads") = 0,
        "(macd, signal, histogram) of each row, seeded as TA-Lib's MACD; the first "
        "slow+signal-2 bars are NaN. Releases the GIL.");
  m.def("bbands_batch", &bbands_batch, py::arg("close"), py::arg("period") = 20,
        py::arg("k") = 2.0, py::arg("threads") = 0,
        "(upper, middle, lower) Bollinger bands, population sigma; the first period-1 bars "
        "are NaN. Releases the GIL.");
  m.def("rolling_max_batch", &rolling_batch<true>, py::arg("values"), py::arg("period"),
        py::arg("threads") = 0, "Exact rolling maximum over `period` bars (TA-Lib MAX).");
  m.def("rolling_min_batch", &rolling_batch<false>, py::arg("values"), py::arg("period"),
        py::arg("threads") = 0, "Exact rolling minimum over `period` bars (TA-Lib MIN).");
  m.def("technical_batch", &technical_batch, py::arg("close"), py::arg("high"), py::arg("low"),
        py::arg("swing_lookback"), py::arg("threads") = 0, py::arg("out") = py::none(),
        py::arg("isa") = "auto",
        "All indicators in one pass per row: a (12, tickers, bars) array of SMA5, SMA10, "
        "SMA20, RSI14, MACD, MACD signal, MACD histogram, BB upper, BB middle, BB lower, "
        "swing high, swing low. `out` may be a preallocated array of that shape. `isa` picks "
        "the kernel variant: 'auto' (see isa()), 'avx2' (IsaError where it cannot run) or "
        "'baseline'; every variant gives identical results.");
}

Registrar indicators_registrar(register_indicators);

}  // namespace

}  // namespace quartz
