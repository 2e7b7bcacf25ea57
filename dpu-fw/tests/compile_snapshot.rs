//! Snapshots of the demo policy's plans (both targets): every pipe and entry, in a text
//! form, compared with `tests/snapshots/*.plan`. A change to the compiler that changes a
//! plan shows up here as a readable diff. Regenerate with `UPDATE_SNAPSHOTS=1`.

use std::fmt::Write as _;
use std::path::Path;

use dpu_fw::compile::{Plan, PlanFwd, PlanMatch, Target, compile};
use dpu_fw::demo;

fn fwd(plan: &Plan, f: PlanFwd) -> String {
    match f {
        PlanFwd::Pipe(i) => format!("pipe {}", plan.pipes[i].name),
        PlanFwd::Port(id) => format!("port {}", plan.port_name(id).unwrap_or("?")),
        PlanFwd::Drop => "drop".into(),
        PlanFwd::Software => "software".into(),
    }
}

fn render(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "target {}", plan.target);
    for p in &plan.ports {
        let _ = writeln!(s, "port {} = {}", p.name, p.id);
    }
    let _ = writeln!(s, "stats {}", plan.stats());
    for p in &plan.pipes {
        let miss = p.fwd_miss.map_or("-".to_string(), |f| fwd(plan, f));
        let hit = p
            .kind
            .hit()
            .map_or(String::new(), |h| format!(", hit -> {}", fwd(plan, h)));
        let _ = writeln!(
            s,
            "\npipe {} ({}){hit}, miss -> {miss}",
            p.name,
            p.kind.name()
        );
        for e in &p.entries {
            let rule = e
                .rule
                .map_or("-".to_string(), |r| plan.rules[r as usize].clone());
            let m = match &e.matcher {
                PlanMatch::Acl(a) => format!(
                    "prio {} {} -> {} sport {}-{} dport {}-{} proto {:?}",
                    a.priority,
                    a.src,
                    a.dst,
                    a.src_port.lo(),
                    a.src_port.hi(),
                    a.dst_port.lo(),
                    a.dst_port.hi(),
                    a.proto
                ),
                PlanMatch::Control {
                    priority,
                    matcher,
                    mask,
                } => format!("prio {priority} match {matcher:?} mask {mask:?}"),
                PlanMatch::Prefix { field, addr, len } => {
                    format!("{field:?} {addr:#x}/{len}")
                }
            };
            let _ = writeln!(
                s,
                "  [{rule}] {m} -> {}{}{}{}",
                fwd(plan, e.fwd),
                if e.counter { " +counter" } else { "" },
                e.meter.map_or(String::new(), |m| format!(" +meter {m:?}")),
                e.zone.map_or(String::new(), |z| format!(" +zone {z}"))
            );
        }
    }
    s
}

#[test]
fn demo_plans_match_their_snapshots() {
    let rules = demo::policy();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    for (name, target) in [
        ("demo_software.plan", Target::software()),
        ("demo_bluefield.plan", Target::bluefield()),
        (
            "demo_bluefield_1_level.plan",
            Target::bluefield().with_acl_levels(1),
        ),
    ] {
        let got = render(&compile(&rules, &target).unwrap());
        let path = dir.join(name);
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1)", path.display()));
        assert!(
            got == want,
            "{} differs from the compiled plan (UPDATE_SNAPSHOTS=1 to accept):\n{got}",
            path.display()
        );
    }
}
