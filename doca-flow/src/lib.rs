//! doca-flow: a safe DOCA Flow API with a software backend.

pub mod classifier;
pub mod packet;
