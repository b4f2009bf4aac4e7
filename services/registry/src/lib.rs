//! vfed-registry
