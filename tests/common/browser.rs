//! A real browser for the dashboard's tests: Debian's headless Chromium, driven over WebDriver by
//! fantoccini through Debian's chromedriver (both installed by scripts/install-browser.sh; a test
//! starts with `needs!(Browser)`). Each [`Browser`] is a chromedriver of its own on a free loopback
//! port with one Chromium session and a fresh profile; dropping it ends both.
//!
//! Screenshots go to [`screenshots_dir`]: `dashboard-screenshots/` in cargo's target directory
//! (`target/dashboard-screenshots/`, or under `CARGO_TARGET_DIR` when that is set), one
//! `NAME.png` per [`Browser::screenshot`], its path printed on stderr. The test command leaves them
//! there as the run's artifacts.

use super::local_aws::{CHROMEDRIVER, CHROMIUM};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The window of every page (CSS pixels). A screenshot is the viewport: as wide, less tall
/// (headless Chromium keeps room for its toolbars: 1280x757 in Chromium 156).
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone's window, for the screenshot that shows a page at phone width.
pub const PHONE: (u32, u32) = (390, 844);
/// How long [`Browser::wait_for`] waits for an element by default.
pub const WAIT: Duration = Duration::from_secs(20);

/// Where screenshots are written: `dashboard-screenshots/` in cargo's target directory, the parent
/// of `CARGO_TARGET_TMPDIR` (`target/`, or `CARGO_TARGET_DIR`).
pub fn screenshots_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("dashboard-screenshots")
}

