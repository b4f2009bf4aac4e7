//! vfed-tests
