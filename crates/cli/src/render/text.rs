//! `graph --format text`: the plan as topological layers, for a terminal.
//!
//! ```text
//! Plan release-v2 · 7 nodes · 6 edges (1 soft) · 4 layers
//!
//!  1 │ □ build    Build application
//!    │ ▣ checks   Quality checks        (2 members)
//!    │ ⬡ vendor   Vendor sign-off
//!  2 │ □ test     Run tests             ← build  ▣ checks
//!    │ □ lint                           ← build  ▣ checks
//!  3 │ ◇ approve  Release approval      ← test, lint
//!  4 │ □ deploy   Deploy to production  ← approve ┄ vendor
//!
//! Groups
//!   ▣ checks  Quality checks: test, lint
//!
//! □ task  ◇ gate  ▣ group  ⬡ external  ← depends on  ┄ soft (advisory)
//! ```
//!
//! Every dependency points to an earlier layer; a node's layer is the length of
//! the longest chain leading to it. Long lists are cut with a `+N` count so a
//! line stays readable at any size.

use super::{Shape, View};
use crate::term::{pad, plural, styles, truncate, width, Term};

/// Ids wider than this do not widen the id column.
const MAX_ID_COLUMN: usize = 32;
/// Names are cut to this many characters.
const MAX_NAME_COLUMN: usize = 40;
/// Dependencies listed per line, per kind, before `+N`.
const MAX_DEPS: usize = 6;
/// Members listed per group before `+N`.
const MAX_MEMBERS: usize = 12;

/// The glyphs of one kind, Unicode and ASCII.
fn marker(shape: Shape, term: Term) -> String {
    let (glyph, style) = match shape {
        Shape::Task => (term.glyph("□", "[T]"), styles::strong()),
        Shape::Gate => (term.glyph("◇", "<G>"), styles::gate()),
        Shape::Group => (term.glyph("▣", "[#]"), styles::group()),
        Shape::External => (term.glyph("⬡", "(E)"), styles::external()),
        Shape::SubPlan => (term.glyph("⧉", "[P]"), styles::strong()),
        Shape::Placeholder => (term.glyph("◌", "(?)"), styles::external()),
    };
    term.paint(glyph, style)
}

/// The whole drawing.
pub fn render(view: &View, term: Term) -> String {
    let mut out = header(view, term);
    out.push('\n');
    out.push_str(&rows(view, term));
    let groups = groups(view, term);
    if !groups.is_empty() {
        out.push('\n');
        out.push_str(&groups);
    }
    out.push('\n');
    out.push_str(&legend(view, term));
    out
}

/// `Plan release-v2 · 7 nodes · 6 edges (1 soft) · 4 layers`.
fn header(view: &View, term: Term) -> String {
    let dot = term.glyph("·", "-");
    let soft = view.soft_edges();
    let mut edges = plural(view.edges.len(), "edge", "edges");
    if soft > 0 {
        edges.push_str(&format!(" ({soft} soft)"));
    }
    let layers = view.layers.len() - usize::from(view.cyclic);
    format!(
        "Plan {} {dot} {} {dot} {edges} {dot} {}\n",
        term.paint(&view.plan, styles::strong()),
        plural(view.nodes.len(), "node", "nodes"),
        plural(layers, "layer", "layers"),
    )
}

