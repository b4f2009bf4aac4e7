//! vfed-node
