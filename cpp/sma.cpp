// Simple moving average, computed as TA-Lib does: a running window sum (add the new close,
// then subtract the one leaving the window), so results agree with TA-Lib to the last bit.
#include "batch.hpp"
#include "registry.hpp"

namespace quartz {

void sma_row(const double* in, double* out, py::ssize_t n, int period) {
  const py::ssize_t warmup = std::min<py::ssize_t>(period - 1, n);
  for (py::ssize_t i = 0; i < warmup; ++i) out[i] = kNaN;
  if (n < period) return;
  double total = 0.0;
  for (int i = 0; i < period - 1; ++i) total += in[i];
  for (py::ssize_t i = period - 1; i < n; ++i) {
    total += in[i];
    const double window = total;
    total -= in[i - period + 1];
    out[i] = window / period;
  }
}

static Array2D sma_batch(const Array2D& close, int period, int threads) {
  if (period < 1) throw std::invalid_argument("period must be >= 1");
  const Rows in = rows_of(close);
  Array2D result = empty_like(in);
  double* out = result.mutable_data();
  {
    py::gil_scoped_release release;
    for_each_row(in.rows, threads, [&](py::ssize_t r) {
      sma_row(in.row(r), out + r * in.cols, in.cols, period);
    });
  }
  return result;
}

static void register_sma(py::module_& m) {
  m.def("sma_batch", &sma_batch, py::arg("close"), py::arg("period"), py::arg("threads") = 0,
        "Simple moving average of each row of a (tickers x bars) float64 array.\n"
        "Bars before the first full window are NaN. Releases the GIL; threads=0 uses all cores.");
}

static Registrar sma_registrar(register_sma);

}  // namespace quartz
