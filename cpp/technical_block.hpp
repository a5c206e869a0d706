// The interface between the batch bindings (indicators.cpp, baseline code) and the kernels
// compiled once per instruction set: technical_baseline.cpp always, and
// technical_avx2.cpp with -mavx2 -mfma when the compiler targets x86-64 (CMakeLists.txt).
// Only plain data crosses it, so no inline function is shared between the two builds.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace quartz {

// Series written per block, in technical_batch's output order (the Python wrapper names them).
constexpr int kTechnicalSeries = 12;
// Tickers per block: side by side in the SIMD lanes.
constexpr int kBlockRows = 8;

// One block of up to kBlockRows tickers. Input rows past `lanes` repeat the last real row (they
// are read as padding); each series' `lanes` output rows lie one after another from out[s].
struct TechnicalBlock {
  const double* close[kBlockRows];
  const double* high[kBlockRows];
  const double* low[kBlockRows];
  double* out[kTechnicalSeries];
  // The next block's close/high/low rows, next_len doubles each (0: no next block), fetched
  // into cache while this one computes.
  const double* next[3];
  std::ptrdiff_t next_len;
  int lanes;
  std::ptrdiff_t bars;
  int swing_lookback;
  double* scratch;  // kTechnicalScratch * bars * kBlockRows doubles: prices, 9 series, stage, ring
};
constexpr int kTechnicalScratch = 13;

// Computes every series of one block; false if any input price is NaN or infinite.
using TechnicalBlockFn = bool (*)(const TechnicalBlock&);
bool technical_block_baseline(const TechnicalBlock& io);
#ifdef QUARTZ_HAVE_AVX2_VARIANT
bool technical_block_avx2(const TechnicalBlock& io);
#endif

// The single MACD kernel (ind::macd_row) per variant: its EMA steps are fused multiply-adds,
// a libm call without -mfma, so macd_batch dispatches too.
using MacdRowFn = void (*)(const double* in, double* macd, double* sig, double* hist,
                           std::ptrdiff_t n, int fast, int slow, int signal);
void macd_row_baseline(const double* in, double* macd, double* sig, double* hist,
                       std::ptrdiff_t n, int fast, int slow, int signal);
#ifdef QUARTZ_HAVE_AVX2_VARIANT
void macd_row_avx2(const double* in, double* macd, double* sig, double* hist, std::ptrdiff_t n,
                   int fast, int slow, int signal);
#endif

// A variant that cannot run here (or a bad QUARTZ_NATIVE_ISA); _native.IsaError in Python.
struct IsaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The name of the variant `isa` ("auto", "avx2" or "baseline") selects on this CPU, honouring
// QUARTZ_NATIVE_ISA for "auto"; throws IsaError if it cannot run, std::invalid_argument if
// `isa` is not one of those names.
std::string resolve_isa(const std::string& isa);
// The kernels of a resolved variant name.
TechnicalBlockFn technical_block_for(const std::string& resolved);
MacdRowFn macd_row_for(const std::string& resolved);

}  // namespace quartz
