//! The architecture checks itself (rust-analyzer's "tidy" idea): every
//! source file's imports are read, and a forbidden one fails `cargo test`.
//! The rules are the house style's dependency direction and
//! docs/ARCHITECTURE.md's boundaries. Breaks that exist today and are being worked off are listed
//! in `KNOWN`; the test fails when one is added, and when one is fixed but
//! still listed, so the list stays exactly true.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each module's layer: a module may use only modules of a lower layer
/// (and the peers `PEERS` allows). Modules not listed (config, metrics,
/// signing, principals, tls, import, history_import, accept, …) are side modules outside
/// the direction.
const LAYERS: [(&str, u8); 12] = [
    ("domain", 0),
    ("codec", 1),
    // The append seam: neither log's storage (sled is store/'s, NATS
    // jetstream/'s, by `ONLY`).
    ("log", 2),
    // The read models' fold: state and commit in, changes out, through
    // the view the store gives it.
    ("projection", 3),
    ("store", 4),
    ("jetstream", 4),
    ("app", 5),
    ("grpc", 6),
    ("web", 7),
    ("server", 8),
    ("cli", 9),
    ("main", 10),
];

/// Same-layer uses that are allowed: a replica feeds its local store.
const PEERS: [(&str, &str); 1] = [("jetstream", "store")];

/// External crates only some modules may use
/// (and files: the bench's raw baselines measure sled and NATS bare,
/// outside the library's core).
const ONLY: [(&str, &[&str]); 4] = [
    ("sled", &["store", "cli/bench/raw_sled.rs"]),
    ("async_nats", &["jetstream", "cli/bench/raw_jetstream.rs"]),
    ("tonic", &["grpc", "web", "server", "accept", "tls", "cli"]),
    (
        "tokio",
        &[
            "log",
            "store",
            "jetstream",
            "app",
            "grpc",
            "web",
            "server",
            "accept",
            "cli",
            "metrics_http",
            "http1",
            "witness",
        ],
    ),
];

/// Crate modules some modules must not use at all, whatever their layer.
const NEVER: [(&str, &[&str]); 2] = [
    // The fold knows no keys, no bytes, no trees.
    ("projection", &["store", "codec"]),
    // Proto types stop at grpc/, and store types stop at app/.
    ("grpc", &["store"]),
];

/// Breaks being worked off: file, and what it uses. None today; a break added
/// here must name its issue.
const KNOWN: [(&str, &str); 0] = [];

/// The module a file under `src/` belongs to: its first path component,
/// without `.rs`.
fn module_of(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ reads") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `line` without its `//` comment: a `//` inside a string literal (a
/// URL's) is not one. Raw strings and strings over several lines are not
/// followed: a line that opens one is read as code to its end.
fn without_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' && previous != '\'' {
            in_string = true;
        } else if c == '/' && previous == '/' {
            return &line[..at - 1];
        }
        previous = c;
    }
    line
}

