//! A headless Chromium for integration tests, driven over the Chrome DevTools Protocol (CDP).
//!
//! Why CDP directly: Debian 12 does package `chromium-driver` (chromedriver) next to `chromium`,
//! but WebDriver would add a second process and an HTTP hop between the test and the browser,
//! and its classic protocol does not show what these tests look at most: console messages
//! (Content-Security-Policy violations), cookie flags (HttpOnly, SameSite) and JavaScript
//! dialogs. CDP gives all of them on one websocket to the browser we launch ourselves.
//!
//! How it works: `chromium --headless=new --remote-debugging-port=0` prints `DevTools listening
//! on ws://…` on stderr. We connect to that URL (tungstenite, blocking), create a page target and
//! attach to it with `flatten: true`, so page commands carry a `sessionId` on the same socket, and
//! enable the Page, Runtime, Network and Log domains. A command's reply is matched by its `id`;
//! every other message goes to [`Browser::record_event`] as soon as it is read, also while a
//! command waits for its reply, so no event is lost: loads are counted (the navigation waits use
//! the count), console errors and dialogs are kept. A JavaScript dialog blocks the page, possibly
//! in the middle of the `Runtime.evaluate` we wait on, so it is answered right there.
//!
//! Each browser has its own profile and `HOME` in a temp dir (Chromium keeps crash reports under
//! `$HOME/.config`) and its own process group, which is killed on drop. Every wait has a timeout,
//! and every failure panics with what the browser said.

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// How long the browser's start, a command or a navigation may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The page's viewport in CSS pixels, which are also the screenshots' pixels.
pub const VIEWPORT: (u32, u32) = (1280, 800);

/// How often [`Browser::wait_for`] checks its condition again.
const POLL: Duration = Duration::from_millis(50);

/// Chromium's flags besides the profile: headless, a port chosen by the kernel, and nothing that
/// talks to the network, shows a first-run page or needs a sandbox (tests run as root).
const FLAGS: &[&str] = &[
    "--headless=new",
    "--remote-debugging-port=0",
    "--no-sandbox",
    "--ignore-certificate-errors",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--password-store=basic",
    "--mute-audio",
    "--hide-scrollbars",
];

/// `Page.navigate`'s error for a 4xx or 5xx answer with an empty body, which still loads a page.
const EMPTY_ERROR_RESPONSE: &str = "net::ERR_HTTP_RESPONSE_CODE_FAILURE";

/// Prefix of the stderr line that tells where the browser's DevTools endpoint listens.
const DEVTOOLS_PREFIX: &str = "DevTools listening on ";

/// A cookie as the browser stores it for the current page (`Network.getCookies`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value.
    pub value: String,
    /// The domain it is sent to (the host, when the server set no `Domain`).
    pub domain: String,
    /// The path it is sent to.
    pub path: String,
    /// Set with `HttpOnly` (hidden from `document.cookie`).
    pub http_only: bool,
    /// Set with `Secure`.
    pub secure: bool,
    /// `Strict`, `Lax` or `None` as the server set it; `None` when it set no `SameSite`.
    pub same_site: Option<String>,
    /// Expiry in seconds since the Unix epoch; `None` for a session cookie.
    pub expires: Option<f64>,
}

impl Cookie {
    fn from_cdp(cookie: &Value) -> Cookie {
        let text = |key: &str| cookie[key].as_str().unwrap_or_default().to_string();
        let session = cookie["session"].as_bool().unwrap_or(true);
        Cookie {
            name: text("name"),
            value: text("value"),
            domain: text("domain"),
            path: text("path"),
            http_only: cookie["httpOnly"].as_bool().unwrap_or(false),
            secure: cookie["secure"].as_bool().unwrap_or(false),
            same_site: cookie["sameSite"].as_str().map(str::to_string),
            expires: if session { None } else { cookie["expires"].as_f64() },
        }
    }
}

