//! `graph --format dot`: Graphviz DOT.
//!
//! Tasks are rounded boxes, Gates diamonds, Externals parallelograms; a Group is a
//! `subgraph "cluster_<id>"` holding its members (edges to or from a group attach
//! to its cluster through `lhead`/`ltail`); soft edges are dashed. Every id and
//! label is quoted and escaped.

use std::fmt::Write as _;

use super::{Shape, View};
use crate::term::{escape_char, is_unsafe};

/// The DOT source.
pub fn render(view: &View) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&view.plan));
    out.push_str("  graph [rankdir=TB, compound=true, fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");

    let anchor = anchors(view);
    // Depths of the clusters currently open; a node closes those at its depth or deeper.
    let mut open: Vec<usize> = Vec::new();
    for (i, depth) in view.nesting() {
        close_until(&mut out, &mut open, depth);
        let node = &view.nodes[i];
        let pad = indent(depth + 1);
        if node.shape == Shape::Group && anchor[i].is_some() {
            let _ = writeln!(
                out,
                "{pad}subgraph {} {{",
                quote(&format!("cluster_{}", node.id))
            );
            let _ = writeln!(out, "{pad}  label={};", quote(&label(node)));
            let _ = writeln!(out, "{pad}  style=\"rounded,dashed\";");
            let _ = writeln!(out, "{pad}  color=\"#4a6fa5\";");
            open.push(depth);
            continue;
        }
        let shape = match node.shape {
            Shape::Task => "",
            Shape::Gate => ", shape=diamond, style=\"\"",
            Shape::External => ", shape=parallelogram, style=\"\"",
            Shape::SubPlan => ", shape=component, style=\"\"",
            Shape::Placeholder => ", shape=note, style=\"dashed\"",
            // A group without members is drawn as a node of its own.
            Shape::Group => ", shape=box3d, style=\"\"",
        };
        let _ = writeln!(
            out,
            "{pad}{} [label={}{shape}];",
            quote(&node.id),
            quote(&label(node))
        );
    }
    close_until(&mut out, &mut open, 0);

    for e in &view.edges {
        let mut attrs = Vec::new();
        let from = match anchor[e.from] {
            Some(a) if view.nodes[e.from].shape == Shape::Group => {
                attrs.push(format!(
                    "ltail={}",
                    quote(&format!("cluster_{}", view.nodes[e.from].id))
                ));
                a
            }
            _ => e.from,
        };
        let to = match anchor[e.to] {
            Some(a) if view.nodes[e.to].shape == Shape::Group => {
                attrs.push(format!(
                    "lhead={}",
                    quote(&format!("cluster_{}", view.nodes[e.to].id))
                ));
                a
            }
            _ => e.to,
        };
        if e.soft {
            attrs.push("style=dashed".into());
        }
        if let Some(label) = e.label() {
            attrs.push(format!("label={}", quote(&label)));
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(
            out,
            "  {} -> {}{attrs};",
            quote(&view.nodes[from].id),
            quote(&view.nodes[to].id)
        );
    }
    out.push_str("}\n");
    out
}

/// Closes the open clusters at `depth` or deeper.
fn close_until(out: &mut String, open: &mut Vec<usize>, depth: usize) {
    while let Some(&d) = open.last() {
        if d < depth {
            break;
        }
        open.pop();
        let _ = writeln!(out, "{}}}", indent(d + 1));
    }
}

/// For each group, a non-group node drawn inside its cluster (edges to the group
/// attach there); `None` for groups with no such node. For other nodes, themselves.
fn anchors(view: &View) -> Vec<Option<usize>> {
    let n = view.nodes.len();
    let mut anchor: Vec<Option<usize>> = (0..n)
        .map(|i| (view.nodes[i].shape != Shape::Group).then_some(i))
        .collect();
    // Walk the nesting backwards: members come after their group, so each group
    // sees its members' anchors settled. Linear, and safe on group cycles.
    let nesting = view.nesting();
    for &(i, _) in nesting.iter().rev() {
        if view.nodes[i].shape == Shape::Group {
            anchor[i] = view.members[i].iter().find_map(|&m| anchor[m]);
        }
    }
    anchor
}