/// `text` without its comments, read as one: a `use` may span lines (a
/// group).
fn code_of(text: &str) -> String {
    text.lines()
        .map(without_comment)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `text` uses: `crate::<module>` paths (and each module of a
/// `crate::{…}` group), `super::` paths that climb out of the file's own
/// module (`module_path`: the file's modules from the crate's root, as
/// `["grpc", "audit_service"]`), and external crates' paths (`sled::…`,
/// `::sled::…`, `use tonic…`, `extern crate sled`), each named as
/// written (`crate::store`, `sled`). Comments are left out.
fn uses(text: &str, module_path: &[&str]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code = code_of(text);
    let ident = |from: &str| -> String {
        from.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        // `crate::` itself, not the end of `mycrate::` nor `$crate::`.
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if rest.starts_with('{') {
            for name in group_heads(rest) {
                found.insert(format!("crate::{name}"));
            }
            continue;
        }
        let name = ident(rest);
        if !name.is_empty() {
            found.insert(format!("crate::{name}"));
        }
    }
    for (at, _) in code.match_indices("super::") {
        // The first `super` of a chain: `super::super::` climbs twice.
        if code[..at].ends_with("::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut depth = module_path.len();
        while let Some(after) = rest.strip_prefix("super::") {
            depth = depth.saturating_sub(1);
            rest = after;
        }
        // Still within the file's top module: its own business.
        if depth > 0 {
            continue;
        }
        let names = if rest.starts_with('{') {
            group_heads(rest)
        } else {
            vec![ident(rest)]
        };
        for name in names.into_iter().filter(|n| !n.is_empty()) {
            found.insert(format!("crate::{name}"));
        }
    }
    for (krate, _) in ONLY {
        let as_path = format!("{krate}::");
        // Preceded by nothing of a longer path: a name's end, or a `::`
        // other than a leading one (`::sled::` is the crate).
        let preceded_ok = |at: usize| {
            let before = &code[..at];
            match before.strip_suffix("::") {
                Some(leading) => !leading
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '>'),
                None => !before
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            }
        };
        let named = |prefix: &str| {
            code.lines().any(|line| {
                line.trim_start()
                    .strip_prefix(prefix)
                    .is_some_and(|rest| ident(rest) == krate)
            })
        };
        if code.match_indices(&as_path).any(|(at, _)| preceded_ok(at))
            || named("use ")
            || named("pub use ")
            || named("extern crate ")
        {
            found.insert(krate.to_owned());
        }
    }
    found
}

/// The first name of each item of the group `text` opens (`{store::X,
/// codec, self}` gives `store`, `codec`, `self`), nested groups skipped.
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut at_item = true;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth > 1 {
                    at_item = false;
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                if !current.is_empty() {
                    heads.push(std::mem::take(&mut current));
                }
                at_item = true;
            }
            c if depth == 1 && at_item && (c.is_ascii_alphanumeric() || c == '_') => {
                current.push(c)
            }
            _ if depth == 1 && at_item && !current.is_empty() => {
                heads.push(std::mem::take(&mut current));
                at_item = false;
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        heads.push(current);
    }
    heads
}

/// The names the crate's root re-exports and the module each comes from
/// (`pub use store::{FlushGate, StoreOptions};` in lib.rs): a path through
/// the root (`crate::StoreOptions`) uses that module.
fn reexports(lib: &str) -> std::collections::BTreeMap<String, String> {
    let mut names = std::collections::BTreeMap::new();
    let code = code_of(lib);
    for item in code.split(';') {
        let Some(path) = item.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        let rest = rest.trim();
        let listed: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.trim_end_matches('}').split(',').collect(),
            None => vec![rest],
        };
        for name in listed {
            // `a::b::Name` and `Name as Other` re-export as their last name.
            let name = name.split(" as ").last().unwrap_or(name);
            let name = name.rsplit("::").next().unwrap_or(name).trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

/// A file's modules from the crate's root: `grpc/audit_service.rs` is
/// `["grpc", "audit_service"]`, `grpc/mod.rs` and `grpc.rs` `["grpc"]`,
/// `lib.rs` none.
fn module_path(relative: &str) -> Vec<&str> {
    let path = relative.trim_end_matches(".rs");
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.last() == Some(&"mod") || path == "lib" || path == "main" {
        parts.pop();
    }
    parts
}

/// Every rule break in the sources under `src`: (file relative to src,
/// what it uses, why that is a break).
fn breaks(src: &Path) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let root = reexports(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs reads"));
    let mut out = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src").to_path_buf();
        let name = relative.to_string_lossy().replace('\\', "/");
        if name == "tidy.rs" {
            continue;
        }
        let module = module_of(&relative);
        let text = std::fs::read_to_string(&file).expect("a source file reads");
        for used in uses(&text, &module_path(&name)) {
            let why = match used.strip_prefix("crate::") {
                Some(target) => {
                    // A name the root re-exports (the generated API types,
                    // `pb`, are grpc/'s) is its module's.
                    let target = root.get(target).map_or(target, String::as_str);
                    if target == module || target == "golden_tests" {
                        continue;
                    }
                    // Nothing but main uses the command line.
                    let never = NEVER
                        .iter()
                        .any(|(m, list)| *m == module && list.contains(&target))
                        || (target == "cli" && !["main", "lib"].contains(&module.as_str()));
                    let upward = match (layer(&module), layer(target)) {
                        (Some(from), Some(to)) => {
                            to > from || (to == from && !PEERS.contains(&(module.as_str(), target)))
                        }
                        _ => false,
                    };
                    if never {
                        format!("{module}/ must not use {target}/")
                    } else if upward {
                        format!(
                            "{module} (layer {:?}) must not use {target}",
                            layer(&module)
                        )
                    } else {
                        continue;
                    }
                }
                None => {
                    let allowed = ONLY
                        .iter()
                        .find(|(k, _)| *k == used)
                        .is_none_or(|(_, who)| {
                            who.contains(&module.as_str()) || who.contains(&name.as_str())
                        });
                    if allowed {
                        continue;
                    }
                    format!(
                        "only {:?} may use {used}",
                        ONLY.iter().find(|(k, _)| *k == used).map(|(_, w)| w)
                    )
                }
            };
            out.push((name.clone(), used, why));
        }
    }
    out
}

/// Modules whose files must not use one another in a cycle
/// (`super::<file>::…`): each file one idea, resting on the ones below it.
const ACYCLIC: [&str; 2] = ["log", "store"];

/// The sibling files `text` uses: `super::<name>::` paths.
fn siblings_used(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = without_comment(line);
        for (at, _) in code.match_indices("super::") {
            let rest = &code[at + "super::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].starts_with("::") {
                found.insert(name);
            }
        }
    }
    found
}

/// A cycle in `graph` (each file, and the files it uses), as the files
/// along it, the first repeated at the end; none if there is none.
fn cycle(graph: &std::collections::BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        file: &str,
        graph: &std::collections::BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|f| f == file) {
            let mut found = path[at..].to_vec();
            found.push(file.to_owned());
            return Some(found);
        }
        if done.contains(file) {
            return None;
        }
        path.push(file.to_owned());
        for next in graph.get(file).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(file.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|file| visit(file, graph, &mut Vec::new(), &mut done))
}

