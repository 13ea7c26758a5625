//! Shared machinery for the end-to-end tests: finding binaries, free
//! ports, child processes that die with their guard, bounded waits, and
//! small readers for the router's `/metrics` and `/api/v1/alerts`.
//!
//! Synchronisation is always "poll a condition until it holds or a deadline
//! passes" ([`wait_until`], [`Proc::wait_until`]); the short pause between
//! two polls lives only in [`wait_until`].

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

/// The `watchfire` binary cargo built for this test run.
pub fn watchfire() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_watchfire"))
}

/// A peer binary from `PATH` (Debian's `promtool`, `prometheus`, ...).
/// Panics with an install hint when it is missing: CI installs them, so a
/// missing peer is a broken environment, not a reason to skip.
pub fn peer(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required peer binary `{name}` not found on PATH or in /usr/bin; \
         install Debian's `prometheus` package (promtool, prometheus) — .ci/run does this"
    );
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Polls `f` every 100 ms until it returns `Some` or `timeout` passes.
/// The one place the tests pause.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// [`poll`], panicking with `what` on timeout.
pub fn wait_until<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    poll(timeout, f).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args…` in `cwd` to completion (at most 60 s).
pub fn run(program: &Path, args: &[&str], cwd: &Path) -> Output {
    let dir = TempDir::new().expect("tempdir");
    let mut p = Proc::spawn(
        "cmd",
        Command::new(program).args(args).current_dir(cwd),
        dir.path(),
    );
    let status = p.wait_exit(Duration::from_secs(60));
    Output {
        code: status.code().unwrap_or(-1),
        stdout: p.stdout(),
        stderr: p.stderr(),
    }
}

static SPAWNED: AtomicUsize = AtomicUsize::new(0);

/// A child process that is killed (SIGKILL) and reaped when dropped. Its
/// standard output and error go to files, readable while it runs.
pub struct Proc {
    name: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    /// Starts `cmd` with its output in fresh files under `log_dir`.
    pub fn spawn(name: &str, cmd: &mut Command, log_dir: &Path) -> Proc {
        let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
        let stdout = log_dir.join(format!("{name}-{n}.stdout"));
        let stderr = log_dir.join(format!("{name}-{n}.stderr"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("creating stdout log"))
            .stderr(File::create(&stderr).expect("creating stderr log"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            stdout,
            stderr,
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("process already reaped")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("process already reaped").id()
    }

    /// Everything the process wrote to standard output so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Everything the process wrote to standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().expect("try_wait")
    }

    /// Panics (with the process's logs) if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(st) = self.try_exit() {
            panic!(
                "{} exited unexpectedly with {st}\n--- stderr ---\n{}",
                self.name,
                self.stderr()
            );
        }
    }

    /// Waits at most `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name.clone();
        wait_until(&format!("{name} to exit"), timeout, || self.try_exit())
    }

    /// Like [`wait_until`], but fails at once if the process dies, and
    /// shows its standard error on failure.
    pub fn wait_until<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        match poll(timeout, || {
            self.assert_running();
            f()
        }) {
            Some(v) => v,
            None => panic!(
                "timed out after {timeout:?} waiting for {what}\n--- {} stderr ---\n{}",
                self.name,
                tail(&self.stderr(), 4000)
            ),
        }
    }

    /// Sends a signal by name (`HUP`, ...) with the `kill` command.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(st.success(), "kill -{sig} {} failed: {st}", self.pid());
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!(
                "--- {} (still running) stderr tail ---\n{}",
                self.name,
                tail(&self.stderr(), 3000)
            );
        }
        self.kill9();
    }
}

/// The last `n` bytes of `s` (on a char boundary).
pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Removes ANSI colour sequences (the router's log may colour its lines).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters… final byte in '@'..='~'.
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) && d != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A blocking HTTP client with short timeouts.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client")
}

/// `GET url` as text when it answers 2xx.
pub fn get_text(client: &reqwest::blocking::Client, url: &str) -> Option<String> {
    let r = client.get(url).send().ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.text().ok()
}

/// One sample of the text exposition format: its labels and value.
pub type MetricSample = (BTreeMap<String, String>, f64);

