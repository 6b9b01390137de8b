//! What the integration tests run against outside Rust, found or started here, so that a plain
//! `cargo test` works on a fresh checkout:
//!
//! - **moto**: the server of `AWS_ENDPOINT_URL` when it is set (scripts/test.sh starts one);
//!   otherwise, when moto is installed in the project's `.venv/` (scripts/test.sh and scripts/demo.sh
//!   install it), one `scripts/moto-server` per test process, on a free loopback port, started by the
//!   first test that asks for it and ended with the process (it exits when its stdin, a pipe only
//!   this process holds, closes; so even a killed test process leaves no server behind);
//! - **SeaweedFS**: only the one scripts/test.sh starts (`S3C_TEST_SEAWEED_ENDPOINT`);
//! - **cargo-lambda** on PATH or in `.venv/`, and **cfn-lint** in `.venv/`;
//! - **oidc-provider-mock**, a real OpenID Connect provider, in `.venv-oidc/` (tests/common/oidc.rs);
//! - **Chromium** and **chromedriver** from Debian's packages, at [`CHROMIUM`] and [`CHROMEDRIVER`]
//!   (scripts/install-browser.sh, which scripts/test.sh runs, installs them).
//!
//! A test starts with [`needs!`]: when what it needs is missing, it is skipped with one line on
//! stderr saying how to run it; under `S3C_REQUIRE_LOCAL_AWS=1` (scripts/test.sh, the README's test
//! command, sets it) it fails instead, so that command passes only if every test ran.
//!
//! Std only: crates/cli's tests use it too (through `#[path]`).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Set (to anything but empty or `0`) by scripts/test.sh: a missing tool fails the test.
pub const REQUIRE: &str = "S3C_REQUIRE_LOCAL_AWS";

/// Skips the calling test (returns from it, after one line on stderr) when `$tool` (a [`Tool`]) is
/// missing; under `S3C_REQUIRE_LOCAL_AWS=1` fails it instead.
macro_rules! needs {
    ($tool:ident) => {
        if !$crate::common::local_aws::present($crate::common::local_aws::Tool::$tool) {
            return;
        }
    };
}
pub(crate) use needs;

/// What a test may need besides Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// A moto server: `AWS_ENDPOINT_URL`'s, or one started here ([`endpoint`]).
    Moto,
    /// A moto server of the test's own (for server-wide switches such as IAM enforcement): the
    /// moto-server program must be there, whatever `AWS_ENDPOINT_URL` says.
    OwnMoto,
    /// The SeaweedFS scripts/test.sh starts.
    SeaweedFs,
    /// `cargo lambda` ([`cargo_lambda_path`]).
    CargoLambda,
    /// cfn-lint's Python package, installed with moto into `.venv/`.
    CfnLint,
    /// Headless Chromium and its WebDriver server, chromedriver ([`CHROMIUM`], [`CHROMEDRIVER`]).
    Browser,
    /// oidc-provider-mock, a real OpenID Connect provider, in `.venv-oidc/` (tests/common/oidc.rs).
    OidcProvider,
}

/// Debian's `chromium` package's browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver` package's WebDriver server, of the same version as [`CHROMIUM`].
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The repository's root: the nearest directory above the calling crate with scripts/moto-server.
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .find(|dir| dir.join("scripts/moto-server").exists())
            .expect("scripts/moto-server above the crate")
            .to_owned()
    })
}

/// The program that starts a moto server: `MOTO_SERVER_BIN` (scripts/local-aws.sh sets it), or the
/// project's scripts/moto-server.
pub fn moto_server_bin() -> PathBuf {
    std::env::var_os("MOTO_SERVER_BIN").map(PathBuf::from).unwrap_or_else(|| root().join("scripts/moto-server"))
}

/// Whether moto is installed where scripts/moto-server runs it from.
fn moto_installed() -> bool {
    std::env::var_os("MOTO_SERVER_BIN").is_some() || root().join(".venv/bin/moto_server").exists()
}

/// Whether oidc-provider-mock is where tests/common/oidc.rs runs it from.
fn oidc_provider_installed() -> bool {
    std::env::var_os("OIDC_PROVIDER_MOCK_BIN").is_some() || root().join(".venv-oidc/bin/oidc-provider-mock").exists()
}

/// The PATH under which `cargo lambda` runs: the process's, with `.venv/bin` in front when
/// cargo-lambda is installed there; None when it is nowhere.
pub fn cargo_lambda_path() -> Option<std::ffi::OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| dir.join("cargo-lambda").exists()) {
        return Some(path);
    }
    let venv = root().join(".venv/bin");
    if !venv.join("cargo-lambda").exists() {
        return None;
    }
    std::env::join_paths(std::iter::once(venv).chain(std::env::split_paths(&path))).ok()
}

