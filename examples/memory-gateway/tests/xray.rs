//! The gateway on AWS: `t4dm-gateway --demo` exporting to a UDP listener on loopback that stands
//! in for the X-Ray daemon.

mod common;

use common::{command, wait};
use serde_json::Value;
use std::io::Read;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HEADER: &str = "{\"format\": \"json\", \"version\": 1}";

#[test]
fn the_demo_sends_its_traces_to_the_x_ray_daemon() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap().to_string();
    let datagrams = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let kept = Arc::clone(&datagrams);
    std::thread::spawn(move || {
        let mut buffer = vec![0_u8; 70_000];
        while let Ok(length) = socket.recv(&mut buffer) {
            kept.lock().unwrap().push(buffer[..length].to_vec());
        }
    });

    let mut demo = command(&["--demo"]);
    demo.env("T4DM_OTEL_CONSOLE", "false")
        .env("OTEL_TRACES_EXPORTER", "xray")
        .env("AWS_XRAY_DAEMON_ADDRESS", &address)
        .env("T4DM_OTEL_SERVICE_NAME", "memory-gateway")
        .env("T4DM_OTEL_XRAY_ANNOTATIONS", "tool.name");
    let mut child = demo.spawn().unwrap();
    drop(child.stdin.take());
    let mut stderr = String::new();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        err.read_to_string(&mut stderr).unwrap();
        stderr
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let stderr = reader.join().unwrap();
    assert!(wait(&mut child).success(), "{stderr}");

    // Every span was sent before the process exited; give the listener a moment to read them.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut count = 0;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = datagrams.lock().unwrap().len();
        if (now == count && now > 0) || Instant::now() > deadline {
            break;
        }
        count = now;
    }
    let documents: Vec<Value> = datagrams
        .lock()
        .unwrap()
        .iter()
        .map(|datagram| {
            let text = std::str::from_utf8(datagram).unwrap();
            let (header, document) = text.split_once('\n').expect("a header line");
            assert_eq!(header, HEADER);
            serde_json::from_str(document).expect("a JSON document")
        })
        .collect();
    assert!(documents.len() > 10, "{documents:#?}\n{stderr}");

    // The recall call: the server span a segment, its children subsegments below it.
    let recall = documents
        .iter()
        .find(|document| {
            document["annotations"]["span_name"] == "mcp.recall_episodes"
                && document.get("parent_id").is_none()
        })
        .unwrap_or_else(|| panic!("no recall segment in {documents:#?}"));
    assert_eq!(recall["name"], "memory-gateway");
    assert!(recall.get("type").is_none(), "a segment: {recall}");
    let trace_id = recall["trace_id"].as_str().unwrap();
    let parts: Vec<&str> = trace_id.split('-').collect();
    assert_eq!(
        (parts[0], parts[1].len(), parts[2].len()),
        ("1", 8, 24),
        "{trace_id}"
    );
    let child_of = |parent: &Value, name: &str| -> Value {
        documents
            .iter()
            .find(|document| {
                document["name"] == name
                    && document["parent_id"] == parent["id"]
                    && document["trace_id"] == parent["trace_id"]
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {name} under {parent} in {documents:#?}"))
    };
    let episodic = child_of(recall, "episodic.recall");
    assert_eq!(episodic["type"], "subsegment");
    let search = child_of(&episodic, "qdrant.search");
    assert_eq!(search["type"], "subsegment");
    assert_eq!(search["namespace"], "remote", "a client call: {search}");

    // A tool error is recorded on the server span's segment.
    assert!(
        documents
            .iter()
            .any(|document| document["fault"] == true || document["error"] == true),
        "the demo's failing calls: {documents:#?}"
    );
}