/// One row per node, layer by layer.
fn rows(view: &View, term: Term) -> String {
    let deps = view.dependencies();
    let id_width = view
        .nodes
        .iter()
        .map(|n| width(&n.id))
        .filter(|&w| w <= MAX_ID_COLUMN)
        .max()
        .unwrap_or(0);
    let name_width = view
        .nodes
        .iter()
        .map(|n| n.name.as_deref().map_or(0, width).min(MAX_NAME_COLUMN))
        .max()
        .unwrap_or(0);
    let gutter = view.layers.len().to_string().len();
    let bar = term.paint(term.glyph("│", "|"), styles::dim());
    let arrow = term.paint(term.glyph("←", "<-"), styles::dim());
    let tilde = term.paint(term.glyph("┄", "~"), styles::dim());

    let mut out = String::new();
    for (l, layer) in view.layers.iter().enumerate() {
        let on_cycle = view.cyclic && l + 1 == view.layers.len();
        for (k, &i) in layer.iter().enumerate() {
            let node = &view.nodes[i];
            let label = match (k, on_cycle) {
                (0, false) => format!("{:>gutter$}", l + 1),
                (0, true) => format!("{:>gutter$}", "!"),
                _ => " ".repeat(gutter),
            };
            let mut line = format!(
                " {} {bar} {} {}",
                term.paint(label, styles::dim()),
                marker(node.shape, term),
                term.paint(pad(&node.id, id_width), styles::strong()),
            );
            if name_width > 0 {
                let name = truncate(
                    node.name.as_deref().unwrap_or(""),
                    MAX_NAME_COLUMN,
                    term.unicode,
                );
                line.push_str("  ");
                line.push_str(&pad(&name, name_width));
            }
            let (hard, soft) = &deps[i];
            let mut tail = Vec::new();
            if node.shape == Shape::Group {
                tail.push(term.paint(
                    format!("({})", plural(view.members[i].len(), "member", "members")),
                    styles::dim(),
                ));
            }
            let mut edges = Vec::new();
            if !hard.is_empty() {
                edges.push(format!("{arrow} {}", list(view, hard, MAX_DEPS)));
            }
            if !soft.is_empty() {
                edges.push(format!("{tilde} {}", list(view, soft, MAX_DEPS)));
            }
            if !edges.is_empty() {
                tail.push(edges.join(" "));
            }
            let conditional: Vec<String> = view
                .edges
                .iter()
                .filter(|e| e.to == i)
                .filter_map(|e| Some(format!("{} {}", e.label()?, view.nodes[e.from].id)))
                .collect();
            if !conditional.is_empty() {
                tail.push(term.paint(format!("({})", conditional.join(", ")), styles::dim()));
            }
            if let Some(g) = node.group {
                tail.push(term.paint(
                    format!("{} {}", term.glyph("▣", "in"), view.nodes[g].id),
                    styles::group(),
                ));
            }
            if !tail.is_empty() {
                line.push_str("  ");
                line.push_str(&tail.join("  "));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// `a, b, c +4`: at most `max` ids, then how many more.
fn list(view: &View, nodes: &[usize], max: usize) -> String {
    let mut text = nodes
        .iter()
        .take(max)
        .map(|&i| view.nodes[i].id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if nodes.len() > max {
        text.push_str(&format!(" +{}", nodes.len() - max));
    }
    text
}

/// `Groups` and a line per group with its members; empty without groups.
fn groups(view: &View, term: Term) -> String {
    let group_rows: Vec<(usize, usize)> = view
        .nesting()
        .into_iter()
        .filter(|&(i, _)| view.nodes[i].shape == Shape::Group)
        .collect();
    if group_rows.is_empty() {
        return String::new();
    }
    let mut out = format!("{}\n", term.paint("Groups", styles::strong()));
    for (g, depth) in group_rows {
        let node = &view.nodes[g];
        let mut line = format!(
            "{}{} {}",
            "  ".repeat(depth + 1),
            marker(Shape::Group, term),
            term.paint(&node.id, styles::strong())
        );
        if let Some(name) = &node.name {
            line.push_str("  ");
            line.push_str(&truncate(name, MAX_NAME_COLUMN, term.unicode));
        }
        line.push_str(": ");
        if view.members[g].is_empty() {
            line.push_str(&term.paint("no members", styles::dim()));
        } else {
            line.push_str(&list(view, &view.members[g], MAX_MEMBERS));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The key to the symbols.
fn legend(view: &View, term: Term) -> String {
    let mut parts = vec![
        format!("{} task", marker(Shape::Task, term)),
        format!("{} gate", marker(Shape::Gate, term)),
        format!("{} group", marker(Shape::Group, term)),
        format!("{} external", marker(Shape::External, term)),
        format!("{} sub-plan", marker(Shape::SubPlan, term)),
        format!("{} placeholder", marker(Shape::Placeholder, term)),
        format!("{} depends on", term.glyph("←", "<-")),
        format!("{} soft (advisory)", term.glyph("┄", "~")),
    ];
    if view.cyclic {
        parts.push("! not layered: the graph has a cycle (invalid)".to_string());
    }
    format!("{}\n", term.paint(parts.join("  "), styles::dim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::sample;

    #[test]
    fn draws_layers_dependencies_groups_and_legend() {
        let text = render(&sample(), Term::plain());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Plan release-v2 · 7 nodes · 6 edges (1 soft) · 4 layers"
        );
        let row = |id: &str| {
            *lines
                .iter()
                .find(|l| {
                    l.split_whitespace().nth(3) == Some(id)
                        || l.split_whitespace().nth(2) == Some(id)
                })
                .unwrap_or_else(|| panic!("no row for {id} in\n{text}"))
        };
        assert!(row("build").starts_with(" 1 │ □ build"), "{text}");
        assert!(row("approve").contains("◇ approve"), "{text}");
        assert!(row("approve").contains("← test, lint"), "{text}");
        assert!(row("deploy").contains("← approve ┄ vendor"), "{text}");
        assert!(row("vendor").contains("⬡ vendor"), "{text}");
        assert!(row("checks").contains("(2 members)"), "{text}");
        assert!(row("test").ends_with("▣ checks"), "{text}");
        assert!(
            text.contains("\nGroups\n  ▣ checks  Quality checks: test, lint\n"),
            "{text}"
        );
        assert!(lines
            .last()
            .unwrap()
            .starts_with("□ task  ◇ gate  ▣ group  ⬡ external"));
    }

    #[test]
    fn ascii_has_no_unicode() {
        let term = Term {
            color: false,
            unicode: false,
        };
        let text = render(&sample(), term);
        assert!(text.is_ascii(), "{text}");
        assert!(text.contains("<G> approve"), "{text}");
        assert!(text.contains("<- approve ~ vendor"), "{text}");
    }

    #[test]
    fn long_lists_are_cut() {
        use crate::render::{ViewEdge, ViewNode};
        let mut nodes: Vec<ViewNode> = (0..20)
            .map(|i| ViewNode {
                id: format!("n{i}"),
                shape: Shape::Task,
                name: None,
                group: None,
            })
            .collect();
        nodes.push(ViewNode {
            id: "sink".into(),
            shape: Shape::Task,
            name: None,
            group: None,
        });
        let edges = (0..20)
            .map(|i| ViewEdge {
                from: i,
                to: 20,
                soft: false,
                on: None,
            })
            .collect();
        let text = render(&View::new("wide", nodes, edges), Term::plain());
        assert!(text.contains("← n0, n1, n2, n3, n4, n5 +14"), "{text}");
    }
}