/// The chromium process; dropping it kills its process group (zygotes, renderers, GPU and network
/// services). Its crashpad handlers leave the group (setsid), but exit once the browser is gone.
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One headless Chromium with one page, driven over CDP. All calls block, and panic on failure
/// or after a timeout.
pub struct Browser {
    socket: WebSocket<TcpStream>,
    /// The attached page's session; empty while talking to the browser target itself.
    session_id: String,
    next_id: u64,
    /// `Page.loadEventFired` events seen, and how many of them a navigation wait has consumed.
    loads: u64,
    loads_waited: u64,
    console_errors: Vec<String>,
    dialogs: Vec<String>,
    accept_dialogs: bool,
    // Dropped in this order: the socket, then the processes, then their profile.
    process: ProcessGroup,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromium` with a fresh profile and opens a blank page; `None` when chromium is not
    /// installed outside CI (see [`super::require_tool`]).
    pub fn launch() -> Option<Browser> {
        if !super::require_tool("chromium") {
            return None;
        }
        let profile = tempfile::tempdir().expect("temp dir for the chromium profile");
        let mut process = spawn_chromium(profile.path());
        let url = devtools_url(&mut process.0);
        let mut browser = Browser {
            socket: connect(&url),
            session_id: String::new(),
            next_id: 0,
            loads: 0,
            loads_waited: 0,
            console_errors: Vec::new(),
            dialogs: Vec::new(),
            accept_dialogs: true,
            process,
            profile,
        };
        browser.open_page();
        Some(browser)
    }

    /// Goes to `url` and waits for its load event. Panics when the page cannot be fetched at all
    /// (refused connection, TLS or DNS failure). An HTTP error status loads like any page; with
    /// an empty body chromium shows its own error page ("HTTP ERROR 404").
    pub fn navigate(&mut self, url: &str) {
        self.expect_navigation();
        let reply = self.command("Page.navigate", json!({ "url": url }));
        if let Some(error) = reply["errorText"].as_str().filter(|error| *error != EMPTY_ERROR_RESPONSE) {
            panic!("navigate to {url}: {error}");
        }
        // Without a loader the navigation stayed in the same document (a `#fragment`): no load.
        if reply.get("loaderId").is_some() {
            self.wait_for_navigation();
        }
    }

    /// Waits for the next page load not yet waited for: after [`Browser::click`] on a link, or
    /// after script that navigates.
    pub fn wait_for_navigation(&mut self) {
        let waited = self.loads_waited;
        let loaded = self.read_events_until(Instant::now() + TIMEOUT, |browser| browser.loads > waited);
        assert!(loaded, "no page finished loading within {TIMEOUT:?}");
        self.loads_waited = self.loads;
    }

    /// Evaluates the JavaScript expression `js` in the page (awaiting a promise) and returns its
    /// value as JSON (`null` for `undefined` and for values JSON cannot hold). Panics with the
    /// exception when the script throws.
    pub fn eval(&mut self, js: &str) -> Value {
        self.try_eval(js).unwrap_or_else(|error| panic!("eval `{js}`: {error}"))
    }

    /// The rendered text (`innerText`) of the first element matching the CSS `selector`.
    pub fn text(&mut self, selector: &str) -> String {
        let text = self.on_element("text", selector, "return el.innerText;");
        text.as_str().unwrap_or_default().to_string()
    }

    /// The page's `<title>`.
    pub fn title(&mut self) -> String {
        self.eval("document.title").as_str().unwrap_or_default().to_string()
    }

    /// The page's current URL.
    pub fn url(&mut self) -> String {
        self.eval("location.href").as_str().unwrap_or_default().to_string()
    }

    /// Whether an element matches the CSS `selector`.
    pub fn exists(&mut self, selector: &str) -> bool {
        let js = format!("document.querySelector({}) !== null", js_string(selector));
        self.eval(&js) == Value::Bool(true)
    }

    /// Sets the value of the input, textarea or select matching `selector`, firing `input` and
    /// `change` as typing would.
    pub fn fill(&mut self, selector: &str, value: &str) {
        let body = format!(
            "el.focus(); el.value = {}; \
             el.dispatchEvent(new Event('input', {{ bubbles: true }})); \
             el.dispatchEvent(new Event('change', {{ bubbles: true }}));",
            js_string(value)
        );
        self.on_element("fill", selector, &body);
    }

    /// Clicks the element matching `selector` (`el.click()`: its handlers and default action run,
    /// including dialogs they open). Does not wait for a navigation it starts.
    pub fn click(&mut self, selector: &str) {
        self.on_element("click", selector, "el.click();");
    }

    /// Clicks the element matching `selector` and waits for the page load it causes.
    pub fn click_and_wait(&mut self, selector: &str) {
        self.expect_navigation();
        self.click(selector);
        self.wait_for_navigation();
    }

    /// Submits the form matching `form_selector` as its submit button would (`requestSubmit`:
    /// validation and `submit` handlers run) and waits for the page load it causes. A form that
    /// fails validation does not navigate, so this times out.
    pub fn submit(&mut self, form_selector: &str) {
        self.expect_navigation();
        self.on_element("submit", form_selector, "el.requestSubmit();");
        self.wait_for_navigation();
    }

    /// Waits until the JavaScript expression `condition` is truthy, checking every 50 ms and
    /// across navigations; panics with its last outcome after `timeout`.
    pub fn wait_for(&mut self, condition: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let js = format!("Boolean({condition})");
        loop {
            let outcome = self.try_eval(&js);
            if outcome == Ok(Value::Bool(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "`{condition}` did not hold within {timeout:?}; last: {outcome:?}");
            self.read_events_until(deadline.min(Instant::now() + POLL), |_| false);
        }
    }

    /// Writes a PNG of the viewport ([`VIEWPORT`]) to `path`, creating its parent directories.
    pub fn screenshot(&mut self, path: &Path) {
        self.capture(path, json!({ "format": "png" }));
    }

    /// Writes a PNG of the whole page, beyond the viewport, to `path`, creating its parent
    /// directories.
    pub fn screenshot_full_page(&mut self, path: &Path) {
        let metrics = self.command("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let clip = json!({ "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 });
        self.capture(path, json!({ "format": "png", "captureBeyondViewport": true, "clip": clip }));
    }

    /// The cookies the browser would send to the current page, HttpOnly ones included.
    pub fn cookies(&mut self) -> Vec<Cookie> {
        let reply = self.command("Network.getCookies", json!({}));
        reply["cookies"].as_array().map(|cookies| cookies.iter().map(Cookie::from_cdp).collect()).unwrap_or_default()
    }

    /// The cookie called `name` that the browser would send to the current page.
    pub fn cookie(&mut self, name: &str) -> Option<Cookie> {
        self.cookies().into_iter().find(|cookie| cookie.name == name)
    }

    /// Every error the pages reported so far, oldest first: `console.error` calls, uncaught
    /// exceptions, and the browser's own error messages (Content-Security-Policy violations,
    /// failed subresource loads), except a missing favicon. Each starts with where it came from
    /// (`console.error:`, `exception:`, or the `Log` source such as `security:` or `network:`).
    pub fn console_errors(&mut self) -> Vec<String> {
        // The renderer sends its console messages on the same session as its replies, so one
        // round trip through it brings in every message logged before this call.
        self.command("Runtime.evaluate", json!({ "expression": "0" }));
        self.console_errors.clone()
    }

    /// The messages of the JavaScript dialogs (`alert`, `confirm`, `prompt`, `beforeunload`)
    /// opened so far, oldest first.
    pub fn dialogs(&self) -> Vec<String> {
        self.dialogs.clone()
    }

    /// Whether later dialogs are accepted (OK, the default) or dismissed (Cancel).
    pub fn set_accept_dialogs(&mut self, accept: bool) {
        self.accept_dialogs = accept;
    }

    /// The temp dir holding the browser's profile (`profile/`) and `HOME`; removed on drop.
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    /// Creates the page target, attaches to it and turns on the events the API reports.
    fn open_page(&mut self) {
        let target = self.command("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("Target.createTarget returns a targetId").to_string();
        let attached = self.command("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }));
        self.session_id =
            attached["sessionId"].as_str().expect("Target.attachToTarget returns a sessionId").to_string();
        for domain in ["Page", "Runtime", "Network", "Log"] {
            self.command(&format!("{domain}.enable"), json!({}));
        }
        // The headless window keeps room for browser UI that is never drawn; pin the viewport.
        let (width, height) = VIEWPORT;
        let metrics = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false });
        self.command("Emulation.setDeviceMetricsOverride", metrics);
        self.expect_navigation();
    }

    /// Forgets the loads seen so far, so the next [`Browser::wait_for_navigation`] waits for one
    /// that starts after this call.
    fn expect_navigation(&mut self) {
        self.loads_waited = self.loads;
    }

    /// Runs `body` (JavaScript statements) with `el` bound to the element matching `selector`;
    /// panics, naming `action`, when none matches or `body` throws.
    fn on_element(&mut self, action: &str, selector: &str, body: &str) -> Value {
        let js = format!(
            "(el => {{ if (el === null) throw new Error('no element matches'); {body} }})(document.querySelector({}))",
            js_string(selector)
        );
        self.try_eval(&js).unwrap_or_else(|error| panic!("{action} `{selector}`: {error}"))
    }

    /// `Runtime.evaluate`, with the exception or the protocol error (the page was navigating
    /// away, say) as the error.
    fn try_eval(&mut self, js: &str) -> Result<Value, String> {
        let params = json!({ "expression": js, "returnByValue": true, "awaitPromise": true, "userGesture": true });
        let reply = self.try_command("Runtime.evaluate", params)?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(exception_text(details));
        }
        Ok(reply["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    fn capture(&mut self, path: &Path, params: Value) {
        let reply = self.command("Page.captureScreenshot", params);
        let data = reply["data"].as_str().expect("Page.captureScreenshot returns data");
        let png = base64::engine::general_purpose::STANDARD.decode(data).expect("screenshot data is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write screenshot {}: {e}", path.display()));
    }

    /// Runs a command and returns its result; panics with chromium's error.
    fn command(&mut self, method: &str, params: Value) -> Value {
        self.try_command(method, params).unwrap_or_else(|error| panic!("{method}: {error}"))
    }

    /// Runs a command and returns its result or chromium's error message, recording the events
    /// that arrive before the reply.
    fn try_command(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send(method, params);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let Some(mut message) = self.read_message(deadline) else {
                panic!("chromium did not answer {method} within {TIMEOUT:?}");
            };
            if message["id"] != id {
                self.record_event(&message);
            } else if let Some(error) = message.get("error") {
                return Err(error["message"].as_str().map_or_else(|| error.to_string(), str::to_string));
            } else {
                return Ok(message["result"].take());
            }
        }
    }

    /// Sends a command to the page (or to the browser before a page is attached) without waiting
    /// for its reply; returns its id.
    fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut message = json!({ "id": self.next_id, "method": method });
        message["params"] = params;
        if !self.session_id.is_empty() {
            message["sessionId"] = json!(self.session_id);
        }
        self.socket.send(Message::text(message.to_string())).unwrap_or_else(|e| panic!("send {method}: {e}"));
        self.next_id
    }

    /// Reads and records messages until `done` holds (true) or `deadline` passes (false).
    fn read_events_until(&mut self, deadline: Instant, done: impl Fn(&Browser) -> bool) -> bool {
        while !done(self) {
            match self.read_message(deadline) {
                Some(message) => self.record_event(&message),
                None => return done(self),
            }
        }
        true
    }

    /// The next message from chromium, or `None` once `deadline` has passed.
    fn read_message(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            let left = deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())?;
            self.socket.get_mut().set_read_timeout(Some(left)).expect("set the DevTools read timeout");
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let message = serde_json::from_str(text.as_str());
                    return Some(message.unwrap_or_else(|e| panic!("chromium sent invalid JSON ({e}): {text}")));
                }
                // tungstenite answers pings itself; CDP sends nothing else.
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None;
                }
                Err(e) => panic!("DevTools connection to chromium lost (did it crash?): {e}"),
            }
        }
    }

    /// Records what the API reports from one message: page loads, errors and dialogs. Replies
    /// nobody waits for (to `Page.handleJavaScriptDialog`) and other sessions' events are ignored.
    fn record_event(&mut self, message: &Value) {
        if message.get("sessionId").and_then(Value::as_str) != Some(self.session_id.as_str()) {
            return;
        }
        let params = &message["params"];
        match message["method"].as_str() {
            Some("Page.loadEventFired") => self.loads += 1,
            Some("Page.javascriptDialogOpening") => {
                self.dialogs.push(params["message"].as_str().unwrap_or_default().to_string());
                // The page stays blocked (and the evaluate that opened the dialog unanswered)
                // until the dialog is handled; its reply is skipped like any stale one.
                self.send("Page.handleJavaScriptDialog", json!({ "accept": self.accept_dialogs }));
            }
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.console_errors.push(format!("console.error: {}", console_text(&params["args"])));
            }
            Some("Runtime.exceptionThrown") => {
                self.console_errors.push(format!("exception: {}", exception_text(&params["exceptionDetails"])));
            }
            Some("Log.entryAdded") => self.console_errors.extend(log_error(&params["entry"])),
            _ => {}
        }
    }
}

