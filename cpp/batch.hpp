// Shared plumbing for batch kernels: 2-D float64 arrays (rows = tickers, columns = bars)
// processed row by row on a pool of threads with the GIL released.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <thread>

#include "workers.hpp"

namespace quartz {

namespace py = pybind11;
using Array2D = py::array_t<double, py::array::c_style | py::array::forcecast>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Rows handed to a worker at a time by for_each_row: enough to amortise the shared counter.
constexpr py::ssize_t kRowsPerRange = 16;

// Rows of a (tickers x bars) input, validated once so kernels only see raw pointers.
struct Rows {
  const double* data;
  py::ssize_t rows;
  py::ssize_t cols;
  const double* row(py::ssize_t r) const { return data + r * cols; }
};

inline Rows rows_of(const Array2D& a) {
  if (a.ndim() != 2) throw std::invalid_argument("expected a 2-D array (tickers x bars)");
  return Rows{a.data(), a.shape(0), a.shape(1)};
}

inline Array2D empty_like(const Rows& r) { return Array2D({r.rows, r.cols}); }

// Number of worker threads: `threads` if positive, else the hardware concurrency.
inline unsigned worker_count(int threads, py::ssize_t rows) {
  unsigned n = threads > 0 ? static_cast<unsigned>(threads) : std::thread::hardware_concurrency();
  n = std::max(1u, n);
  return static_cast<unsigned>(std::min<py::ssize_t>(n, std::max<py::ssize_t>(rows, 1)));
}

// How many threads for_each_range runs `rows` on (the caller included).
inline unsigned range_workers(py::ssize_t rows, int threads, py::ssize_t chunk) {
  return worker_count(threads, (rows + chunk - 1) / chunk);
}

// Runs fn(begin, end, worker) over consecutive ranges of `chunk` rows covering [0, rows),
// handed out one at a time to the calling thread (worker 0) and the others (1 up to
// range_workers - 1: an index for per-thread scratch the caller keeps), so a worker that
// starts late (a sleeping CPU takes ~0.2 ms to wake in a VM) or runs slower leaves no one
// idle at the end. The caller must have released the GIL; fn must not touch Python objects.
template <typename Fn>
void for_each_range(py::ssize_t rows, int threads, py::ssize_t chunk, Fn&& fn) {
  const py::ssize_t ranges = (rows + chunk - 1) / chunk;
  const unsigned workers = range_workers(rows, threads, chunk);
  std::atomic<py::ssize_t> next{0};
  auto drain = [&](unsigned worker) {
    for (py::ssize_t k = next++; k < ranges; k = next++)
      fn(k * chunk, std::min(rows, (k + 1) * chunk), worker);
  };
  Workers pool;
  for (unsigned w = 1; w < workers; ++w) pool.start([&drain, w] { drain(w); });
  drain(0);
  pool.join();
}

// Runs fn(row_index) for every row on the workers (see for_each_range).
template <typename Fn>
void for_each_row(py::ssize_t rows, int threads, Fn&& fn) {
  for_each_range(rows, threads, kRowsPerRange,
                 [&fn](py::ssize_t begin, py::ssize_t end, unsigned) {
                   for (py::ssize_t r = begin; r < end; ++r) fn(r);
                 });
}

}  // namespace quartz
