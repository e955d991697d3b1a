//! The layout as a test: the core of EM rules touches no socket, no HTTP
//! and no file, and no server module imports another in a cycle. It reads
//! the sources, so a new `use` that breaks either fails here, with the
//! path of modules that closes the cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the core may not name: sockets, HTTP, the store's database.
const NOT_IN_CORE: &[&str] = &[
    "crate::io",
    "axum",
    "hyper",
    "tokio::net",
    "rusqlite",
    "std::net::TcpStream",
    "std::net::UdpSocket",
    "std::fs",
];

/// Every module (`core::sessions`, `io::http`, ...) and the server
/// modules its code (not its comments) names.
fn imports() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for layer in ["core", "io"] {
        for entry in std::fs::read_dir(src.join(layer)).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            if stem == "mod" {
                continue;
            }
            let code: String = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut named = BTreeSet::new();
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let mut parts = rest.split("::");
                let (Some(l), Some(m)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let m: String = m
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if (l == "core" || l == "io") && !m.is_empty() {
                    named.insert(format!("{l}::{m}"));
                }
            }
            modules.insert(format!("{layer}::{stem}"), (code, named));
        }
    }
    modules
}

#[test]
fn the_core_names_no_socket_no_http_and_no_file() {
    for (module, (code, _)) in imports().iter().filter(|(m, _)| m.starts_with("core::")) {
        for banned in NOT_IN_CORE {
            assert!(
                !code.contains(banned),
                "{module} names `{banned}`: the core must stay free of io"
            );
        }
    }
}

#[test]
fn no_server_module_imports_another_in_a_cycle() {
    let graph = imports();
    // Depth-first search; `path` is the chain being explored.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, (String, BTreeSet<String>)>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import cycle: {} -> {m}", path[at..].join(" -> "));
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_string());
        for next in graph.get(m).map(|(_, n)| n.iter()).into_iter().flatten() {
            if next != m && graph.contains_key(next.as_str()) {
                visit(next, graph, done, path);
            }
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut done, &mut Vec::new());
    }
    assert!(graph.len() > 20, "the sources were read: {graph:?}");
}
