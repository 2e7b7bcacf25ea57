//! The compiler: a pure, deterministic `(RuleSet, Target) -> Plan`.

pub mod levels;
