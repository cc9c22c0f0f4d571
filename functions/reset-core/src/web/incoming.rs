//! What a handler needs from an API Gateway request, read once, with the body checks
//! (size, content type, UTF-8, NUL) that run before any parsing, database call or hashing.

use crate::domain::{ClientIpSource, ClientKey, Language};
use crate::error::{AppError, BadRequest};
use lambda_http::http::{header, HeaderMap, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;

/// Larger bodies are refused with 413 before they are looked at.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Whether the caller wants pages or JSON; decided by the route (`/api/…` is JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Page,
    Json,
}

pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub mode: Mode,
    pub language: Language,
    /// `?lang=` as given, so links can keep it.
    pub explicit_language: Option<Language>,
    /// API Gateway's `sourceIp` (see `client_key` for the address the limits count).
    pub source_ip: Option<String>,
    pub request_id: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// By hand: the query carries tokens, the headers the origin secret and the body typed
/// addresses, names and passwords. Only their shape is printed: names, never values.
impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let query_names: Vec<&str> = self.query.iter().map(|(name, _)| name.as_str()).collect();
        let header_names: Vec<&str> = self.headers.keys().map(|name| name.as_str()).collect();
        f.debug_struct("Incoming")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("language", &self.language)
            .field("request_id", &self.request_id)
            .field("source_ip", &self.source_ip.as_ref().map(|_| "<redacted>"))
            .field("query_names", &query_names)
            .field("header_names", &header_names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Incoming {
    pub fn from_request(request: Request) -> Self {
        // Read from the URI (API Gateway's rawQueryString), the same in the cloud and locally.
        let query: Vec<(String, String)> = request
            .uri()
            .query()
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default();
        let source_ip = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
            _ => None,
        };
        let request_id = request
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| "-".to_owned());
        let (parts, body) = request.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(text) => text.into_bytes(),
            Body::Binary(bytes) => bytes,
            _ => Vec::new(),
        };
        let path = parts.uri.path().to_owned();
        let mode = if path.starts_with(super::routes::API) {
            Mode::Json
        } else {
            Mode::Page
        };
        let explicit_language = query
            .iter()
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| Language::from_tag(v));
        let accepted = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Language::from_accept_language);
        Self {
            method: parts.method,
            path,
            mode,
            language: explicit_language.or(accepted).unwrap_or_default(),
            explicit_language,
            source_ip,
            request_id,
            query,
            headers: parts.headers,
            body,
        }
    }

    /// The same request without its query, headers and body: enough to answer it with an
    /// error page or JSON error in the right language when its router could not.
    pub fn metadata(&self) -> Self {
        Self {
            method: self.method.clone(),
            path: self.path.clone(),
            mode: self.mode,
            language: self.language,
            explicit_language: self.explicit_language,
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// The key the per-client limits count this request under (`CLIENT_IP_SOURCE`); requests
    /// without a usable address share one.
    pub fn client_key(&self, source: ClientIpSource) -> ClientKey {
        match source {
            ClientIpSource::SourceIp => self.source_ip.as_deref().and_then(ClientKey::from_address),
            ClientIpSource::CloudFrontViewerAddress => self
                .headers
                .get("cloudfront-viewer-address")
                .and_then(|v| v.to_str().ok())
                .and_then(ClientKey::from_viewer_address),
        }
        .unwrap_or_else(ClientKey::unknown)
    }

    /// Whether the request came through the distribution that knows `secret`.
    pub fn carries_origin_secret(&self, secret: &str) -> bool {
        use sha2::{Digest, Sha256};
        let given = self
            .headers
            .get("x-origin-verify")
            .map(|v| Sha256::digest(v.as_bytes()))
            .unwrap_or_default();
        // Hashes compared, so the comparison takes the same time wherever the strings differ.
        given == Sha256::digest(secret.as_bytes())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Refuses a state-changing request that a browser says came from another site.
    ///
    /// `Origin: null` is what browsers send for a same-origin form post from a page with
    /// `Referrer-Policy: no-referrer` (ours), so it proves nothing either way: then
    /// `Sec-Fetch-Site` decides. Requests with neither (API clients, old browsers) are let
    /// through: they carry no ambient credentials for anyone to abuse, and every step still
    /// needs the username's mailbox or the token.
    pub fn ensure_same_origin(&self, public_base_url: &str) -> Result<(), AppError> {
        match self.header("origin").map(|o| o.trim_end_matches('/')) {
            Some(origin) if origin == public_base_url => return Ok(()),
            Some(origin) if origin != "null" => return Err(AppError::CrossOrigin),
            _ => {}
        }
        match self.header("sec-fetch-site") {
            Some("same-origin") | Some("none") | None => Ok(()),
            Some(_) => Err(AppError::CrossOrigin),
        }
    }

    fn body_text(&self, expected: &'static str) -> Result<&str, AppError> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(AppError::PayloadTooLarge { limit: MAX_BODY_BYTES });
        }
        let content_type = self.header("content-type").unwrap_or_default();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case(expected) {
            return Err(AppError::UnsupportedMediaType { expected });
        }
        let text = std::str::from_utf8(&self.body).map_err(|_| AppError::BadRequest(BadRequest::InvalidUtf8))?;
        if text.contains('\0') {
            return Err(AppError::BadRequest(BadRequest::NulByte));
        }
        Ok(text)
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn read_form<T: DeserializeOwned>(&self) -> Result<T, AppError> {
        let text = self.body_text(FORM_CONTENT_TYPE)?;
        let form: T =
            serde_urlencoded::from_str(text).map_err(|e| AppError::BadRequest(BadRequest::Malformed(e.to_string())))?;
        Ok(form)
    }

    /// An `application/json` body.
    pub fn read_json<T: DeserializeOwned>(&self) -> Result<T, AppError> {
        let text = self.body_text(JSON_CONTENT_TYPE)?;
        serde_json::from_str(text).map_err(|e| AppError::BadRequest(BadRequest::Malformed(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_token_secret_body_or_address() -> Result<(), lambda_http::http::Error> {
        let token = "q7Vx0TcM2lSeCretT0kenValue0000000000000000";
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri(format!("/password-reset/address-change/verify?id=ab&token={token}"))
            .header("x-origin-verify", "origin-secret-42")
            .header("cookie", "session=cookie-value-17")
            .header("content-type", FORM_CONTENT_TYPE)
            .body(Body::Text(
                "new_email=info%40sakura-clinic.example.jp&contact_person=%E5%B1%B1%E7%94%B0&new_password=Kanagawa2026x"
                    .into(),
            ))?;
        let incoming = Incoming::from_request(request);
        let debug = format!("{incoming:?}");
        for secret in [
            token,
            "origin-secret-42",
            "cookie-value-17",
            "sakura-clinic",
            "%E5%B1%B1",
            "Kanagawa2026x",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("x-origin-verify") && debug.contains("token"), "{debug}");
        Ok(())
    }
}
