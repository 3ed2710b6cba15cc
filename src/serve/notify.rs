//! systemd readiness notification (the `sd_notify` protocol), without libsystemd.
//!
//! Under a `Type=notify` unit, systemd considers the service started only when it receives
//! `READY=1`, and we send that once the listener is bound. So `systemctl start` returns when the
//! registry can answer, and the installer's health wait checks a registry that is up rather than
//! one still opening its database. `STOPPING=1` tells systemd that a graceful stop has begun.
//!
//! The protocol: `NOTIFY_SOCKET` names a unix datagram socket, either a filesystem path or, with
//! a leading `@`, a Linux abstract socket name; each message is one datagram of
//! newline-separated `KEY=VALUE` assignments. Without `NOTIFY_SOCKET` (not run by systemd, or
//! `Type=simple`) nothing is sent.

use std::ffi::OsStr;
use std::io;
use std::os::unix::net::UnixDatagram;

/// Sends `state` (for example `"READY=1\nSTATUS=serving https://127.0.0.1:5000"`) to the socket
/// named by `NOTIFY_SOCKET`.
///
/// Returns whether it was sent: false when `NOTIFY_SOCKET` is unset or empty, and false (after a
/// warning in the log) when sending fails. A failed notification never stops the registry.
#[allow(
    clippy::must_use_candidate,
    reason = "it sends a datagram; the result only informs, and `serve` runs the same either way"
)]
pub fn notify(state: &str) -> bool {
    notify_to(std::env::var_os("NOTIFY_SOCKET").as_deref(), state)
}

/// [`notify`] with the value of `NOTIFY_SOCKET` passed in, so tests need not change the
/// process environment.
fn notify_to(socket: Option<&OsStr>, state: &str) -> bool {
    let Some(socket) = socket.filter(|s| !s.is_empty()) else {
        return false;
    };
    let Some(socket) = socket.to_str() else {
        tracing::warn!(socket = %socket.display(), "NOTIFY_SOCKET is not UTF-8; systemd not notified");
        return false;
    };
    match send_to(socket, state) {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(socket, %error, "cannot notify systemd");
            false
        }
    }
}

/// Sends `state` as one datagram to `socket`: a path, or an abstract name written `@name`.
fn send_to(socket: &str, state: &str) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    let sent = match socket.strip_prefix('@') {
        Some(name) => send_to_abstract(&sender, name, state)?,
        None => sender.send_to(state.as_bytes(), socket)?,
    };
    if sent == state.len() { Ok(()) } else { Err(io::Error::other(format!("sent {sent} of {} bytes", state.len()))) }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_to_abstract(sender: &UnixDatagram, name: &str, state: &str) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    sender.send_to_addr(state.as_bytes(), &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_to_abstract(_sender: &UnixDatagram, _name: &str, _state: &str) -> io::Result<usize> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract unix sockets exist only on Linux"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(socket: &UnixDatagram) -> String {
        socket.set_read_timeout(Some(Duration::from_secs(5))).expect("set timeout");
        let mut buf = [0u8; 1024];
        let n = socket.recv(&mut buf).expect("a datagram arrives");
        String::from_utf8(buf[..n].to_vec()).expect("UTF-8")
    }

    #[test]
    fn sends_one_datagram_to_a_filesystem_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let state = "READY=1\nSTATUS=serving http://127.0.0.1:5000";
        assert!(notify_to(Some(path.as_os_str()), state), "sent through the NOTIFY_SOCKET value");
        assert_eq!(receive(&receiver), state);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn sends_to_an_abstract_name_written_with_a_leading_at() {
        use std::os::linux::net::SocketAddrExt;
        // Abstract names are global to the network namespace: make this one unique to the run.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let name = format!("mirror-registry-notify-test-{}-{nanos}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
        let receiver = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        send_to(&format!("@{name}"), "STOPPING=1").expect("send");
        assert_eq!(receive(&receiver), "STOPPING=1");
    }

    #[test]
    fn does_nothing_without_notify_socket() {
        for (case, socket) in [("unset", None), ("empty", Some(OsStr::new("")))] {
            assert!(!notify_to(socket, "READY=1"), "{case}: nothing is sent");
        }
    }

    #[test]
    fn reports_a_socket_nobody_listens_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("absent.sock");
        assert!(send_to(path.to_str().expect("UTF-8 path"), "READY=1").is_err());
        assert!(!notify_to(Some(path.as_os_str()), "READY=1"), "a failed send returns false");
    }
}
