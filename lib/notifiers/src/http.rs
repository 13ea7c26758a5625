//! The HTTP client settings every HTTP integration shares (the subset of
//! Alertmanager's `http_config` Watchfire supports) and the JSON POST
//! helper.

use std::time::Duration;

use crate::error::{read_response, NotifyError};

/// Request authentication (`http_config.basic_auth` /
/// `http_config.authorization` / `bearer_token`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HttpAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    /// `Authorization: <scheme> <credentials>`; scheme `Bearer` for
    /// `bearer_token`.
    Authorization {
        scheme: String,
        credentials: String,
    },
}

/// Client settings of one integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub auth: HttpAuth,
    /// Whole-request timeout (connect, send, read).
    pub timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            auth: HttpAuth::None,
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }
}

pub(crate) const USER_AGENT: &str = concat!("Watchfire/", env!("CARGO_PKG_VERSION"));

/// A client with the settings' timeout.
pub(crate) fn client(
    integration: &'static str,
    s: &HttpSettings,
) -> Result<reqwest::Client, NotifyError> {
    reqwest::Client::builder()
        .timeout(s.timeout)
        .connect_timeout(s.timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| NotifyError::Invalid {
            integration,
            message: format!("building HTTP client: {e}"),
        })
}

/// Applies the settings' authentication to a request.
pub(crate) fn with_auth(req: reqwest::RequestBuilder, auth: &HttpAuth) -> reqwest::RequestBuilder {
    match auth {
        HttpAuth::None => req,
        HttpAuth::Basic { username, password } => req.basic_auth(username, Some(password)),
        HttpAuth::Authorization {
            scheme,
            credentials,
        } => req.header(
            reqwest::header::AUTHORIZATION,
            format!("{scheme} {credentials}"),
        ),
    }
}

/// POSTs a JSON body; returns status, `Retry-After` and body text.
pub(crate) async fn post_json(
    integration: &'static str,
    client: &reqwest::Client,
    url: &str,
    auth: &HttpAuth,
    body: Vec<u8>,
) -> Result<(u16, Option<Duration>, String), NotifyError> {
    let req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    let resp = with_auth(req, auth)
        .send()
        .await
        .map_err(|e| NotifyError::transport(integration, &e))?;
    read_response(integration, resp).await
}
