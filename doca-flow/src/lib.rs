//! doca-flow
