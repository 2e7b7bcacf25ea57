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

/// An error and its causes (`source`) on one line, as anyhow's `{:#}` prints them,
/// without the repeats: an error whose message already ends with its cause's
/// (thiserror's `{0}` beside `#[from]`, `InstallError::Flow`) has that cause printed
/// once.
pub(crate) struct Causes<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut line = String::new();
        for cause in std::iter::successors(Some(self.0), |e| e.source()) {
            let text = cause.to_string();
            if line.ends_with(&text) {
                continue;
            }
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::Causes;

    /// An error whose message leaves its cause out (doca_flow's `Error::Backend`).
    #[derive(Debug)]
    struct Backend(std::io::Error);

    impl std::fmt::Display for Backend {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("doca_flow_ct_add_entry failed in the backend")
        }
    }

    impl std::error::Error for Backend {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// An error whose message carries its cause's, which is its source too
    /// (`InstallError::Flow`).
    #[derive(Debug)]
    struct Install(Backend);

    impl std::fmt::Display for Install {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "pipe `ct`: {}", self.0)
        }
    }

    impl std::error::Error for Install {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_its_errors_message_is_printed_once() {
        let io = std::io::Error::other("DOCA_ERROR_FULL (8): No more space in resource");
        let e = anyhow::Error::from(Install(Backend(io))).context("offloading");
        assert_eq!(
            Causes(&*e).to_string(),
            "offloading: pipe `ct`: doca_flow_ct_add_entry failed in the backend: \
             DOCA_ERROR_FULL (8): No more space in resource"
        );
        // What `{:#}` prints, for comparison: the backend failure twice.
        assert!(format!("{e:#}").matches("failed in the backend").count() == 2);
    }
}
