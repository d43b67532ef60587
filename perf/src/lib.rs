//! Benchmarks and traffic generation.
