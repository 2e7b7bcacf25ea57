//! A Graphviz drawing of a [`Plan`]'s pipeline: pipes as boxes, ports and drop as ellipses,
//! entry forwards as solid edges (labelled with the number of entries), misses dashed.

use core::fmt::Write as _;
use std::collections::BTreeMap;

use super::plan::{Plan, PlanFwd};

fn node(plan: &Plan, f: PlanFwd) -> String {
    match f {
        PlanFwd::Pipe(i) => format!("pipe{i}"),
        PlanFwd::Port(id) => format!("port{id}"),
        PlanFwd::Drop => "drop".into(),
        PlanFwd::Software => {
            let _ = plan;
            "software".into()
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The plan as a Graphviz `digraph` (render with `dot -Tsvg`).
pub fn to_dot(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph plan {{");
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [fontname=\"monospace\", fontsize=10];");
    for (i, p) in plan.pipes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  pipe{i} [shape=box, label=\"{}\\n{} pipe, {} entries\"];",
            escape(&p.name),
            p.kind.name(),
            p.entries.len()
        );
    }
    for port in &plan.ports {
        let _ = writeln!(
            out,
            "  port{} [shape=ellipse, label=\"port {} ({})\"];",
            port.id,
            escape(&port.name),
            port.id
        );
    }
    let _ = writeln!(out, "  drop [shape=octagon, label=\"drop\"];");
    let _ = writeln!(out, "  software [shape=ellipse, label=\"software (RSS)\"];");
    for (i, p) in plan.pipes.iter().enumerate() {
        let mut edges: BTreeMap<String, usize> = BTreeMap::new();
        for e in &p.entries {
            *edges.entry(node(plan, e.fwd)).or_default() += 1;
        }
        for (to, n) in edges {
            let _ = writeln!(out, "  pipe{i} -> {to} [label=\"{n}\"];");
        }
        if let Some(h) = p.kind.hit() {
            let _ = writeln!(
                out,
                "  pipe{i} -> {} [style=bold, label=\"connection hit\"];",
                node(plan, h)
            );
        }
        if let Some(m) = p.fwd_miss {
            let _ = writeln!(
                out,
                "  pipe{i} -> {} [style=dashed, label=\"miss\"];",
                node(plan, m)
            );
        }
    }
    let _ = writeln!(out, "}}");
    out
}
