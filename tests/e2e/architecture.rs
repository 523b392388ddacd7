//! The architecture test: the layering rules of ARCHITECTURE.md, checked on the sources.
//!
//! Each failure names the rule it enforces and where it is broken. The scan is textual (comments
//! and string literals are skipped), which is enough for rules phrased as "this name does not
//! appear here".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

/// Crates `domain` may use besides itself: the standard library, time, and (de)serialisation.
/// chrono-tz is chrono's time-zone database; serde_json is serde's JSON format.
const DOMAIN_MAY_USE: &[&str] = &[
    "std",
    "core",
    "alloc",
    "chrono",
    "chrono_tz",
    "serde",
    "serde_json",
];

struct Source {
    /// Relative to `src/`, with `/`.
    path: String,
    /// The module path, e.g. `["store", "outbox"]` for `store/outbox.rs` or `store/outbox/mod.rs`.
    module: Vec<String>,
    /// The text with comments and string literals blanked out, line structure kept.
    code: String,
    lines: usize,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let path = file
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut module: Vec<String> = path
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            Source {
                lines: text.lines().count(),
                code: strip_comments_and_strings(&text),
                path,
                module,
            }
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Blanks `//` and `/* */` comments, string and char literals (keeping newlines), so a word in
/// a doc comment or a message does not count as a use.
fn strip_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let end: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = chars[j + 1..].iter().collect();
            let len = rest.find(&end).map_or(rest.len(), |k| k + end.len());
            for ch in chars[i..(j + 1 + rest[..len].chars().count()).min(chars.len())].iter() {
                out.push(blank(*ch));
            }
            i = j + 1 + rest[..len].chars().count();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `'a'`, `'\n'`, `'\u{..}'` are literals; `'a` (a lifetime) is not.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// Every `name::` path start in `code` (the word before the first `::`), with its line number.
fn path_roots(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let bytes: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_alphabetic() || bytes[i] == '_' {
                let start = i;
                while i < bytes.len() && (bytes[i].is_alphanumeric() || bytes[i] == '_') {
                    i += 1;
                }
                let word: String = bytes[start..i].iter().collect();
                let preceded_by_path =
                    start >= 2 && bytes[start - 1] == ':' && bytes[start - 2] == ':';
                let followed_by_path = bytes.get(i) == Some(&':') && bytes.get(i + 1) == Some(&':');
                if followed_by_path && !preceded_by_path {
                    found.push((n + 1, word));
                }
            } else {
                i += 1;
            }
        }
    }
    found
}

/// The external crates the package depends on, as Rust names.
fn dependency_names() -> BTreeSet<String> {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let mut names = BTreeSet::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && !name.starts_with('#') {
                    names.insert(name.replace('-', "_"));
                }
            }
        }
    }
    names
}

fn mentions(code: &str, word: &str) -> Option<usize> {
    for (n, line) in code.lines().enumerate() {
        let mut rest = line;
        let mut offset = 0;
        while let Some(i) = rest.find(word) {
            let before = line[..offset + i].chars().last();
            let after = line[offset + i + word.len()..].chars().next();
            let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if boundary(before) && boundary(after) {
                return Some(n + 1);
            }
            offset += i + word.len();
            rest = &line[offset..];
        }
    }
    None
}

