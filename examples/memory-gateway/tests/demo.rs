//! The README's main command: `t4dm-gateway --demo` with nothing configured.

mod common;

use common::{TOOLS, command, parse_traces, trace_of, wait};
use std::io::Read;

#[test]
fn the_demo_calls_every_tool_draws_the_seeds_trace_and_exits_0() {
    let mut demo = command(&["--demo"]);
    // A newcomer's environment: nothing set, so the demo's development defaults apply.
    demo.env_remove("T4DM_OTEL_ENABLED")
        .env_remove("T4DM_OTEL_CONSOLE");
    let mut child = demo.spawn().unwrap();
    drop(child.stdin.take());
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        err.read_to_string(&mut stderr).unwrap();
        stderr
    });
    out.read_to_string(&mut stdout).unwrap();
    let stderr = reader.join().unwrap();
    assert!(wait(&mut child).success(), "{stderr}");

    let traces = parse_traces(&stderr);
    for tool in TOOLS {
        assert!(
            stdout.contains(&format!("→ tools/call {tool} ")),
            "the transcript shows {tool}:\n{stdout}"
        );
        assert!(
            traces
                .iter()
                .any(|trace| trace.root().name == format!("mcp.{tool}")),
            "no mcp.{tool} tree:\n{stderr}"
        );
    }
    let recall = trace_of(&traces, "mcp.recall_episodes", Some(6));
    assert_eq!(
        recall.outline(),
        "\
mcp.recall_episodes SERVER
  episodic.recall INTERNAL
    qdrant.search CLIENT
    scoring_computation INTERNAL
  response_formatting INTERNAL
"
    );
    assert!(
        stdout
            .lines()
            .all(|line| line.starts_with("→ ") || line.starts_with("← ")),
        "stdout is the transcript only:\n{stdout}"
    );
    let continued = trace_of(&traces, "mcp.recall_episodes", Some(9));
    assert_eq!(continued.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(continued.remote_parent.as_deref(), Some("00f067aa0ba902b7"));
    assert!(stdout.contains("← tool error: no episode with id `episode-404`"));
    assert!(stdout.contains("← error -32700: parse error"));

    // At shutdown, the span metrics' summary: one row per span name, every call counted.
    let summary = &stderr[stderr
        .find("span metrics (t4dm-trace):")
        .unwrap_or_else(|| panic!("no span metrics summary:\n{stderr}"))..];
    let row = summary
        .lines()
        .find(|line| line.split_whitespace().next() == Some("mcp.recall_episodes"))
        .unwrap_or_else(|| panic!("no mcp.recall_episodes row:\n{summary}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells.len(), 6, "span, calls, errors, p50, p95, max: {row}");
    assert!(cells[1].parse::<u64>().unwrap() >= 2, "{row}");
}
