//! vfed-sharing (being built).
