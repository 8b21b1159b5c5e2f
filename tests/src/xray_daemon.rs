//! A UDP listener on loopback standing in for the AWS X-Ray daemon: it keeps every datagram and
//! decodes each into its header line and its segment document.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The header line every datagram must start with, as the daemon reads it.
pub const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}";

/// The X-Ray daemon's stand-in.
#[derive(Debug)]
pub struct XrayDaemon {
    address: SocketAddr,
    datagrams: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl XrayDaemon {
    /// Listens on a free loopback port.
    ///
    /// # Panics
    ///
    /// If no loopback UDP port can be bound.
    #[must_use]
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
        let address = socket.local_addr().expect("bound");
        let datagrams = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&datagrams);
        std::thread::spawn(move || {
            // Larger than any UDP payload, so a datagram is never cut.
            let mut buffer = vec![0_u8; 70_000];
            while let Ok(length) = socket.recv(&mut buffer) {
                kept.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(buffer[..length].to_vec());
            }
        });
        XrayDaemon { address, datagrams }
    }

    /// `127.0.0.1:port`, for `AWS_XRAY_DAEMON_ADDRESS`.
    #[must_use]
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Every datagram as it arrived.
    #[must_use]
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.datagrams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every segment document, in arrival order.
    ///
    /// # Panics
    ///
    /// When a datagram does not start with the header line or its document is not JSON.
    #[must_use]
    pub fn documents(&self) -> Vec<serde_json::Value> {
        self.datagrams()
            .iter()
            .map(|datagram| decode(datagram))
            .collect()
    }

    /// Waits until `count` documents have arrived, then returns them all.
    ///
    /// # Panics
    ///
    /// When they do not arrive within `limit`.
    #[must_use]
    pub fn wait_for(&self, count: usize, limit: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            let documents = self.documents();
            if documents.len() >= count {
                return documents;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} documents arrived within {limit:?}: {documents:#?}",
                documents.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The segment document of one datagram, after checking its header line.
///
/// # Panics
///
/// When the datagram does not start with the header line and a newline, or the rest is not one
/// JSON object.
#[must_use]
pub fn decode(datagram: &[u8]) -> serde_json::Value {
    let text = std::str::from_utf8(datagram).expect("a datagram is UTF-8");
    let (header, document) = text
        .split_once('\n')
        .unwrap_or_else(|| panic!("no header line in {text:?}"));
    assert_eq!(header, DAEMON_HEADER, "the header line");
    let header: serde_json::Value = serde_json::from_str(header).expect("the header is JSON");
    assert_eq!(header["format"], "json");
    assert_eq!(header["version"], 1);
    let document: serde_json::Value = serde_json::from_str(document)
        .unwrap_or_else(|error| panic!("the document is not JSON ({error}): {document:?}"));
    assert!(document.is_object(), "{document}");
    document
}
