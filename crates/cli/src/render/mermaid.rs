//! `graph --format mermaid`: a Mermaid flowchart.
//!
//! Tasks are rectangles, Gates `{rhombi}`, Externals `[/parallelograms/]`, Groups
//! `subgraph … end` blocks around their members; soft edges are `-.->`. Mermaid
//! ids allow only `[A-Za-z0-9_]` and trip over keywords such as `end`, so ids are
//! sanitised (and kept unique); labels are quoted with entity codes for `"`, `<`, `>` …

use std::collections::HashSet;
use std::fmt::Write as _;

use super::{Shape, View};
use crate::term::{escape_char, is_unsafe};

/// The Mermaid source.
pub fn render(view: &View) -> String {
    let ids = mermaid_ids(view);
    let mut out = String::from("flowchart TD\n");
    // Depths of the subgraphs currently open.
    let mut open: Vec<usize> = Vec::new();
    for (i, depth) in view.nesting() {
        close_until(&mut out, &mut open, depth);
        let node = &view.nodes[i];
        let pad = "  ".repeat(depth + 1);
        let text = label(node);
        if node.shape == Shape::Group && !view.members[i].is_empty() {
            let _ = writeln!(out, "{pad}subgraph {}[\"{text}\"]", ids[i]);
            open.push(depth);
            continue;
        }
        let shaped = match node.shape {
            Shape::Task => format!("[\"{text}\"]"),
            Shape::Gate => format!("{{\"{text}\"}}"),
            Shape::External => format!("[/\"{text}\"/]"),
            Shape::SubPlan => format!("[[\"{text}\"]]"),
            Shape::Placeholder => format!("([\"{text}\"])"),
            Shape::Group => format!("[[\"{text}\"]]"),
        };
        let _ = writeln!(out, "{pad}{}{shaped}", ids[i]);
    }
    close_until(&mut out, &mut open, 0);
    for e in &view.edges {
        let arrow = if e.soft { "-.->" } else { "-->" };
        match e.label() {
            Some(label) => {
                let _ = writeln!(out, "  {} {arrow}|{label}| {}", ids[e.from], ids[e.to]);
            }
            None => {
                let _ = writeln!(out, "  {} {arrow} {}", ids[e.from], ids[e.to]);
            }
        }
    }
    out
}

/// Writes `end` for the subgraphs at `depth` or deeper.
fn close_until(out: &mut String, open: &mut Vec<usize>, depth: usize) {
    while let Some(&d) = open.last() {
        if d < depth {
            break;
        }
        open.pop();
        let _ = writeln!(out, "{}end", "  ".repeat(d + 1));
    }
}

/// `name<br/>(id)`, or the id alone, escaped.
fn label(node: &super::ViewNode) -> String {
    match &node.name {
        Some(name) if name != &node.id => format!("{}<br/>({})", escape(name), escape(&node.id)),
        _ => escape(&node.id),
    }
}

/// Words Mermaid reads as syntax when used as a node id.
const RESERVED: &[&str] = &[
    "end",
    "graph",
    "subgraph",
    "flowchart",
    "direction",
    "style",
    "class",
    "classdef",
    "click",
    "linkstyle",
    "call",
    "href",
    "default",
];

/// A safe, unique Mermaid id for every node.
fn mermaid_ids(view: &View) -> Vec<String> {
    let mut used = HashSet::new();
    view.nodes
        .iter()
        .map(|node| {
            let mut id: String = node
                .id
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let clashes = id.is_empty()
                || id.starts_with(|c: char| c.is_ascii_digit())
                || RESERVED.contains(&id.to_ascii_lowercase().as_str());
            if clashes {
                id.insert_str(0, "n_");
            }
            let mut unique = id.clone();
            let mut n = 2;
            while !used.insert(unique.clone()) {
                unique = format!("{id}_{n}");
                n += 1;
            }
            unique
        })
        .collect()
}

/// Text for inside a `"…"` label: Mermaid entity codes for the characters it would
/// parse; other control characters as visible escapes (`\x1b`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_unsafe(c) => escape_char(c, &mut out),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::sample;
    use crate::render::{ViewEdge, ViewNode};

    #[test]
    fn draws_shapes_subgraphs_and_soft_edges() {
        let m = render(&sample());
        assert!(m.starts_with("flowchart TD\n"), "{m}");
        assert!(
            m.contains("  approve{\"Release approval<br/>(approve)\"}\n"),
            "{m}"
        );
        assert!(
            m.contains("  vendor[/\"Vendor #lt;ready#gt;<br/>(vendor)\"/]\n"),
            "{m}"
        );
        assert!(
            m.contains("  build[\"Build #quot;app#quot;<br/>(build)\"]\n"),
            "{m}"
        );
        assert!(
            m.contains("  subgraph checks[\"Quality checks<br/>(checks)\"]\n    test["),
            "{m}"
        );
        assert!(m.contains("    lint[\"lint\"]\n  end\n"), "{m}");
        assert!(m.contains("  vendor -.-> deploy\n"), "{m}");
        assert!(m.contains("  build --> test\n"), "{m}");
        assert_eq!(m.matches("subgraph").count(), m.matches("  end\n").count());
    }

    #[test]
    fn conditional_edges_carry_their_condition() {
        let node = |id: &str| ViewNode {
            id: id.into(),
            shape: Shape::Task,
            name: None,
            group: None,
        };
        let edge = |to, on| ViewEdge {
            from: 0,
            to,
            soft: false,
            on,
        };
        let view = View::new(
            "p",
            vec![node("deploy"), node("rollback"), node("notify")],
            vec![
                edge(1, Some(planspec_model::EdgeCondition::Failure)),
                edge(2, Some(planspec_model::EdgeCondition::Success)),
            ],
        );
        let m = render(&view);
        assert!(m.contains("  deploy -->|on failure| rollback\n"), "{m}");
        assert!(m.contains("  deploy --> notify\n"), "{m}");
        let dot = crate::render::dot::render(&view);
        assert!(dot.contains("label=\"on failure\""), "{dot}");
    }

    #[test]
    fn control_characters_never_reach_the_output() {
        assert_eq!(escape("a\u{1b}[2J\u{7}b\nc"), "a\\x1b[2J\\x07b c");
        let view = View::new(
            "p",
            vec![ViewNode {
                id: "a".into(),
                shape: Shape::Task,
                name: Some("\u{1b}]0;pwned\u{7}".into()),
                group: None,
            }],
            vec![],
        );
        let m = render(&view);
        assert!(!m.chars().any(|c| c.is_control() && c != '\n'), "{m:?}");
        assert!(m.contains("a[\"\\x1b]0;pwned\\x07<br/>(a)\"]"), "{m}");
    }

    #[test]
    fn ids_are_sanitised_and_unique() {
        let node = |id: &str| ViewNode {
            id: id.into(),
            shape: Shape::Task,
            name: None,
            group: None,
        };
        let view = View::new(
            "p",
            vec![node("end"), node("a-b"), node("a_b"), node("9lives")],
            vec![ViewEdge {
                from: 0,
                to: 1,
                soft: false,
                on: None,
            }],
        );
        assert_eq!(
            mermaid_ids(&view),
            vec!["n_end", "a_b", "a_b_2", "n_9lives"]
        );
        let m = render(&view);
        assert!(m.contains("  n_end --> a_b\n"), "{m}");
        assert!(m.contains("  n_end[\"end\"]\n"), "{m}");
    }
}
