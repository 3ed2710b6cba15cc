//! `serve` under a `Type=notify` systemd unit: it sends `READY=1` to `NOTIFY_SOCKET` once the
//! listener is bound, and `STOPPING=1` when SIGTERM starts a graceful stop.

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the server if the test fails before it stops it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Server {
    fn stderr(&mut self) -> String {
        let _ = self.0.kill();
        let mut text = String::new();
        if let Some(mut err) = self.0.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

fn receive(socket: &UnixDatagram, server: &mut Server, waiting_for: &str) -> String {
    let mut buf = [0u8; 4096];
    match socket.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!("no datagram while waiting for {waiting_for}: {e}; server stderr:\n{}", server.stderr()),
    }
}

#[test]
fn serve_notifies_systemd_when_ready_and_when_stopping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "auth: {enabled: false}\n").expect("write config");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket.set_read_timeout(Some(Duration::from_secs(20))).expect("read timeout");

    let child = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
        .args(["serve", "--listen", "127.0.0.1:0", "--insecure-http", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mirror-registry serve");
    let mut server = Server(child);

    let ready = receive(&socket, &mut server, "READY=1");
    assert!(ready.starts_with("READY=1"), "first notification: {ready:?}");
    assert!(ready.contains("\nSTATUS=serving http://127.0.0.1:"), "status names the bound address: {ready:?}");

    let status = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -TERM: {status}");
    let stopping = receive(&socket, &mut server, "STOPPING=1");
    assert_eq!(stopping, "STOPPING=1");

    let exit = server.0.wait().expect("wait for the server");
    assert!(exit.success(), "a SIGTERM stop exits 0: {exit}");
}
