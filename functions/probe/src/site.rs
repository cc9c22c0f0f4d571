//! The [`PublicSite`] port over HTTP: the public endpoint (`PUBLIC_BASE_URL`, CloudFront or the
//! API's own domain in the cloud, `cargo lambda watch` locally), over the hyper / rustls stack
//! reset-core's breached-password check uses. Requests carry what a browser's would (`Origin`,
//! `Sec-Fetch-Site: same-origin` for the JSON posts); no origin secret: behind the front door,
//! CloudFront adds it, as for every visitor.

use crate::walk::{PublicSite, SiteAnswer, SiteError};
use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use reset_core::public_https::{public_https_client, PublicHttpsClient};
use std::time::Duration;

/// A page is under 30 KB (the browser tests hold every page to it).
const MAX_ANSWER_BYTES: usize = 256 * 1024;

type HttpsClient = PublicHttpsClient<Full<Bytes>>;

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("no TLS configuration for the public endpoint: {0}")]
pub struct TlsUnavailable(String);

pub struct HttpSite {
    base_url: String,
    timeout: Duration,
    client: HttpsClient,
}

impl HttpSite {
    /// `base_url`: the origin without a trailing slash. Each request waits at most `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, TlsUnavailable> {
        // The public endpoint is the service's own domain (or CloudFront's): the system's roots.
        let client = public_https_client("the public endpoint").map_err(|e| TlsUnavailable(e.to_string()))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            timeout,
            client,
        })
    }

    async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Result<SiteAnswer, SiteError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| SiteError(describe(&e)))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|_| SiteError("the answer was too large or cut off".into()))?
                .to_bytes();
            Ok(SiteAnswer {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SiteError(format!("no answer within {} ms", self.timeout.as_millis())))?
    }
}

/// The client's error and its causes, without the URL (its query may carry a token).
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the exchange failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl PublicSite for HttpSite {
    async fn get(&self, path_and_query: &str) -> Result<SiteAnswer, SiteError> {
        let request = hyper::Request::get(format!("{}{path_and_query}", self.base_url))
            .header(hyper::header::USER_AGENT, "password-reset-probe")
            .header(hyper::header::ACCEPT_LANGUAGE, "ja")
            .body(Full::new(Bytes::new()))
            .map_err(|e| SiteError(e.to_string()))?;
        self.send(request).await
    }

    async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<SiteAnswer, SiteError> {
        let request = hyper::Request::post(format!("{}{path}", self.base_url))
            .header(hyper::header::USER_AGENT, "password-reset-probe")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ORIGIN, &self.base_url)
            .header("sec-fetch-site", "same-origin")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| SiteError(e.to_string()))?;
        self.send(request).await
    }
}
