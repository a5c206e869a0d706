// Shared plumbing for batch kernels: 2-D float64 arrays (rows = tickers, columns = bars)
// processed row by row on a pool of threads with the GIL released.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace quartz {

namespace py = pybind11;
using Array2D = py::array_t<double, py::array::c_style | py::array::forcecast>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

// Runs fn(row_index) for every row, split in contiguous blocks over the workers.
// The caller must have released the GIL; fn must not touch Python objects.
template <typename Fn>
void for_each_row(py::ssize_t rows, int threads, Fn&& fn) {
  const unsigned workers = worker_count(threads, rows);
  if (workers <= 1) {
    for (py::ssize_t r = 0; r < rows; ++r) fn(r);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(workers);
  const py::ssize_t block = (rows + workers - 1) / workers;
  for (unsigned w = 0; w < workers; ++w) {
    const py::ssize_t begin = w * block;
    const py::ssize_t end = std::min(rows, begin + block);
    if (begin >= end) break;
    pool.emplace_back([begin, end, &fn] {
      for (py::ssize_t r = begin; r < end; ++r) fn(r);
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace quartz
