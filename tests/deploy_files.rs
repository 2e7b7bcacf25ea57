//! The deployment files ship policies and commands; keep them honest: the
//! policies embedded in the Kubernetes ConfigMap, the Helm chart (its values
//! and its checked-in render) and the DPF objects must be valid configs, and
//! the commands the systemd unit, container and pods run must exist. (The
//! manifests' structure is checked by deploy/validate, .ci/deploy.)

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The block scalar under `KEY: |` in the manifest, de-indented.
fn block_scalar(yaml: &str, key: &str) -> String {
    let start = format!("{key}: |");
    let mut lines = yaml
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&start));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("the manifest has no `{start}`"));
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

fn assert_policy_valid(file: &str, key: &str) {
    let yaml = std::fs::read_to_string(root().join(file)).unwrap();
    let policy = block_scalar(&yaml, key);
    assert!(policy.contains("[[rules]]"), "no policy found in {file}");
    let checked = dpu_fw::config::parse(&policy, format!("{file} ({key})"))
        .unwrap_or_else(|e| panic!("the policy in {file} does not parse:\n{e}"));
    assert!(!checked.rules.rules.is_empty());
}

#[test]
fn kubernetes_configmap_policy_is_valid() {
    assert_policy_valid("deploy/kubernetes/dpu-fw.yaml", "firewall.toml");
}

#[test]
fn helm_chart_policies_are_valid() {
    assert_policy_valid("deploy/helm/dpu-fw/values.yaml", "policy");
    assert_policy_valid("deploy/helm/dpu-fw/rendered/default.yaml", "firewall.toml");
    assert_policy_valid("deploy/helm/dpu-fw/rendered/dpf.yaml", "firewall.toml");
}

#[test]
fn dpf_object_policies_are_valid() {
    assert_policy_valid("deploy/dpf/dpudeployment.yaml", "policy");
    assert_policy_valid("deploy/dpf/dpuservice.yaml", "policy");
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
        "deploy/helm/dpu-fw/rendered/default.yaml",
        "deploy/helm/dpu-fw/rendered/dpf.yaml",
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