/// Starts chromium in its own process group, with its profile and `HOME` under `dir`.
fn spawn_chromium(dir: &Path) -> ProcessGroup {
    let child = Command::new("chromium")
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("about:blank")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("XDG_CACHE_HOME", dir.join(".cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn chromium");
    ProcessGroup(child)
}

/// Reads chromium's stderr until it prints its DevTools URL, then keeps draining it on a thread
/// so chromium never blocks on a full pipe.
fn devtools_url(process: &mut Child) -> String {
    let stderr = process.stderr.take().expect("piped stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Fails once the URL was found and nobody listens: keep draining.
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + TIMEOUT;
    let mut before = Vec::new();
    loop {
        match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => match line.strip_prefix(DEVTOOLS_PREFIX) {
                Some(url) => return url.trim().to_string(),
                None => before.push(line),
            },
            Err(e) => panic!("chromium printed no DevTools URL ({e}); its stderr:\n{}", before.join("\n")),
        }
    }
}

/// Opens the websocket to the browser's DevTools endpoint `url` (`ws://127.0.0.1:PORT/...`).
fn connect(url: &str) -> WebSocket<TcpStream> {
    let address = url.strip_prefix("ws://").and_then(|rest| rest.split('/').next());
    let address = address.unwrap_or_else(|| panic!("unexpected DevTools URL {url}"));
    let stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("connect to DevTools at {address}: {e}"));
    stream.set_read_timeout(Some(TIMEOUT)).expect("set the DevTools read timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("set the DevTools write timeout");
    // A full-page screenshot comes back as one message, and can pass tungstenite's default limits.
    let config = WebSocketConfig::default().max_frame_size(None).max_message_size(None);
    let (socket, _) = tungstenite::client::client_with_config(url, stream, Some(config))
        .unwrap_or_else(|e| panic!("DevTools websocket handshake with {url}: {e}"));
    socket
}

/// `value` as a JavaScript string literal (JSON's syntax is a subset of it).
fn js_string(value: &str) -> String {
    Value::from(value).to_string()
}

/// `console.error`'s arguments as the console shows them: strings bare, other values by their
/// JSON or their description.
fn console_text(args: &Value) -> String {
    let arg_text = |arg: &Value| match arg.get("value") {
        Some(Value::String(text)) => text.clone(),
        Some(value) if !value.is_null() => value.to_string(),
        _ => arg["description"].as_str().unwrap_or_default().to_string(),
    };
    args.as_array().into_iter().flatten().map(arg_text).collect::<Vec<_>>().join(" ")
}

/// An exception as the console shows it: `Uncaught Error: message` and its stack.
fn exception_text(details: &Value) -> String {
    let text = details["text"].as_str().unwrap_or("Uncaught");
    let exception = &details["exception"];
    match exception["description"].as_str() {
        Some(description) => format!("{text} {description}"),
        None => exception.get("value").map_or_else(|| text.to_string(), |value| format!("{text} {value}")),
    }
}

/// A `Log.entryAdded` entry worth a test's attention: an error other than a missing favicon.
fn log_error(entry: &Value) -> Option<String> {
    let url = entry["url"].as_str().unwrap_or_default();
    if entry["level"] != "error" || url.ends_with("/favicon.ico") {
        return None;
    }
    let source = entry["source"].as_str().unwrap_or("log");
    let text = entry["text"].as_str().unwrap_or_default();
    Some(if url.is_empty() { format!("{source}: {text}") } else { format!("{source}: {text} ({url})") })
}