impl Tool {
    /// Ok when it is there to use; otherwise what is missing.
    fn find(self) -> Result<(), &'static str> {
        let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        match self {
            Tool::Moto if set("AWS_ENDPOINT_URL") || moto_installed() => Ok(()),
            Tool::Moto => Err("no moto: AWS_ENDPOINT_URL is unset and .venv has no moto"),
            Tool::OwnMoto if moto_installed() => Ok(()),
            Tool::OwnMoto => Err("it starts a moto of its own and .venv has no moto"),
            Tool::SeaweedFs if set("S3C_TEST_SEAWEED_ENDPOINT") => Ok(()),
            Tool::SeaweedFs => Err("no SeaweedFS: S3C_TEST_SEAWEED_ENDPOINT is unset"),
            Tool::CargoLambda if cargo_lambda_path().is_some() => Ok(()),
            Tool::CargoLambda => Err("no cargo-lambda on PATH or in .venv"),
            Tool::CfnLint if root().join(".venv/bin/cfn-lint").exists() => Ok(()),
            Tool::CfnLint => Err("no cfn-lint in .venv"),
            Tool::Browser if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() => Ok(()),
            Tool::OidcProvider if oidc_provider_installed() => Ok(()),
            Tool::OidcProvider => Err("no oidc-provider-mock: OIDC_PROVIDER_MOCK_BIN is unset and .venv-oidc has none"),
            Tool::Browser => Err("no browser: /usr/bin/chromium or /usr/bin/chromedriver is missing (scripts/install-browser.sh installs them)"),
        }
    }
}

/// Whether the calling test may go on: true when `tool` is there; false, after one line on stderr,
/// when it is missing; a panic when it is missing under `S3C_REQUIRE_LOCAL_AWS`.
pub fn present(tool: Tool) -> bool {
    let Err(missing) = tool.find() else { return true };
    let test = std::thread::current().name().unwrap_or("this test").to_owned();
    let how = "scripts/test.sh installs what is missing and runs every test";
    if std::env::var(REQUIRE).is_ok_and(|v| !v.is_empty() && v != "0") {
        panic!("{test}: {missing} ({REQUIRE} is set: every integration test must run); {how}");
    }
    // Straight to the process's stderr: the test harness captures what eprintln! writes.
    let line = format!("skipped {test}: {missing}; {how}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// The moto endpoint of this test run: `AWS_ENDPOINT_URL`, or this process's own moto, started on
/// first use. A test calls [`needs!`]`(Moto)` first; here a missing moto is a failure.
pub fn endpoint() -> String {
    if let Some(url) = std::env::var("AWS_ENDPOINT_URL").ok().filter(|url| !url.is_empty()) {
        return url;
    }
    static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
    let moto = MOTO.get_or_init(|| {
        if let Err(missing) = Tool::Moto.find() {
            return Err(format!("{missing}: run the integration tests with scripts/test.sh"));
        }
        let log = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tests".into());
        Moto::start(Some(&Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-{log}.log"))))
    });
    // Kept for the life of the process: the server ends when the process does.
    match moto {
        Ok(moto) => moto.endpoint.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// A moto server on a free loopback port, which exits when its stdin closes: when this value is
/// dropped, or when the process ends in any way.
pub struct Moto {
    pub endpoint: String,
    pub child: Child,
    /// Held open; its end is the server's.
    stdin: Option<ChildStdin>,
}

impl Moto {
    /// Starts the server (its output to `log`, or nowhere) and waits until it answers, at most 20 s.
    pub fn start(log: Option<&Path>) -> Result<Moto, String> {
        let bin = moto_server_bin();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let (stdout, stderr, see) = match log {
            Some(log) => {
                let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
                let copy = file.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
                (Stdio::from(file), Stdio::from(copy), format!("; see {}", log.display()))
            }
            None => (Stdio::null(), Stdio::null(), String::new()),
        };
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string(), "--until-stdin-closes"])
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting {}: {e} (scripts/test.sh installs moto)", bin.display()))?;
        let stdin = child.stdin.take();
        let mut moto = Moto { endpoint: format!("http://127.0.0.1:{port}"), child, stdin };
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(moto);
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!("{} exited ({status}){see}", bin.display()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        moto.stop();
        Err(format!("moto server on port {port} did not start in 20 s{see}"))
    }

    pub fn stop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