/// The files directly in `dir` and the siblings each uses.
fn sibling_graph(dir: &Path) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let mut graph = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("a module directory reads") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path).expect("a source file reads");
            graph.insert(name, siblings_used(&text));
        }
    }
    let files: BTreeSet<String> = graph.keys().cloned().collect();
    for used in graph.values_mut() {
        used.retain(|f| files.contains(f));
    }
    graph
}

#[test]
fn the_house_modules_files_use_one_another_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for module in ACYCLIC {
        let graph = sibling_graph(&src.join(module));
        assert!(graph.len() > 1, "src/{module}/ holds its files");
        if let Some(found) = cycle(&graph) {
            panic!(
                "the files of src/{module}/ use one another in a cycle: {}",
                found.join(" → ")
            );
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_only_a_cycle() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph = std::collections::BTreeMap::<String, BTreeSet<String>>::new();
        for (from, to) in edges {
            graph
                .entry((*from).into())
                .or_default()
                .insert((*to).into());
            graph.entry((*to).into()).or_default();
        }
        graph
    };
    let found = cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("a", "d")]));
    assert_eq!(
        found,
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(cycle(&graph(&[("a", "b"), ("a", "c"), ("b", "c")])), None);
    assert_eq!(
        siblings_used(
            "use super::keys::Space;\nuse super::{lock, StoreError};\n// super::writer::Job\n"
        ),
        BTreeSet::from(["keys".to_owned()])
    );
}

