//! The layering of docs/ARCHITECTURE.md, checked on the source: each top-level module uses only
//! the modules below it, nothing outside `src/viewer` uses Bevy, nothing in `src/viewer` uses a
//! candle tensor, and the viewer's files import each other without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Floors from top to bottom; a module may use only modules of lower floors (`render` and
/// `spatial` share a floor and do not use each other).
const FLOORS: &[&[&str]] = &[
    &["cli"],
    &["viewer"],
    &["worker"],
    &["train"],
    &["eval"],
    &["model"],
    &["data"],
    &["questions"],
    &["render", "spatial"],
    &["scene"],
];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments (line comments and doc comments), so that prose naming
/// a module does not count as a use.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules a file names as `crate::m` (or `spatia::m` from the binary).
fn used_modules(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for prefix in ["crate::", "spatia::"] {
        for (i, _) in code.match_indices(prefix) {
            let before = code[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

fn src_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut files,
    );
    files
}

/// The top-level module of a file under `src/` (`None` for lib.rs, main.rs, test helpers).
fn module_of(path: &Path) -> Option<String> {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let rel = path.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    floor_of(name).map(|_| name.to_string())
}

#[test]
fn modules_use_only_the_floors_below_them() {
    let mut wrong = Vec::new();
    for path in src_files() {
        let Some(module) = module_of(&path) else {
            continue;
        };
        let own = floor_of(&module).unwrap();
        for used in used_modules(&code_of(&path)) {
            let Some(floor) = floor_of(&used) else {
                continue;
            };
            if used != module && floor <= own {
                wrong.push(format!("{} uses {used}", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways uses:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn bevy_stays_in_the_viewer_and_tensors_stay_out_of_it() {
    let mut wrong = Vec::new();
    for path in src_files() {
        let code = code_of(&path);
        let in_viewer = module_of(&path).as_deref() == Some("viewer");
        if !in_viewer && (code.contains("bevy::") || code.contains("bevy_egui")) {
            wrong.push(format!("{} uses Bevy", path.display()));
        }
        if in_viewer && (code.contains("Tensor") || code.contains("candle")) {
            wrong.push(format!("{} uses candle", path.display()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `super::x` and `crate::viewer::x` names in a viewer file.
fn viewer_imports(code: &str, files: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["super::", "crate::viewer::"] {
        for (i, _) in code.match_indices(prefix) {
            let name: String = code[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if files.contains(&name) {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn viewer_files_import_each_other_without_a_cycle() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/viewer"));
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let name = |p: &Path| p.file_stem().unwrap().to_str().unwrap().to_string();
    let names: BTreeSet<String> = files
        .iter()
        .map(|p| name(p))
        .filter(|n| n != "mod" && n != "tests")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &files {
        let n = name(p);
        if names.contains(&n) {
            let mut deps = viewer_imports(&code_of(p), &names);
            deps.remove(&n);
            graph.insert(n, deps);
        }
    }
    assert!(graph.len() >= 10, "viewer files found: {:?}", graph.keys());
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| s == n).unwrap();
                let mut cycle = stack[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in &graph[n] {
            if let Some(c) = visit(d, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(n, &graph, &mut state, &mut stack) {
            panic!("import cycle in src/viewer: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let files: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        viewer_imports("use super::b::X;\nuse super::c::Y;", &files),
        ["b".to_string()].into_iter().collect()
    );
    assert_eq!(
        used_modules("use crate::model::X; let a = spatia::scene::load(); my_crate::x"),
        ["model".to_string(), "scene".to_string()]
            .into_iter()
            .collect()
    );
}
