//! One module per subcommand of the `dpu-fw` command.

pub(crate) mod bench;
pub(crate) mod bench_ct;
pub(crate) mod bench_scale;
pub(crate) mod check;
pub(crate) mod classify;
pub(crate) mod compile;
pub(crate) mod control;
pub(crate) mod run;
pub(crate) mod simulate;
pub(crate) mod version;
