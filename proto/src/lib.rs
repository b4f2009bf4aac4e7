//! vfed-proto
