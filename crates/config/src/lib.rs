//! vfed-config
