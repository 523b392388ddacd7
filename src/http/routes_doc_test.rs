//! docs/http-api.md documents exactly the routes of `ROUTES`: one `### METHOD /path` heading each.

use super::ROUTES;

const DOC: &str = include_str!("../../docs/http-api.md");

/// `(METHOD, path)` of every `### METHOD /path` heading; other headings are prose.
fn documented() -> Vec<(&'static str, &'static str)> {
    DOC.lines()
        .filter_map(|line| line.strip_prefix("### ")?.trim().split_once(' '))
        .filter(|(method, path)| {
            method.chars().all(|c| c.is_ascii_uppercase()) && path.starts_with('/')
        })
        .collect()
}

#[test]
fn docs_http_api_md_documents_every_route_and_no_other() {
    let documented = documented();
    let undocumented: Vec<String> = ROUTES
        .iter()
        .filter(|r| !documented.contains(&(r.method, r.path)))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        undocumented.is_empty(),
        "docs/http-api.md has no `### METHOD /path` section for {undocumented:?}: document them"
    );
    let unknown: Vec<String> = documented
        .iter()
        .filter(|(m, p)| !ROUTES.iter().any(|r| r.method == *m && r.path == *p))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/http-api.md documents {unknown:?}, which http::ROUTES does not list"
    );
}
