//! The deployment files ship policies and commands; keep them honest: the
//! policy embedded in the Kubernetes ConfigMap must be a valid config, and
//! the commands the systemd unit and container run must exist.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The block scalar under `firewall.toml: |` in the manifest, de-indented.
fn configmap_policy(yaml: &str) -> String {
    let mut lines = yaml
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("firewall.toml: |"));
    let header = lines.next().expect("the manifest has a firewall.toml key");
    let key_indent = header.len() - header.trim_start().len();
    let mut out = String::new();
    let mut body_indent = None;
    for line in lines {
        if line.trim().is_empty() {
            out.push('\n');
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent <= key_indent {
            break;
        }
        let strip = *body_indent.get_or_insert(indent);
        out.push_str(line.get(strip..).unwrap_or(line.trim_start()));
        out.push('\n');
    }
    out
}

#[test]
fn kubernetes_configmap_policy_is_valid() {
    let yaml = std::fs::read_to_string(root().join("deploy/kubernetes/dpu-fw.yaml")).unwrap();
    let policy = configmap_policy(&yaml);
    assert!(
        policy.contains("[[rules]]"),
        "no policy found in the ConfigMap"
    );
    let checked = dpu_fw::config::parse(&policy, "deploy/kubernetes/dpu-fw.yaml (ConfigMap)")
        .unwrap_or_else(|e| panic!("the ConfigMap policy does not parse:\n{e}"));
    assert!(!checked.rules.rules.is_empty());
}

#[test]
fn shipped_example_policy_is_valid() {
    let checked = dpu_fw::config::load(root().join("examples/firewall.toml"))
        .unwrap_or_else(|e| panic!("examples/firewall.toml does not parse:\n{e}"));
    assert!(checked.rules.rules.len() >= 10);
}

#[test]
fn deployment_files_use_only_options_that_run_accepts() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_dpu-fw"))
        .args(["run", "--help"])
        .output()
        .expect("dpu-fw run --help");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    // The options of `dpu-fw run` itself (EAL arguments come after `--`).
    let options = [
        "--config",
        "--metrics",
        "--stats-interval",
        "--workers",
        "--port",
        "--mbufs",
    ];
    for f in [
        "deploy/systemd/dpu-fw.service",
        "deploy/systemd/dpu-fw.env",
        "deploy/container/Containerfile",
        "deploy/kubernetes/dpu-fw.yaml",
    ] {
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        let used: Vec<&str> = options
            .iter()
            .copied()
            .filter(|o| text.contains(o))
            .collect();
        for o in &used {
            assert!(
                help.contains(o),
                "{f} uses `{o}`, which `dpu-fw run` does not accept"
            );
        }
        if f.ends_with(".service") || f.ends_with("Containerfile") || f.ends_with(".yaml") {
            assert!(text.contains("run"), "{f} does not start `dpu-fw run`");
            assert!(used.contains(&"--config"), "{f} passes no --config");
        }
    }
}
