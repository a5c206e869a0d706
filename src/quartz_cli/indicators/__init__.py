"""Technical indicators defined as TA-Lib 0.8 computes them: a native batch core
(`quartz_cli._native`, wrapped by `native`) and a numpy reference (`reference`) that tests
and the benchmark compare against each other and against TA-Lib."""
