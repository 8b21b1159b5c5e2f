//! The span metrics' Prometheus endpoint, read by an independent parser: Python's
//! `prometheus_client` (installed by `scripts/setup-test-tools.sh`; `T4DM_TEST_PYTHON` may name
//! another interpreter). The `OpenMetrics` answer must parse with its exemplars, each pointing at
//! an exported span; the classic answer must parse and carry none.

use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use t4dm_trace_tests::collector::{Collector, CollectorWire};
use t4dm_trace_tests::{test_python, workspace_root};

/// What `prometheus_client` parsed, as JSON families.
fn parse(mode: &str, text: &str) -> Vec<Value> {
    let mut child = Command::new(test_python())
        .arg(workspace_root().join("tests/python/prometheus_parse.py"))
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client rejected the {mode} exposition: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET /metrics` with `accept`; the `Content-Type` and the body.
fn scrape(address: SocketAddr, accept: Option<&str>) -> (String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let accept = accept.map_or_else(String::new, |accept| format!("Accept: {accept}\r\n"));
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (content_type, body.to_owned())
}

fn family<'a>(families: &'a [Value], name: &str) -> &'a Value {
    families
        .iter()
        .find(|family| family["name"] == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

fn calls_of(families: &[Value], span_name: &str, status: &str) -> f64 {
    family(families, "traces_span_metrics_calls")["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sample| {
            sample["labels"]["span_name"] == span_name && sample["labels"]["status_code"] == status
        })
        .and_then(|sample| sample["value"].as_f64())
        .unwrap_or_else(|| panic!("no calls for {span_name} {status}"))
}

fn assert_calls(families: &[Value], span_name: &str, status: &str, expected: u32) {
    let calls = calls_of(families, span_name, status);
    assert!(
        (calls - f64::from(expected)).abs() < 0.5,
        "{span_name} {status}: {calls} calls, expected {expected}"
    );
}

#[test]
fn openmetrics_with_exemplars_and_classic_without_both_parse() {
    let collector = Collector::start(CollectorWire::Grpc);
    let address = free_address();
    let mut child = Command::new(env!("CARGO_BIN_EXE_metrics-driver"))
        .arg("serve")
        .env("T4DM_OTEL_ENABLED", "true")
        .env("T4DM_OTEL_ENDPOINT", collector.endpoint())
        .env("T4DM_OTEL_SERVICE_NAME", "scrape-test")
        .env("T4DM_OTEL_PROMETHEUS_ADDR", address.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "{line}");

    let (open_type, open_text) = scrape(
        address,
        Some("application/openmetrics-text; version=1.0.0,text/plain;q=0.5"),
    );
    let (classic_type, classic_text) = scrape(address, None);
    writeln!(child.stdin.take().unwrap()).unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("ok shutdown"), "{rest}");
    child.wait().unwrap();

    assert!(
        open_type.starts_with("application/openmetrics-text"),
        "{open_type}"
    );
    assert!(
        classic_type.starts_with("text/plain; version=0.0.4"),
        "{classic_type}"
    );

    let exported: HashSet<(String, String)> = collector
        .spans()
        .iter()
        .map(|span| (hex(&span.trace_id), hex(&span.span_id)))
        .collect();
    let open = parse("openmetrics", &open_text);
    assert_calls(&open, "m.server", "STATUS_CODE_UNSET", 30);
    assert_calls(&open, "m.client", "STATUS_CODE_ERROR", 7);
    assert_calls(&open, "say \"hi\"", "STATUS_CODE_UNSET", 1);
    let histogram = family(&open, "traces_span_metrics_duration_milliseconds");
    assert_eq!(histogram["type"], "histogram");
    assert_eq!(histogram["unit"], "milliseconds");
    let exemplars: Vec<&Value> = histogram["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|sample| sample["exemplar"].as_object().map(|_| &sample["exemplar"]))
        .collect();
    assert!(exemplars.len() >= 6, "{} exemplars", exemplars.len());
    for exemplar in exemplars {
        let ids = (
            exemplar["labels"]["trace_id"].as_str().unwrap().to_owned(),
            exemplar["labels"]["span_id"].as_str().unwrap().to_owned(),
        );
        assert!(
            exported.contains(&ids),
            "exemplar {ids:?} is no exported span"
        );
        assert!(exemplar["timestamp"].as_f64().unwrap() > 1.6e9);
    }

    let classic = parse("classic", &classic_text);
    assert_calls(&classic, "m.server", "STATUS_CODE_UNSET", 30);
    assert!(
        !classic_text.contains("trace_id"),
        "no exemplars in the classic format"
    );
    let buckets = family(&classic, "traces_span_metrics_duration_milliseconds")["samples"]
        .as_array()
        .unwrap()
        .len();
    assert!(buckets > 17);
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

#[test]
fn a_port_in_use_is_an_init_error_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_metrics-driver"))
        .arg("mix")
        .env("T4DM_OTEL_ENABLED", "true")
        .env("OTEL_TRACES_EXPORTER", "none")
        .env("T4DM_OTEL_PROMETHEUS_ADDR", address.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "error init cannot build the prometheus exporter: cannot listen on `{address}`"
        )),
        "{stdout}"
    );
}
