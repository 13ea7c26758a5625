//! A minimal W3C WebDriver client over ChromeDriver, for the web-page test.
//!
//! It speaks the plain WebDriver HTTP protocol (new session, navigate, find
//! element, click, page source) with the blocking reqwest client; the
//! browser is Debian's `chromium`, headless, driven by `chromedriver`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{free_port, http, peer, Proc, START_TIMEOUT};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session, closed (with its driver) on drop.
pub struct Browser {
    base: String,
    session: String,
    client: reqwest::blocking::Client,
    _driver: Proc,
}

impl Browser {
    /// Starts `chromedriver` on a free port and opens a headless session.
    pub fn start(log_dir: &Path) -> Browser {
        let driver_bin = peer("chromedriver");
        let chromium = peer("chromium");
        let port = free_port();
        let mut driver = Proc::spawn(
            "chromedriver",
            Command::new(driver_bin).arg(format!("--port={port}")),
            log_dir,
        );
        let base = format!("http://127.0.0.1:{port}");
        let client = http();
        let status = format!("{base}/status");
        driver.wait_until("chromedriver /status", START_TIMEOUT, || {
            let v: Value = client.get(&status).send().ok()?.json().ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r)
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run"]
            }
        }}});
        let v: Value = client
            .post(format!("{base}/session"))
            .json(&caps)
            .timeout(Duration::from_secs(60))
            .send()
            .expect("creating a WebDriver session")
            .json()
            .expect("session JSON");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id from chromedriver: {v}"))
            .to_string();
        Browser {
            base,
            session,
            client,
            _driver: driver,
        }
    }

    fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self
            .client
            .request(method, &url)
            .timeout(Duration::from_secs(30));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
            .json()
            .unwrap_or_else(|e| panic!("WebDriver {path}: bad JSON: {e}"));
        if v["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    /// Navigates to `url` and waits for the load to finish.
    pub fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    /// The current page's HTML.
    pub fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Clicks the element `css` selects (panics when absent).
    pub fn click(&self, css: &str) {
        let el = self.cmd(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = el[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_string();
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        );
    }

    /// Types `text` into the element `css` selects.
    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.cmd(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = el[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_string();
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .client
            .delete(format!("{}/session/{}", self.base, self.session))
            .timeout(Duration::from_secs(10))
            .send();
    }
}
