//! brisk runtime.