/// Headless Chromium under a chromedriver of its own.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// chromedriver's address, for ending the session from [`Drop`].
    driver_address: String,
    session: String,
    /// Chromium's profile (`--user-data-dir`), new for each browser, removed on drop.
    profile: PathBuf,
    /// chromedriver's own log and Chromium's output, kept after the test.
    pub log: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a Chromium session with a new profile,
    /// its window [`DESKTOP`].
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let log = tmp.join(format!("chromedriver-{port}.log"));
        let profile = tmp.join(format!("chromium-profile-{port}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).unwrap_or_else(|e| panic!("{}: {e}", profile.display()));
        let output = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e} (scripts/install-browser.sh installs it)"));
        let driver_address = format!("127.0.0.1:{port}");
        // Until it is ready, a Browser of its own ends chromedriver if this panics.
        let mut browser = PartialBrowser { driver: Some(driver), profile: profile.clone() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&driver_address).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port} in 20 s; see {}", log.display());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let client = ClientBuilder::rustls()
            .expect("rustls with the platform's roots")
            .capabilities(capabilities(&profile))
            .connect(&format!("http://{driver_address}"))
            .await
            .unwrap_or_else(|e| panic!("a Chromium session from chromedriver: {e}; see {}", log.display()));
        let session = client.session_id().await.ok().flatten().expect("a WebDriver session id");
        let driver = browser.driver.take().unwrap();
        Browser { client, driver, driver_address, session, profile, log }
    }

    /// Opens `url` and waits for it to load (WebDriver's page-load strategy: the load event).
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The address the browser shows.
    pub async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("(no URL: {e})"))
    }

    /// The HTTP status of the document shown, as the browser received it (Navigation Timing's
    /// `responseStatus`; after a redirect, the last response's).
    pub async fn status(&self) -> u16 {
        let script = "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : null;";
        let value = self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("reading the status: {e}"));
        match value.as_u64().and_then(|s| u16::try_from(s).ok()) {
            Some(status) => status,
            None => panic!("no status ({value}) for {}", self.url().await),
        }
    }

    /// The page's viewport, `(innerWidth, innerHeight)`: what a screenshot shows.
    pub async fn viewport(&self) -> (u32, u32) {
        let value = self.client.execute("return [window.innerWidth, window.innerHeight];", vec![]).await;
        let value = value.unwrap_or_else(|e| panic!("reading the viewport: {e}"));
        let side = |i: usize| value[i].as_u64().and_then(|n| u32::try_from(n).ok()).expect("a size in pixels");
        (side(0), side(1))
    }

    /// The visible text of the whole page (`document.body.innerText`).
    pub async fn page_text(&self) -> String {
        let script = "return document.body ? document.body.innerText : '';";
        match self.client.execute(script, vec![]).await {
            Ok(Value::String(text)) => text,
            other => format!("(no text: {other:?})"),
        }
    }

    /// Waits up to [`WAIT`] for an element matching the CSS `selector`; see [`Browser::wait_for_at_most`].
    pub async fn wait_for(&self, selector: &str) -> fantoccini::elements::Element {
        self.wait_for_at_most(selector, WAIT).await
    }

    /// Waits up to `timeout` for an element matching the CSS `selector`. Past it, panics with the
    /// page's URL, status and text.
    pub async fn wait_for_at_most(&self, selector: &str, timeout: Duration) -> fantoccini::elements::Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(selector)).await {
                return element;
            }
            if Instant::now() > deadline {
                panic!("no element `{selector}` after {timeout:?}\n{}", self.describe().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element matching `selector` (waited for).
    pub async fn text(&self, selector: &str) -> String {
        let element = self.wait_for(selector).await;
        element.text().await.unwrap_or_else(|e| panic!("the text of `{selector}`: {e}"))
    }

    /// Types `text` into the input with this id, replacing what it held.
    pub async fn fill(&self, id: &str, text: &str) {
        let input = self.wait_for(&format!("#{id}")).await;
        input.clear().await.unwrap_or_else(|e| panic!("clearing #{id}: {e}"));
        input.send_keys(text).await.unwrap_or_else(|e| panic!("typing into #{id}: {e}"));
    }

    /// Clicks the first element matching `selector` (waited for); a click that submits a form
    /// returns once the next page has loaded.
    pub async fn click(&self, selector: &str) {
        let element = self.wait_for(selector).await;
        element.click().await.unwrap_or_else(|e| panic!("clicking `{selector}`: {e}"));
    }

    /// Clicks what leads to another page (a form's button, a link) and waits until that page has
    /// replaced this one and loaded: the old document's root goes stale first, so that nothing
    /// after it reads the page being left.
    pub async fn navigate_by(&self, selector: &str) {
        let old_root = self.wait_for("html").await;
        self.click(selector).await;
        let deadline = Instant::now() + WAIT;
        while old_root.tag_name().await.is_ok() {
            if Instant::now() > deadline {
                panic!("clicking `{selector}` left the page in place after {WAIT:?}\n{}", self.describe().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        loop {
            let ready = self.client.execute("return document.readyState;", vec![]).await;
            if matches!(ready, Ok(Value::String(ref state)) if state == "complete") {
                return;
            }
            if Instant::now() > deadline {
                panic!("the page after `{selector}` did not load in {WAIT:?}\n{}", self.describe().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes what the window shows to `screenshots_dir()/NAME.png` (replacing an older one) and
    /// returns its path, printed on stderr. Names are unique across the tests.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Straight to the process's stderr: the test harness captures what eprintln! writes.
        let _ = std::io::stderr().write_all(format!("screenshot: {}\n", path.display()).as_bytes());
        path
    }

    /// A screenshot of the page at phone width ([`PHONE`]), then the window back to [`DESKTOP`].
    pub async fn phone_screenshot(&self, name: &str) -> PathBuf {
        self.resize(PHONE).await;
        let path = self.screenshot(name).await;
        self.resize(DESKTOP).await;
        path
    }

    /// Sets the window's size (Chromium lays the page out again before the next command).
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client.set_window_size(width, height).await.unwrap_or_else(|e| panic!("window {width}x{height}: {e}"));
    }

    /// The page's URL, status and text, for a failure's message.
    pub async fn describe(&self) -> String {
        let status = self
            .client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : null;",
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        let mut text = self.page_text().await;
        if text.len() > 4000 {
            let mut end = 4000;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("\n(...)");
        }
        format!("page: {} (status {status})\n--- text ---\n{text}\n---", self.url().await)
    }
}

/// What chromedriver starts Chromium with. The machines' network is closed: without the flags that
/// turn off background networking, Chromium keeps trying (and logging) connections that are refused.
fn capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let (width, height) = DESKTOP;
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={width},{height}"),
    ];
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session over plain HTTP (Drop cannot await the client): chromedriver then quits
        // Chromium, which it started; a chromedriver ended first leaves Chromium running. Then
        // chromedriver itself, by its pid: SIGTERM, SIGKILL if it lingers (never a process group:
        // see LambdaWatch's Drop). Then any process still using this browser's profile.
        delete_session(&self.driver_address, &self.session);
        stop(&mut self.driver);
        end_users_of(&self.profile);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// chromedriver while the session is being made: ended if that fails.
struct PartialBrowser {
    driver: Option<Child>,
    profile: PathBuf,
}

impl Drop for PartialBrowser {
    fn drop(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            stop(&mut driver);
            end_users_of(&self.profile);
            let _ = std::fs::remove_dir_all(&self.profile);
        }
    }
}

/// WebDriver's Delete Session, by hand: one HTTP/1.1 request, its answer awaited (Chromium is gone
/// when chromedriver answers).
fn delete_session(address: &str, session: &str) {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(address) else { return };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let request = format!("DELETE /session/{session} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

/// SIGTERM to each process whose command line names `profile` (this browser's Chromium and its
/// helpers, and no other: the directory is new for each browser), when ending the session did not
/// end them.
fn end_users_of(profile: &Path) {
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    let needle = profile.as_os_str().as_encoded_bytes();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else { continue };
        let Ok(command_line) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if command_line.windows(needle.len()).any(|w| w == needle) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
    }
}

/// SIGTERM to `child` alone, then SIGKILL after 5 s.
fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    for _ in 0..50 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
