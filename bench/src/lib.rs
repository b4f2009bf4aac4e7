//! vfed-bench
