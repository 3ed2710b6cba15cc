//! Slow and greedy clients against the real listener: headers trickled byte by byte are cut off
//! after the header-read timeout, one address cannot hold more than its share of connections,
//! and other clients are served all the while.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use common::Registry;

const SLOW: usize = 20;

/// A full `GET /v2/` answered 200, from `source`.
fn served(reg: &Registry, source: &str) -> bool {
    let client = reqwest::blocking::Client::builder()
        .local_address(source.parse::<IpAddr>().expect("ip"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    client.get(format!("{}/v2/", reg.url())).send().is_ok_and(|r| r.status() == 200)
}

/// Whether the server closed `s` (EOF or reset, after whatever it still sent) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        }
    }
}

#[test]
fn slow_headers_are_cut_off_and_one_address_cannot_take_every_connection() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let reg = Registry::ours_configured(
        dir,
        &data,
        &format!("http:\n  header_read_timeout: 2s\n  idle_timeout: 30s\n  max_connections_per_client: {SLOW}\n"),
        &[],
    );
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(&reg.host).expect("connect");
            s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").expect("partial headers");
            s
        })
        .collect();
    // The address is at its cap: one more connection is closed at once, with no answer.
    let mut extra = TcpStream::connect(&reg.host).expect("connect");
    let _ = extra.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answer = Vec::new();
    extra.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let _ = extra.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200"), "over the cap yet served: {answer:?}");
    // Another client is served while the slow ones hold their connections.
    assert!(served(&reg, "127.0.0.2"), "another address is served");
    // Trickling a byte now and then does not keep a connection alive past the timeout.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(500));
        for s in &mut slow {
            let _ = s.write_all(b"X");
        }
    }
    for (i, s) in slow.iter_mut().enumerate() {
        assert!(closed_within(s, Duration::from_secs(5)), "slow connection {i} still open");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(12), "closed after {elapsed:?}");
    // Their slots are free again.
    assert!(served(&reg, "127.0.0.1"), "the address is served again once its slow connections are gone");
}
