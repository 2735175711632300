//! `--json` output checked against docs/json.md: the tables there are the schema.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use serde_json::Value;

use crate::util::{Fixture, json_events};

/// A documented field: its type and whether it may be absent.
struct Field {
    kind: String,
    optional: bool,
}

/// Event kind → fields, read from the `## \`kind\`` sections and their tables.
fn documented() -> BTreeMap<String, BTreeMap<String, Field>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/json.md"))
        .unwrap();
    let mut schema: BTreeMap<String, BTreeMap<String, Field>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## `") {
            let kind = heading.split('`').next().unwrap().to_owned();
            schema.insert(kind.clone(), BTreeMap::new());
            current = Some(kind);
        } else if let (Some(kind), Some(row)) = (&current, line.strip_prefix("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let name = cells[0].trim_end_matches('`').to_owned();
            let kind_cell = cells[1].trim();
            let field = Field {
                kind: kind_cell.split(',').next().unwrap().to_owned(),
                optional: kind_cell.ends_with(", optional"),
            };
            schema.get_mut(kind).unwrap().insert(name, field);
        }
    }
    schema
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "bool" => value.is_boolean(),
        other => panic!("docs/json.md uses an unknown type {other:?}"),
    }
}

/// Checks each event against the schema; returns the kinds seen.
fn check(events: &[Value], schema: &BTreeMap<String, BTreeMap<String, Field>>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for event in events {
        let object = event.as_object().unwrap();
        let kind = object["event"].as_str().unwrap();
        let fields = schema
            .get(kind)
            .unwrap_or_else(|| panic!("event {kind:?} is not in docs/json.md: {event}"));
        for (name, value) in object {
            if name == "event" {
                continue;
            }
            let field = fields
                .get(name)
                .unwrap_or_else(|| panic!("{kind}.{name} is not in docs/json.md: {event}"));
            assert!(
                has_type(value, &field.kind),
                "{kind}.{name} should be {}: {event}",
                field.kind
            );
        }
        for (name, field) in fields {
            assert!(
                field.optional || object.contains_key(name),
                "{kind} lacks {name}: {event}"
            );
        }
        seen.insert(kind.to_owned());
    }
    assert_eq!(events.first().unwrap()["event"], "scan", "{events:?}");
    assert_eq!(events.last().unwrap()["event"], "summary");
    seen
}

/// Incompressible bytes: a link fault after N bytes must still find N bytes to cut, now that
/// remote runs compress whatever compresses.
fn noise(len: usize) -> Vec<u8> {
    crate::remote::noise(len, 7)
}

#[test]
fn json_output_matches_docs_json_md() {
    let schema = documented();
    assert!(
        schema.len() >= 7,
        "too few events documented: {:?}",
        schema.keys()
    );
    let mut seen = BTreeSet::new();
    let f = Fixture::new();
    f.write("src/a", "abc");
    f.write(OsStr::from_bytes(b"src/\xff"), "x");
    f.write("src/big", noise(1 << 20));
    f.symlink("a", "src/l");
    f.mkdir("src/d");
    f.write("dst/extra", "e");
    f.write("dst/blocked/inner", "i");
    f.write("src/blocked", "file in the way of a directory");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        f.path("src/p"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let run = |args: &[&str]| {
        f.sy()
            .args(args)
            .arg(f.src_slash())
            .arg(f.dst())
            .output()
            .unwrap()
    };
    let out = run(&["--json", "-n"]);
    seen.extend(check(&json_events(&out), &schema));
    let out = run(&["--json"]);
    assert_eq!(out.status.code(), Some(23));
    let events = json_events(&out);
    seen.extend(check(&events, &schema));
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "file" && e["path_hex"] == "ff")
    );
    std::fs::remove_dir_all(f.path("dst/blocked")).unwrap();
    let mut big = noise(1 << 20);
    big[1000] ^= 1;
    f.write("src/big", big);
    let out = run(&["--json", "--no-whole-file", "--delete"]);
    assert_eq!(out.status.code(), Some(0));
    let events = json_events(&out);
    seen.extend(check(&events, &schema));
    let update = events
        .iter()
        .find(|e| e["event"] == "file" && e["path"] == "big")
        .unwrap();
    assert_eq!(update["action"], "update");
    assert!(
        update["bytes_matched"].as_u64().unwrap() > 900_000,
        "{update}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "start" && e["path"] == "big")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "skip" && e["path"] == "a" && e["reason"] == "unchanged")
    );
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "delete" && e["path"] == "extra")
    );
    let out = crate::remote::push(&f, &["--json", "-z"]);
    let events = json_events(&out);
    seen.extend(check(&events, &schema));
    assert!(events.last().unwrap()["wire_bytes_sent"].as_u64().unwrap() > 0);
    // A link that drops once: `retry`.
    let g = Fixture::new();
    g.write("src/big", noise(1 << 20));
    let out = crate::faults::relayed_sy(&g, "drop:300000")
        .args(["--json", "--retry-delay", "0"])
        .arg(g.src_slash())
        .arg(crate::faults::remote_dst(&g))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events = json_events(&out);
    seen.extend(check(&events, &schema));
    assert!(events.iter().any(|e| e["event"] == "retry"), "{events:#?}");
    let documented: BTreeSet<String> = schema.into_keys().collect();
    assert_eq!(
        seen, documented,
        "documented events never seen in real runs"
    );
}