/// `name\n(id)`, or the id alone.
fn label(node: &super::ViewNode) -> String {
    match &node.name {
        Some(name) if name != &node.id => format!("{name}\n({})", node.id),
        _ => node.id.clone(),
    }
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

/// A DOT double-quoted string. Other control characters are written as visible
/// escapes (`\x1b` shows as such in the drawing), never passed through.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if is_unsafe(c) => {
                let mut escaped = String::new();
                escape_char(c, &mut escaped);
                out.push_str(&escaped.replace('\\', "\\\\"));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::sample;

    #[test]
    fn draws_shapes_clusters_and_soft_edges() {
        let dot = render(&sample());
        assert!(dot.starts_with("digraph \"release-v2\" {\n"), "{dot}");
        assert!(dot.trim_end().ends_with('}'));
        assert!(
            dot.contains("\"approve\" [label=\"Release approval\\n(approve)\", shape=diamond"),
            "{dot}"
        );
        assert!(
            dot.contains("\"vendor\" [label=\"Vendor <ready>\\n(vendor)\", shape=parallelogram"),
            "{dot}"
        );
        assert!(
            dot.contains("\"build\" [label=\"Build \\\"app\\\"\\n(build)\"]"),
            "{dot}"
        );
        assert!(dot.contains("subgraph \"cluster_checks\" {"), "{dot}");
        assert!(
            dot.contains("\"vendor\" -> \"deploy\" [style=dashed];"),
            "{dot}"
        );
        assert!(dot.contains("\"build\" -> \"test\";"), "{dot}");
        // Members sit inside the cluster: between its opening and the next closing brace.
        let open = dot.find("subgraph \"cluster_checks\"").unwrap();
        let close = open + dot[open..].find("\n  }\n").unwrap();
        assert!(dot[open..close].contains("\"test\" [label="));
        assert!(dot[open..close].contains("\"lint\" [label="));
        assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    }

    #[test]
    fn edges_to_groups_attach_to_the_cluster() {
        use crate::render::{ViewEdge, ViewNode};
        let node = |id: &str, shape, group| ViewNode {
            id: id.into(),
            shape,
            name: None,
            group,
        };
        let view = View::new(
            "p",
            vec![
                node("a", Shape::Task, None),
                node("g", Shape::Group, None),
                node("b", Shape::Task, Some(1)),
                node("empty", Shape::Group, None),
            ],
            vec![
                ViewEdge {
                    from: 0,
                    to: 1,
                    soft: false,
                    on: None,
                },
                ViewEdge {
                    from: 1,
                    to: 3,
                    soft: true,
                    on: None,
                },
            ],
        );
        let dot = render(&view);
        assert!(
            dot.contains("\"a\" -> \"b\" [lhead=\"cluster_g\"];"),
            "{dot}"
        );
        assert!(
            dot.contains("\"b\" -> \"empty\" [ltail=\"cluster_g\", style=dashed];"),
            "{dot}"
        );
        assert!(
            dot.contains("\"empty\" [label=\"empty\", shape=box3d"),
            "{dot}"
        );
    }

    #[test]
    fn quotes_escape() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(quote("x\u{1b}[2J\u{7}"), "\"x\\\\x1b[2J\\\\x07\"");
    }

    #[test]
    fn control_characters_never_reach_the_output() {
        use crate::render::ViewNode;
        let view = View::new(
            "p\u{1b}]0;t\u{7}",
            vec![ViewNode {
                id: "a\u{1b}".into(),
                shape: Shape::Task,
                name: Some("\u{1b}[31mRED\u{9b}".into()),
                group: None,
            }],
            vec![],
        );
        let dot = render(&view);
        assert!(!dot.chars().any(|c| c.is_control() && c != '\n'), "{dot:?}");
        assert!(
            dot.contains("[label=\"\\\\x1b[31mRED\\\\x9b\\n(a\\\\x1b)\"]"),
            "{dot}"
        );
    }
}