#[test]
fn imports_follow_the_dependency_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = breaks(&src);
    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|(f, u)| ((*f).to_owned(), (*u).to_owned()))
        .collect();
    let new: Vec<_> = found
        .iter()
        .filter(|(f, u, _)| !known.contains(&(f.clone(), u.clone())))
        .collect();
    assert!(
        new.is_empty(),
        "imports that break the dependency rules (docs/ARCHITECTURE.md):\n{}",
        new.iter()
            .map(|(f, u, why)| format!("  src/{f} uses {u}: {why}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let fixed: Vec<_> = known
        .iter()
        .filter(|(f, u)| !found.iter().any(|(ff, uu, _)| ff == f && uu == u))
        .collect();
    assert!(
        fixed.is_empty(),
        "no longer broken, so take them out of KNOWN in src/tidy.rs: {fixed:?}"
    );
}

/// Every module and file a rule names exists, so that no rule passes by
/// matching nothing.
#[test]
fn every_rule_names_what_exists() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let exists = |module: &str| {
        src.join(format!("{module}.rs")).is_file()
            || src.join(module).is_dir()
            || (module.ends_with(".rs") && src.join(module).is_file())
    };
    let mut named: Vec<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    named.extend(PEERS.iter().flat_map(|(a, b)| [*a, *b]));
    named.extend(ONLY.iter().flat_map(|(_, who)| who.iter().copied()));
    named.extend(
        NEVER
            .iter()
            .flat_map(|(m, list)| std::iter::once(*m).chain(list.iter().copied())),
    );
    let missing: Vec<_> = named.into_iter().filter(|m| !exists(m)).collect();
    assert!(
        missing.is_empty(),
        "rules name modules that do not exist: {missing:?}"
    );
}

#[test]
fn the_checker_sees_a_forbidden_import() {
    let at = ["grpc", "audit_service"];
    let text = "use crate::store::Appended;\nfn f() { let _ = sled::Config::new(); }\n// crate::cli in a comment\n";
    let used = uses(text, &at);
    assert!(used.contains("crate::store"));
    assert!(used.contains("sled"));
    assert!(!used.contains("crate::cli"), "comments do not count");
    assert!(!uses("let x = my_sled::y;", &at).contains("sled"));
    assert!(!uses("let x = $crate::store::y;", &at).contains("crate::store"));
    // A `//` in a string does not hide what follows it on the line.
    let after_a_url = uses(
        "let u = \"nats://host\"; let _ = sled::Config::new(); // crate::cli",
        &at,
    );
    assert!(after_a_url.contains("sled"));
    assert!(!after_a_url.contains("crate::cli"));
    assert_eq!(without_comment("let q = '\"'; // \"x\""), "let q = '\"'; ");
    // A group, over lines, nested groups and all.
    let grouped = uses(
        "use crate::{\n    codec::{self, X},\n    store::Y, // crate::cli\n    domain,\n};",
        &at,
    );
    for name in ["crate::codec", "crate::store", "crate::domain"] {
        assert!(grouped.contains(name), "{name} in {grouped:?}");
    }
    assert!(!grouped.contains("crate::self") && !grouped.contains("crate::X"));
    // `super::` that climbs out of the file's module is the crate's.
    assert!(uses("use super::super::store::Y;", &at).contains("crate::store"));
    assert!(uses("use super::{store::Y, app};", &["grpc"]).contains("crate::app"));
    assert!(!uses("use super::convert;", &at).contains("crate::convert"));
    // The crate by its absolute path, or declared.
    assert!(uses("let c = ::sled::Config::new();", &at).contains("sled"));
    assert!(uses("extern crate sled;", &at).contains("sled"));
    assert!(!uses("let c = a::sled::Config::new();", &at).contains("sled"));
    assert!(!uses("use tokio_stream::StreamExt;", &at).contains("tokio"));
    assert_eq!(
        module_path("grpc/audit_service.rs"),
        ["grpc", "audit_service"]
    );
    assert_eq!(module_path("grpc/mod.rs"), ["grpc"]);
    assert!(module_path("lib.rs").is_empty());
}

/// The rules judge what the checker finds: a break written each way is
/// reported, through the root's re-exports too, and an allowed use is not.
#[test]
fn the_rules_report_each_way_of_breaking_them() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path();
    let write = |name: &str, text: &str| {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
        std::fs::write(path, text).expect("a file");
    };
    write(
        "lib.rs",
        "mod grpc;\nmod store;\npub use store::{FlushGate, StoreOptions};\npub use grpc::pb;\n",
    );
    write("store/mod.rs", "use crate::domain::Commit;\n");
    write("domain/mod.rs", "use crate::pb::Answer;\n");
    write("grpc/a.rs", "use crate::{codec, store::Y};\n");
    write("grpc/b.rs", "fn f(o: crate::StoreOptions) {}\n");
    write(
        "grpc/mod.rs",
        "use super::store::Z;\nuse crate::app::App;\n",
    );
    write("projection/mod.rs", "fn f() { ::sled::Config::new(); }\n");
    let found: BTreeSet<(String, String)> = breaks(src)
        .into_iter()
        .map(|(file, used, _)| (file, used))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("domain/mod.rs", "crate::pb"),
        ("grpc/a.rs", "crate::store"),
        ("grpc/b.rs", "crate::StoreOptions"),
        ("grpc/mod.rs", "crate::store"),
        ("projection/mod.rs", "sled"),
    ]
    .iter()
    .map(|(f, u)| ((*f).to_owned(), (*u).to_owned()))
    .collect();
    assert_eq!(found, expected);
}
