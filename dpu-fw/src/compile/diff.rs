//! Differences between two plans (filled in below).