#[test]
fn sqlx_only_in_the_store_and_discord_crates_only_in_the_adapter() {
    let mut broken = Vec::new();
    for source in sources() {
        let layer = source.module.first().map(String::as_str).unwrap_or("");
        let rules: [(&str, &[&str]); 3] = [
            ("store", &["sqlx"]),
            ("discord", &["serenity"]),
            ("discord", &["poise"]),
        ];
        for (home, words) in rules {
            for word in words {
                if layer != home {
                    if let Some(line) = mentions(&source.code, word) {
                        broken.push(format!(
                            "src/{}:{line} uses `{word}`: `{word}` belongs in src/{home}/ only",
                            source.path
                        ));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "rule \"SQL lives in the store, Discord in its adapter\" is broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn domain_uses_only_std_time_serde_and_itself() {
    let dependencies = dependency_names();
    assert!(dependencies.contains("sqlx") && dependencies.contains("serenity"));
    let mut broken = Vec::new();
    for source in sources()
        .iter()
        .filter(|s| s.module.first().is_some_and(|m| m == "domain"))
    {
        for (line, root) in path_roots(&source.code) {
            if dependencies.contains(&root) && !DOMAIN_MAY_USE.contains(&root.as_str()) {
                broken.push(format!("src/{}:{line} uses `{root}::`", source.path));
            }
        }
        for (n, text) in source.code.lines().enumerate() {
            for (i, _) in text.match_indices("crate::") {
                if !text[i..].starts_with("crate::domain") {
                    broken.push(format!(
                        "src/{}:{} uses `{}`",
                        source.path,
                        n + 1,
                        &text[i..]
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "rule \"domain knows nothing of Discord, HTTP or SQL: it imports only std, chrono, serde and \
         its own modules\" is broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_source_file_is_over_800_lines() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|s| s.lines > MAX_LINES)
        .map(|s| format!("src/{}: {} lines", s.path, s.lines))
        .collect();
    assert!(
        long.is_empty(),
        "rule \"no file over {MAX_LINES} lines (a unit-test module may live in its own file)\" is \
         broken:\n{}",
        long.join("\n")
    );
}

/// Which files of the layer `dir` each file refers to (`crate::`, `super::` and `self::` paths,
/// `use` groups included). The layer's own `mod.rs` is its facade and not a node; a file may name
/// its own child modules (it declares them). Everything else counts, so a subject file importing a
/// primitive, and that primitive importing the subject back, is a cycle.
fn layer_graph(dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let all = sources();
    let in_dir: Vec<&Source> = all
        .iter()
        .filter(|s| s.module.len() >= 2 && s.module[0] == dir)
        .collect();
    let modules: BTreeSet<Vec<String>> = in_dir.iter().map(|s| s.module.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &in_dir {
        let node = source.module[1..].join("::");
        let edges = graph.entry(node.clone()).or_default();
        for path in paths_in(&source.code) {
            let mut segments = path.into_iter();
            let mut base: Vec<String> = match segments.next().as_deref() {
                Some("crate") => Vec::new(),
                Some("self") => source.module.clone(),
                Some("super") => source.module[..source.module.len() - 1].to_vec(),
                _ => continue,
            };
            let mut rest: Vec<String> = segments.collect();
            // `super::super::x`
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest.remove(0);
            }
            base.extend(rest);
            let Some(target) = (2..=base.len())
                .rev()
                .map(|n| base[..n].to_vec())
                .find(|prefix| modules.contains(prefix))
            else {
                continue;
            };
            let target = target[1..].join("::");
            let own = target == node || target.starts_with(&format!("{node}::"));
            if !own {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Every path that starts with `crate`, `self` or `super`, as its segments; a `use` group
/// (`super::{a, b::c}`) gives one path per item.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_ident(chars[i]) || (i > 0 && (is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (is_ident(chars[i]) || chars[i] == ':') {
            i += 1;
        }
        let text: String = chars[start..i].iter().collect();
        if !["crate::", "self::", "super::"]
            .iter()
            .any(|p| text.starts_with(p))
        {
            continue;
        }
        let prefix: Vec<String> = text
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if text.ends_with("::") && chars.get(i) == Some(&'{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for &c in &chars[i + 1..] {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            items.push(item);
            for item in items {
                let head: String = item
                    .trim()
                    .chars()
                    .take_while(|&c| is_ident(c) || c == ':')
                    .collect();
                let mut path = prefix.clone();
                path.extend(
                    head.split("::")
                        .filter(|s| !s.is_empty() && *s != "self")
                        .map(str::to_owned),
                );
                found.push(path);
            }
        } else {
            found.push(prefix);
        }
    }
    found
}

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // A cycle exists where a node reaches itself; report each strongly connected group once.
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = graph.get(from).into_iter().flatten().collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n.clone()) {
                stack.extend(graph.get(n).into_iter().flatten());
            }
        }
        seen
    };
    let mut groups: Vec<Vec<String>> = Vec::new();
    for node in graph.keys() {
        let from_node = reach(node);
        if !from_node.contains(node) {
            continue;
        }
        let mut group: Vec<String> = from_node
            .iter()
            .filter(|other| reach(other).contains(node))
            .cloned()
            .collect();
        group.sort();
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

#[test]
fn no_import_cycle_between_files_of_discord_or_store() {
    let mut broken = Vec::new();
    for dir in ["discord", "store", "domain", "http"] {
        let graph = layer_graph(dir);
        assert!(graph.len() >= 2, "src/{dir}/ has too few files to check");
        for group in cycles(&graph) {
            broken.push(format!(
                "src/{dir}/: {} import each other",
                group.join(" ↔ ")
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "rule \"no import cycle between files of a layer (shared primitives sit below the \
         subjects)\" is broken:\n{}",
        broken.join("\n")
    );
}

/// The checks above must be able to fail: each is run on a source that breaks its rule.
#[test]
fn the_checks_catch_what_they_are_for() {
    let code = strip_comments_and_strings(
        "// sqlx in a comment\nlet s = \"sqlx::query\"; let c = '\"';\nuse sqlx::Row;\n",
    );
    assert_eq!(mentions(&code, "sqlx"), Some(3), "{code}");
    let roots = path_roots("use sha2::Digest; let x = std::mem::take(&mut y); a::b::c");
    let words: Vec<&str> = roots.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(words, ["sha2", "std", "a"]);
    let paths =
        paths_in("use super::{alerts::X, outbox, self};\nlet y = crate::store::ids::to_db(1);");
    assert_eq!(
        paths,
        vec![
            vec!["super", "alerts", "X"],
            vec!["super", "outbox"],
            vec!["super"],
            vec!["crate", "store", "ids", "to_db"],
        ]
    );
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".to_owned()]]);
}
