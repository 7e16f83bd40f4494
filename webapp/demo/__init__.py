"""The demo MSP that `make run` seeds, and the scale seed the benchmarks use."""
