use planspec_validate::load::{parse, Limits};
use planspec_validate::tree::{Node, Value};
use planspec_validate::{SourceFile, SourceId};

fn dump(f: &SourceFile, n: &Node, ind: usize, out: &mut String) {
    let t = &f.text[n.span.start as usize..n.span.end as usize];
    match &n.value {
        Value::Seq(items) => {
            out.push_str(&format!("{:ind$}SEQ {:?}\n", "", t, ind = ind));
            for i in items {
                dump(f, i, ind + 2, out)
            }
        }
        Value::Map(es) => {
            out.push_str(&format!("{:ind$}MAP {:?}\n", "", t, ind = ind));
            for e in es {
                out.push_str(&format!(
                    "{:ind$}KEY {:?} @{:?}\n",
                    "",
                    e.key,
                    &f.text[e.key_span.start as usize..e.key_span.end as usize],
                    ind = ind + 1
                ));
                dump(f, &e.value, ind + 2, out)
            }
        }
        v => out.push_str(&format!("{:ind$}{:?} {:?}\n", "", v, t, ind = ind)),
    }
}

#[test]
fn scratch() {
    let text = std::fs::read_to_string(std::env::var("SCRATCH").unwrap()).unwrap();
    let f = SourceFile::new("x", text);
    let mut d = Vec::new();
    let docs = parse(SourceId(0), &f, &Limits::default(), &mut d);
    let mut out = String::new();
    for n in &docs {
        out.push_str("---\n");
        dump(&f, n, 0, &mut out)
    }
    for x in &d {
        let lc = x.span.map(|s| f.line_col(s.start));
        out.push_str(&format!(
            "DIAG {:?} {:?} {} {:?} {:?} path={:?} rel={:?}\n",
            x.code,
            lc,
            x.message,
            x.span.map(|s| &f.text[s.start as usize..s.end as usize]),
            x.hint,
            x.path,
            x.related
                .iter()
                .map(|r| f.line_col(r.span.start))
                .collect::<Vec<_>>()
        ))
    }
    println!("{out}");
}