/// All samples of metric `name` in a text exposition page.
pub fn metric_samples(page: &str, name: &str) -> Vec<MetricSample> {
    let mut out = Vec::new();
    for line in page.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.rfind('}') else { continue };
            (parse_labels(&r[..end]), r[end + 1..].trim())
        } else if rest.starts_with(' ') {
            (BTreeMap::new(), rest.trim())
        } else {
            continue; // a longer metric name with this prefix
        };
        let value = value.split_whitespace().next().unwrap_or("");
        if let Ok(v) = value.parse::<f64>() {
            out.push((labels, v));
        }
    }
    out
}

/// The value of `name` on the one sample whose labels include `want`.
pub fn metric_value(page: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    metric_samples(page, name)
        .into_iter()
        .find(|(l, _)| {
            want.iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| v)
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => break,
                },
                o => value.push(o),
            }
        }
        out.insert(name.trim().to_string(), value);
    }
    out
}

/// One alert from `/api/v1/alerts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub active_at: String,
    pub value: String,
}

impl Alert {
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// `activeAt` as milliseconds since the epoch.
    pub fn active_at_ms(&self) -> i64 {
        parse_rfc3339_ms(&self.active_at)
            .unwrap_or_else(|| panic!("activeAt {:?} is not RFC 3339", self.active_at))
    }
}

