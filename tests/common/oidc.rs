//! A real OpenID Connect provider for the dashboard's authorization-code sign-in:
//! oidc-provider-mock (PyPI, authlib-based; scripts/test.sh installs it into `.venv-oidc/`), on a
//! free loopback port of the test's own. Not an AWS fake: a third-party OIDC server.
//!
//! What it does, tried with 0.3.4 (0.4 needs Python 3.12; these machines have 3.11): its issuer is
//! `http://127.0.0.1:PORT` (no trailing slash) with the OpenID configuration at the usual place;
//! any client id and secret are accepted (but some secret is needed: a public client's token request is
//! refused, invalid_client), and any redirect URI; `/oauth2/authorize` shows a form
//! where one types the subject (`input[name=sub]`) and presses Authorize; it checks PKCE (S256) and,
//! with `--require-nonce true`, that the request has a nonce, which it writes into the ID token.
//! ID tokens are RS256 with NO `kid` (its key set has one key), `aud` a list, no `jti`, and `email`
//! the subject unless claims were set (`PUT /users/{sub}`). Its page asks a CDN for a stylesheet,
//! which fails offline without harm.
#![allow(dead_code)]

use super::local_aws::root;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The provider's program: `OIDC_PROVIDER_MOCK_BIN`, or `.venv-oidc/bin/oidc-provider-mock`.
pub fn provider_bin() -> PathBuf {
    std::env::var_os("OIDC_PROVIDER_MOCK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-oidc/bin/oidc-provider-mock"))
}

/// The provider, stopped when dropped.
pub struct OidcProvider {
    /// Its issuer (`iss`) and base address: `http://127.0.0.1:PORT`.
    pub issuer: String,
    pub log: PathBuf,
    child: Child,
}

impl OidcProvider {
    /// Starts it (nonces required) and waits, at most 30 s, for its OpenID configuration.
    pub fn start() -> OidcProvider {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = PathBuf::from(format!("{}/oidc-provider-{port}.log", env!("CARGO_TARGET_TMPDIR")));
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let bin = provider_bin();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--require-nonce", "true"])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e} (scripts/test.sh installs it)", bin.display()));
        let mut provider = OidcProvider { issuer: format!("http://127.0.0.1:{port}"), log, child };
        let discovery = provider.discovery_url();
        for _ in 0..300 {
            if super::dashboard::get(&discovery, Duration::from_secs(2)).is_ok_and(|r| r.status == 200) {
                return provider;
            }
            if let Ok(Some(status)) = provider.child.try_wait() {
                panic!("{} exited ({status}); see {}", bin.display(), provider.log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the OIDC provider did not answer on {port} in 30 s; see {}", provider.log.display());
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
