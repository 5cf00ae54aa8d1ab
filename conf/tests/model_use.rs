//! Nothing in the model is accepted and ignored. The test walks every field of the model
//! (data/every-field.toml sets them all; serde itself says which fields each table has, so a
//! field added to the model and not to the fixture fails here) and asks of each: is it read by
//! the daemon (data/model-use.txt names the file, which must name the field), or is it one
//! tandem warns about (support::NOT_IMPLEMENTED, support::CHECK_GAPS) or refuses
//! (support::REFUSED), and does loading the fixture say so at that field?

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tandem_conf::support::{ALWAYS_ON, CHECK_GAPS, NOT_IMPLEMENTED, REFUSED};
use tandem_conf::{Check, Config, Options, Severity, load};
use toml::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(root().join("tests/data/every-field.toml")).unwrap();
    Value::Table(toml::from_str::<toml::Table>(&text).unwrap())
}

/// The fields serde expects in the table at `at` (concrete path segments), read from the
/// error a key no struct has provokes.
fn expected_fields(doc: &Value, at: &[Seg]) -> Vec<String> {
    let mut probe = doc.clone();
    let mut t = &mut probe;
    for s in at {
        t = match s {
            Seg::Key(k) => t.get_mut(k.as_str()).unwrap(),
            Seg::Index(i) => t.get_mut(*i).unwrap(),
        };
    }
    t.as_table_mut().unwrap().insert("zz_probe".into(), Value::Integer(1));
    let err = probe.try_into::<Config>().expect_err("a key no struct has").to_string();
    let after = err.split_once("expected").map(|(_, a)| a).unwrap_or("");
    let after = after.lines().next().unwrap_or("");
    after.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every leaf of `v`: (concrete path, normalized path, the tables on the way as segments).
fn walk(
    v: &Value,
    segs: &mut Vec<Seg>,
    concrete: String,
    normal: String,
    out: &mut Vec<Leaf>,
    tables: &mut Vec<Vec<Seg>>,
) {
    match v {
        Value::Table(t) => {
            tables.push(segs.clone());
            // A checker's fields sit under its type, as the support tables name them.
            let normal = match t.get("type").and_then(Value::as_str) {
                Some(kind) if normal.ends_with("check[]") => format!("{normal}.{kind}"),
                _ => normal,
            };
            for (k, item) in t {
                if k == "type" && normal.contains("check[].") {
                    continue;
                }
                segs.push(Seg::Key(k.clone()));
                let c = if concrete.is_empty() { k.clone() } else { format!("{concrete}.{k}") };
                let n = if normal.is_empty() { k.clone() } else { format!("{normal}.{k}") };
                walk(item, segs, c, n, out, tables);
                segs.pop();
            }
        }
        Value::Array(a) if a.iter().any(Value::is_table) => {
            for (i, item) in a.iter().enumerate() {
                segs.push(Seg::Index(i));
                walk(item, segs, format!("{concrete}[{i}]"), format!("{normal}[]"), out, tables);
                segs.pop();
            }
        }
        Value::Array(_) => out.push(Leaf { concrete, normal: format!("{normal}[]") }),
        _ => out.push(Leaf { concrete, normal }),
    }
}

struct Leaf {
    concrete: String,
    normal: String,
}

fn leaves() -> (Value, Vec<Leaf>, Vec<Vec<Seg>>) {
    let doc = fixture();
    let (mut out, mut tables) = (Vec::new(), Vec::new());
    walk(&doc, &mut Vec::new(), String::new(), String::new(), &mut out, &mut tables);
    (doc, out, tables)
}

/// The path of a table with its indices as `[]`.
fn normal(at: &[Seg]) -> String {
    at.iter()
        .map(|s| match s {
            Seg::Key(k) => format!(".{k}"),
            Seg::Index(_) => "[]".to_string(),
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

#[test]
fn the_fixture_sets_every_field_of_the_model() {
    let (doc, _, tables) = leaves();
    doc.clone().try_into::<Config>().expect("the fixture is the model");
    // Each kind of table (a path with `[]` for indices; a checker's by its type) must set
    // every field its struct has, in at least one of its instances.
    let mut present: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for at in &tables {
        let mut t = &doc;
        for s in at {
            t = match s {
                Seg::Key(k) => &t[k.as_str()],
                Seg::Index(i) => &t[*i],
            };
        }
        let table = t.as_table().unwrap();
        let kind = match table.get("type").and_then(Value::as_str) {
            Some(k) => format!("{} {k}", normal(at)),
            None => normal(at),
        };
        present.entry(kind.clone()).or_default().extend(table.keys().cloned());
        expected.entry(kind).or_default().extend(expected_fields(&doc, at).into_iter().filter(|f| f != "type"));
    }
    let mut missing = Vec::new();
    for (kind, fields) in &expected {
        for f in fields.difference(&present[kind]) {
            missing.push(format!("{kind}: {f}"));
        }
    }
    assert!(missing.is_empty(), "fields of the model every-field.toml does not set:\n{}", missing.join("\n"));
}

#[test]
fn every_field_is_read_by_the_daemon_or_said_to_be_ignored_or_refused() {
    let (_, leaves, _) = leaves();
    // path -> (file, the name the file reads it by)
    let uses: BTreeMap<String, (String, Option<String>)> =
        std::fs::read_to_string(root().join("tests/data/model-use.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.to_string(), (w.next()?.to_string(), w.next().map(str::to_string))))
            })
            .collect();
    let always: BTreeSet<&str> = ALWAYS_ON.iter().map(|g| g.path).collect();
    let mut gaps: BTreeSet<String> = NOT_IMPLEMENTED.iter().chain(REFUSED).map(|g| g.path.to_string()).collect();
    for (kind, g) in CHECK_GAPS {
        if *kind == "*" {
            for k in Check::KEYWORDS {
                gaps.insert(format!("virtual_server[].real_server[].check[].{k}.{}", g.path));
            }
        } else {
            gaps.insert(format!("virtual_server[].real_server[].check[].{kind}.{}", g.path));
        }
    }
    let report = load(&root().join("tests/data/every-field.toml"), &Options::default());
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for leaf in &leaves {
        seen.insert(leaf.normal.clone());
        // A gap covers the fields under it (`smtp_server` its host and port).
        let gap = gaps.iter().find(|g| leaf.normal == **g || leaf.normal.starts_with(&format!("{g}.")));
        if let Some(g) = gap {
            seen.insert(g.clone());
        }
        if let Some((file, name)) = uses.get(&leaf.normal) {
            if gap.is_some() || always.contains(leaf.normal.as_str()) {
                wrong.push(format!("{}: both read ({file}) and listed as not acted on", leaf.normal));
            }
            let field = leaf.normal.trim_end_matches("[]").rsplit('.').next().unwrap();
            let name = name.as_deref().unwrap_or(field);
            let source = std::fs::read_to_string(root().join("..").join(file)).unwrap_or_default();
            if !reads(&source, name) {
                wrong.push(format!("{}: {file} does not read `{name}` (as `.{name}` or in a pattern)", leaf.normal));
            }
        } else if always.contains(leaf.normal.as_str()) {
        } else if gap.is_some() {
            // Said where it is set, or at the table or list that holds it.
            let mut at = leaf.concrete.as_str();
            let mut spans = vec![report.map.exact(at)];
            while let Some(cut) = at.rfind(['.', '[']) {
                at = &at[..cut];
                spans.push(report.map.exact(at));
            }
            let said = report.diagnostics.iter().any(|d| {
                d.span.is_some()
                    && spans.contains(&d.span)
                    && (d.message.contains("not implemented by tandem")
                        || (d.severity == Severity::Error && d.message.contains("not supported by tandem run")))
            });
            if !said {
                wrong.push(format!("{}: ignored, and loading does not say so at {}", leaf.normal, leaf.concrete));
            }
        } else {
            wrong.push(format!("{}: read by no code and warned by nothing", leaf.normal));
        }
    }
    let always_owned: Vec<String> = always.iter().map(|a| a.to_string()).collect();
    for p in uses.keys().chain(gaps.iter()).chain(always_owned.iter()) {
        if !seen.contains(p) {
            wrong.push(format!("{p}: listed, but no field of the model has this path"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// True when `source` reads `name` as a field or method (`.name`, not `.name_more`) or binds
/// it in a struct pattern (`name,` `name:` `name }`): a bare mention in a comment or in
/// another identifier does not count.
fn reads(source: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    source.match_indices(name).any(|(i, _)| {
        let before = source[..i].chars().next_back();
        let after = source[i + name.len()..].chars().next();
        if before.is_some_and(ident) || after.is_some_and(ident) {
            return false;
        }
        let rest = source[i + name.len()..].trim_start();
        before == Some('.') || rest.starts_with([',', '}']) || (rest.starts_with(':') && !rest.starts_with("::"))
    })
}
