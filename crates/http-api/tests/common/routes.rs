//! The routes the application mounts, read from the routers' sources: (METHOD, full path).
//!
//! Reads each `.merge(…)` and `.nest("prefix", …)` of `router()`'s chain in `src/lib.rs`, however
//! it is wrapped over lines, and every `module::function()` router inside it (so
//! `a::router().merge(b::router())` under a nest mounts both under its prefix), then every
//! `.route(…)` of those functions. Panics when a mounted module is not listed in [`SOURCES`], or
//! a listed one is not found mounted, so a router the parser cannot see fails the test using it.
//! Include it with `#[path = "common/routes.rs"] mod routes;`.

use std::collections::BTreeSet;

/// Every module with a router, and its source.
const SOURCES: [(&str, &str); 12] = [
    ("health", include_str!("../../src/health.rs")),
    (
        "deletion_routes",
        include_str!("../../src/deletion_routes.rs"),
    ),
    ("audit_routes", include_str!("../../src/audit_routes.rs")),
    ("backup_routes", include_str!("../../src/backup_routes.rs")),
    ("export_routes", include_str!("../../src/export_routes.rs")),
    ("metrics", include_str!("../../src/metrics.rs")),
    ("openapi", include_str!("../../src/openapi.rs")),
    ("tenants", include_str!("../../src/tenants.rs")),
    ("tenant_admin", include_str!("../../src/tenant_admin.rs")),
    ("record_routes", include_str!("../../src/record_routes.rs")),
    (
        "attachment_routes",
        include_str!("../../src/attachment_routes.rs"),
    ),
    (
        "session_routes",
        include_str!("../../src/session_routes.rs"),
    ),
];

/// The text between the `(` at byte `open` of `s` and its matching `)`.
fn inside_parens(s: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in s[open..].char_indices() {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth == 0 {
            return &s[open + 1..open + i];
        }
    }
    panic!("unbalanced parentheses in {}", &s[open..])
}

/// The body of the function whose signature starts with `signature`.
fn fn_body<'a>(source: &'a str, signature: &str) -> &'a str {
    let at = source.find(signature);
    let body = &source[at.unwrap_or_else(|| panic!("no `{signature}` in the source"))..];
    &body[..body.find("\n}").expect("end of fn")]
}

/// The `module::function(` calls of a router expression.
fn calls_in(expr: &str) -> Vec<(&str, &str)> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let calls = expr.match_indices("::").filter_map(|(i, _)| {
        let module = &expr[expr[..i].trim_end_matches(ident).len()..i];
        let after = &expr[i + 2..];
        let function = &after[..after.len() - after.trim_start_matches(ident).len()];
        let called = after[function.len()..].starts_with('(');
        (!module.is_empty() && !function.is_empty() && called).then_some((module, function))
    });
    calls.collect()
}

/// Every `.route(...)` of one module's router function, under `prefix`.
fn routes_of(source: &str, function: &str, prefix: &str, out: &mut BTreeSet<(String, String)>) {
    let body = fn_body(source, &format!("fn {function}()"));
    assert!(
        !body.contains(".nest(") && !body.contains(".merge("),
        "`{function}` mounts other routers: teach common/routes.rs to read them"
    );
    for (at, _) in body.match_indices(".route(") {
        let args = inside_parens(body, at + ".route".len());
        let path = args.split('"').nth(1).expect("route path");
        for m in ["get", "post", "put", "delete", "patch"] {
            for (i, _) in args.match_indices(&format!("{m}(")) {
                if !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    let full = if path == "/" {
                        prefix.to_owned()
                    } else {
                        format!("{prefix}{path}")
                    };
                    out.insert((m.to_uppercase(), full));
                }
            }
        }
    }
}

/// Every route mounted by `router()`: (METHOD, full path).
pub fn routes_in_source() -> BTreeSet<(String, String)> {
    let app = fn_body(include_str!("../../src/lib.rs"), "pub fn router(");
    let mut chain: Vec<(usize, &str)> = [".nest(", ".merge("]
        .iter()
        .flat_map(|call| app.match_indices(call))
        .collect();
    chain.sort_unstable();
    let (mut out, mut mounted, mut read_up_to) = (BTreeSet::new(), BTreeSet::new(), 0);
    for (at, call) in chain {
        if at < read_up_to {
            continue; // inside the arguments of a call read already (a merge inside a nest)
        }
        let open = at + call.len() - 1;
        let args = inside_parens(app, open);
        read_up_to = open + args.len() + 2;
        let (prefix, expr) = match call {
            ".nest(" => {
                let (prefix, expr) = args.split_once(',').expect("nest(prefix, router)");
                let prefix = prefix
                    .trim()
                    .strip_prefix('"')
                    .and_then(|p| p.strip_suffix('"'));
                (prefix.expect("a literal nest prefix"), expr)
            }
            _ => ("", args),
        };
        assert!(!expr.contains(".nest("), "a nest inside `{expr}`: not read");
        let calls = calls_in(expr);
        assert!(!calls.is_empty(), "no `module::router()` in `{expr}`");
        for (module, function) in calls {
            let source = SOURCES.iter().find(|(m, _)| *m == module);
            let source = source
                .unwrap_or_else(|| panic!("routes of `{module}` are not read: add it to SOURCES"))
                .1;
            routes_of(source, function, prefix, &mut out);
            mounted.insert(module);
        }
    }
    for (module, _) in SOURCES {
        assert!(
            mounted.contains(module),
            "`{module}` is listed but the parser found it mounted nowhere in lib.rs"
        );
    }
    out
}
