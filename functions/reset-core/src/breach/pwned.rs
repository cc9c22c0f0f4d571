//! The Pwned Passwords range API (`GET <api>/range/<first 5 hex of the SHA-1>`), over the
//! hyper / rustls stack the AWS SDK already brings (no second HTTP stack in the binary).

use super::{BreachCheckError, BreachCorpus, RangeQuery};
use crate::config::BreachCheckSettings;
use crate::domain::NewPassword;
use crate::public_https::{public_https_client, PublicHttpsClient};
use async_trait::async_trait;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use std::sync::OnceLock;
use std::time::Duration;

/// A range is about 800–1,000 lines of 40 bytes with padding: a larger answer is not one.
const MAX_RANGE_BYTES: usize = 256 * 1024;

type HttpsClient = PublicHttpsClient<Empty<Bytes>>;

pub struct PwnedPasswordsApi {
    api_url: String,
    timeout: Duration,
    /// Built on the first check, not at cold start: loading the system's root certificates is
    /// most of a client's construction, and most invocations never get this far.
    client: OnceLock<Option<HttpsClient>>,
}

impl PwnedPasswordsApi {
    pub fn new(settings: &BreachCheckSettings) -> Self {
        Self {
            api_url: settings.api_url.clone(),
            timeout: settings.timeout,
            client: OnceLock::new(),
        }
    }

    /// `None` when no TLS configuration can be built (it cannot with aws-lc-rs's default
    /// provider; should it, every check fails open, counted).
    fn client(&self) -> Option<&HttpsClient> {
        self.client
            .get_or_init(|| {
                // The API is not an AWS endpoint: the system's roots, not the SDK's Amazon ones.
                public_https_client("the breached-password check")
                    .inspect_err(
                        |error| tracing::warn!(error = %error, "no TLS configuration for the breached-password check"),
                    )
                    .ok()
            })
            .as_ref()
    }

    async fn fetch_range(&self, prefix: &str) -> Result<String, BreachCheckError> {
        let request = hyper::Request::get(format!("{}/range/{prefix}", self.api_url))
            // Decoy lines with count 0, so that the answer's size says nothing of the prefix.
            .header("Add-Padding", "true")
            .header(hyper::header::USER_AGENT, "password-reset")
            .body(Empty::<Bytes>::new())
            .map_err(|e| BreachCheckError::Unreachable(e.to_string()))?;
        let client = self
            .client()
            .ok_or_else(|| BreachCheckError::Unreachable("no TLS configuration".into()))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| BreachCheckError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(BreachCheckError::Status(response.status().as_u16()));
        }
        let body = Limited::new(response.into_body(), MAX_RANGE_BYTES)
            .collect()
            .await
            .map_err(|_| BreachCheckError::Malformed("too large or cut off"))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| BreachCheckError::Malformed("not UTF-8"))
    }
}

#[async_trait]
impl BreachCorpus for PwnedPasswordsApi {
    async fn contains(&self, password: &NewPassword) -> Result<bool, BreachCheckError> {
        let query = RangeQuery::of(password.expose());
        let range = tokio::time::timeout(self.timeout, self.fetch_range(query.prefix()))
            .await
            .map_err(|_| BreachCheckError::Timeout(self.timeout.as_millis()))??;
        query.found_in(&range)
    }
}
