//! The quick-start example, run as a newcomer runs it: a trace tree on stderr, nothing on
//! stdout, exit status 0.

use std::path::PathBuf;
use std::process::Command;

/// `cargo test` (without target filters) builds the package's examples beside `deps/`.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = deps.parent().unwrap().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` (or `cargo build --example {name}` first)",
        path.display()
    );
    path
}

#[test]
fn quickstart_draws_the_trace_tree_on_stderr() {
    let output = Command::new(example("quickstart"))
        .env_remove("T4DM_OTEL_ENABLED")
        .env_remove("T4DM_OTEL_ENDPOINT")
        .env_remove("T4DM_OTEL_CONSOLE")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_TRACES_EXPORTER")
        .env("NO_COLOR", "1")
        .output()
        .expect("the example starts");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(output.stdout.is_empty(), "stdout stays clean");
    let tree: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with("answer:") && !line.is_empty())
        .collect();
    // Durations vary; the shape does not.
    let shape: Vec<String> = tree
        .iter()
        .map(|line| match line.find(" (") {
            Some(at) => {
                let rest = &line[at..];
                let after = rest.find(')').map_or("", |end| &rest[end + 1..]);
                format!("{}{after}", &line[..at])
            }
            None => (*line).to_owned(),
        })
        .collect();
    assert!(shape[0].starts_with("trace "), "{stderr}");
    assert!(shape[0].ends_with(" · service t4dm"), "{stderr}");
    let expected = [
        "mcp.recall_episodes SERVER",
        "  │ gen_ai.tool.name=recall_episodes",
        "  ├─ episodic.recall INTERNAL",
        "  │   │ limit=10",
        "  │   ├─ qdrant.search CLIENT",
        "  │   │   collection=ww_episodes",
        "  │   │   limit=10",
    ];
    assert_eq!(&shape[1..=expected.len()], expected, "{stderr}");
    assert!(stderr.contains("◆ cache_miss"), "{stderr}");
    assert!(stderr.contains("└─ scoring_computation"), "{stderr}");
    assert!(stderr.contains("│       candidates=2"), "{stderr}");
    assert!(
        stderr.contains("├─ neo4j.query")
            && stderr.contains("CLIENT ✗ error: episode store unavailable"),
        "{stderr}"
    );
    assert!(stderr.contains("└─ response_formatting"), "{stderr}");
}
