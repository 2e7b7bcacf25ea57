//! One module per subcommand of the `dpu-fw` command.

pub(crate) mod version;