/// Parses a Prometheus `/api/v1/alerts` response, checking its envelope.
pub fn parse_alerts(body: &Value) -> Vec<Alert> {
    assert_eq!(body["status"], "success", "alerts response: {body}");
    let list = body["data"]["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("data.alerts is not a list: {body}"));
    list.iter()
        .map(|a| Alert {
            labels: serde_json::from_value(a["labels"].clone())
                .unwrap_or_else(|e| panic!("labels of {a}: {e}")),
            state: a["state"].as_str().unwrap_or_default().to_string(),
            active_at: a["activeAt"].as_str().unwrap_or_default().to_string(),
            value: a["value"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` → ms since the epoch.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    watchfire_promql::civil::parse_rfc3339(s)
}

/// A `watchfire router` set up in its own temporary folder: config file,
/// rules folder and state file. [`Router::start`] may be called again after
/// [`Router::kill9`] to restart on the same state.
pub struct Router {
    pub dir: TempDir,
    pub port: u16,
    pub config: PathBuf,
    pub rules_dir: PathBuf,
    pub state: PathBuf,
    pub proc: Option<Proc>,
    client: reqwest::blocking::Client,
}

/// How long a router may take to come up (a debug build on a busy machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Router {
    /// Writes a config with the given intervals and `rules` as
    /// `(file name, content)` in `rules/`.
    pub fn new(rules: &[(&str, &str)], evaluation_interval: &str, reload_check: &str) -> Router {
        let dir = TempDir::new().expect("tempdir");
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir(&rules_dir).expect("mkdir rules");
        for (name, text) in rules {
            std::fs::write(rules_dir.join(name), text).expect("writing rule file");
        }
        let port = free_port();
        let state = dir.path().join("state").join("router.redb");
        let config = dir.path().join("router.yml");
        std::fs::write(
            &config,
            format!(
                "server: {{ listen_address: \"127.0.0.1:{port}\" }}\n\
                 rules:\n  files: [\"rules/*.yml\"]\n  evaluation_interval: {evaluation_interval}\n  reload_check_interval: {reload_check}\n\
                 state: {{ path: {:?} }}\n\
                 alerting: {{ console: true }}\n",
                state.display().to_string()
            ),
        )
        .expect("writing config");
        Router {
            dir,
            port,
            config,
            rules_dir,
            state,
            proc: None,
            client: http(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Adds a `dispatch:` section: `am_yml` is written as
    /// `alertmanager.yml`, and `token` (when given) as the API token file.
    pub fn with_dispatch(self, am_yml: &str, token: Option<&str>) -> Router {
        let am = self.dir.path().join("alertmanager.yml");
        std::fs::write(&am, am_yml).expect("writing alertmanager.yml");
        let mut section = format!(
            "dispatch:\n  alertmanager_config: {:?}\n",
            am.display().to_string()
        );
        if let Some(t) = token {
            let tf = self.dir.path().join("api-token");
            std::fs::write(&tf, t).expect("writing the token file");
            section.push_str(&format!(
                "  api_token_file: {:?}\n",
                tf.display().to_string()
            ));
        }
        let mut cfg = std::fs::read_to_string(&self.config).expect("reading router.yml");
        cfg.push_str(&section);
        std::fs::write(&self.config, cfg).expect("writing router.yml");
        self
    }

    /// Starts the router and waits for `/-/ready`.
    pub fn start(&mut self) -> &mut Proc {
        assert!(self.proc.is_none(), "router already running");
        let p = Proc::spawn(
            "watchfire-router",
            Command::new(watchfire())
                .arg("router")
                .arg("--config")
                .arg(&self.config)
                .env("RUST_LOG", "info"),
            self.dir.path(),
        );
        self.proc = Some(p);
        let (client, url) = (self.client.clone(), self.url("/-/ready"));
        self.proc()
            .wait_until("router /-/ready", START_TIMEOUT, || get_text(&client, &url));
        self.proc()
    }

    pub fn proc(&mut self) -> &mut Proc {
        self.proc.as_mut().expect("router not started")
    }

    /// `kill -9` the running router.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    pub fn write_rules(&self, name: &str, text: &str) {
        std::fs::write(self.rules_dir.join(name), text).expect("writing rule file");
    }

    /// `/api/v1/alerts`, or `None` if it does not answer.
    pub fn alerts(&self) -> Option<Vec<Alert>> {
        let body = get_text(&self.client, &self.url("/api/v1/alerts"))?;
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/api/v1/alerts is not JSON ({e}): {body}"));
        Some(parse_alerts(&v))
    }

    /// The active alert named `name`, if any.
    pub fn alert(&self, name: &str) -> Option<Alert> {
        self.alerts()?.into_iter().find(|a| a.name() == name)
    }

    /// The `/metrics` page.
    pub fn metrics(&self) -> Option<String> {
        get_text(&self.client, &self.url("/metrics"))
    }

    /// A metric's value on the `/metrics` page.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric_value(&self.metrics()?, name, labels)
    }

    /// A per-group metric, matching `rule_group` on its `;group` suffix.
    pub fn group_metric(&self, name: &str, group: &str) -> Option<f64> {
        let suffix = format!(";{group}");
        metric_samples(&self.metrics()?, name)
            .into_iter()
            .find(|(l, _)| l.get("rule_group").is_some_and(|g| g.ends_with(&suffix)))
            .map(|(_, v)| v)
    }

    /// The router's standard error so far, without colour codes.
    pub fn log(&self) -> String {
        strip_ansi(&self.proc.as_ref().expect("router not started").stderr())
    }

    /// Polls `f` on the router until it returns `Some`; fails at once if
    /// the router exits, and shows its log on timeout.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Router) -> Option<T>,
    ) -> T {
        let found = poll(timeout, || {
            self.proc().assert_running();
            f(self)
        });
        match found {
            Some(v) => v,
            None => panic!(
                "timed out after {timeout:?} waiting for {what}\n--- router stderr ---\n{}",
                tail(&self.log(), 4000)
            ),
        }
    }

    /// Waits until alert `name` is in `state`, and returns it.
    pub fn wait_alert(&mut self, name: &str, state: &str, timeout: Duration) -> Alert {
        let mut last = None;
        let found = poll(timeout, || {
            self.proc().assert_running();
            let a = self.alert(name)?;
            if a.state == state {
                return Some(a);
            }
            last = Some(a);
            None
        });
        match found {
            Some(a) => a,
            None => panic!(
                "timed out after {timeout:?} waiting for alert {name} to be {state}; last seen: {last:?}\n--- router stderr ---\n{}",
                tail(&self.proc().stderr(), 4000)
            ),
        }
    }
}

#[test]
fn harness_parses_metrics_and_times() {
    let page = "# HELP x y\nfoo_total{code=\"204\"} 3\nfoo_total{code=\"400\"} 1\nfoo_total_x 9\nbar 2.5\n\
                g{rule_group=\"/a/b.yml;grp\",x=\"q\\\"z\"} 17\n";
    assert_eq!(
        metric_value(page, "foo_total", &[("code", "204")]),
        Some(3.0)
    );
    assert_eq!(metric_value(page, "foo_total", &[("code", "500")]), None);
    assert_eq!(metric_samples(page, "foo_total").len(), 2);
    assert_eq!(metric_value(page, "bar", &[]), Some(2.5));
    assert_eq!(metric_value(page, "g", &[("x", "q\"z")]), Some(17.0));
    assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.500Z"), Some(1500));
    assert_eq!(
        parse_rfc3339_ms("2000-03-01T00:00:00Z"),
        Some(951_868_800_000)
    );
    assert_eq!(parse_rfc3339_ms("garbage"), None);
    assert_eq!(strip_ansi("\u{1b}[2mA\u{1b}[0m B\u{1b}[31m"), "A B");
}
