// The instruction set this translation unit's kernels are compiled for. The lane kernels are
// built twice (technical_baseline.cpp, and technical_avx2.cpp with -mavx2 -mfma plus
// QUARTZ_ISA_AVX2), so the headers with inline kernels (simd.hpp, indicators.hpp,
// indicators_lanes.hpp) put their contents in the inline namespace QUARTZ_ISA: each copy gets
// its own mangled names, and the linker can never hand a baseline caller the AVX2 copy of a
// shared inline function (an ODR violation that would die with SIGILL on CPUs without AVX2).
#pragma once

#if defined(QUARTZ_ISA_AVX2)
#if !(defined(__AVX2__) && defined(__FMA__))
#error "QUARTZ_ISA_AVX2 is set but the compiler does not target AVX2 + FMA (-mavx2 -mfma)"
#endif
#define QUARTZ_ISA isa_avx2
#else
#define QUARTZ_ISA isa_baseline
#endif
