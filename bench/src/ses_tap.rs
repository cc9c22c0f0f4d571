//! A pass-through in front of the SES v2 emulator for the wave: send-mail's
//! `AWS_ENDPOINT_URL_SESV2` points here, every request goes on to the emulator unchanged, and
//! the tap notes when each `SendEmail` reached SES and when SES accepted it (answered 200 with
//! a `MessageId`).
//!
//! The emulator's own record cannot give those moments: its `at` is in whole seconds, too coarse
//! for a 14/s pace. Nor can the service's: the account's `reset_mail_sent_at` is the time the
//! job started (before the pacer's wait and the SES call). The answer with a message id is the
//! moment SES takes the mail over, and its arrival is what SES's sending rate counts.

use crate::runtime_api::serve;
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One mail SES accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub message_id: String,
    /// The whole request had reached the tap (and so, a loopback hop later, SES).
    pub received: Instant,
    /// SES's 200 with the message id was back.
    pub accepted: Instant,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    accepted: Mutex<Vec<Accepted>>,
}

pub struct SesTap {
    /// What send-mail gets as `AWS_ENDPOINT_URL_SESV2`.
    pub url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl SesTap {
    /// A tap on an ephemeral loopback port in front of `upstream` (`http://127.0.0.1:<port>`).
    pub async fn start(upstream: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the SES tap")?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            accepted: Mutex::new(Vec::new()),
        });
        let tapped = shared.clone();
        let server = tokio::spawn(serve(listener, move |request| forward(tapped.clone(), request)));
        Ok(Self { url, shared, server })
    }

    /// The mails accepted so far, in order of acceptance.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.shared.accepted.lock().map(|a| a.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.shared.accepted.lock().map(|a| a.len()).unwrap_or(0)
    }

    pub fn stop(self) {
        self.server.abort();
    }
}

/// Hands the request to the emulator as it came and the answer back as it went, noting an
/// accepted mail on the way.
async fn forward(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(answer(StatusCode::BAD_REQUEST, Bytes::from_static(b"unreadable body")));
    };
    let received = Instant::now();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    // reqwest sets these for the connection it opens.
    for name in ["host", "content-length", "connection", "transfer-encoding"] {
        headers.remove(name);
    }
    let sent = shared
        .client
        .request(parts.method, format!("{}{path}", shared.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(upstream) = sent else {
        return Ok(answer(
            StatusCode::BAD_GATEWAY,
            Bytes::from_static(b"the SES emulator is unreachable"),
        ));
    };
    let status = upstream.status();
    let content_type = upstream.headers().get("content-type").cloned();
    let body = upstream.bytes().await.unwrap_or_default();
    let accepted = Instant::now();
    if status.is_success() {
        if let Some(message_id) = message_id(&body) {
            if let Ok(mut list) = shared.accepted.lock() {
                list.push(Accepted {
                    message_id,
                    received,
                    accepted,
                });
            }
        }
    }
    let mut response = answer(
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        body,
    );
    if let Some(content_type) = content_type {
        response.headers_mut().insert("content-type", content_type);
    }
    Ok(response)
}

fn message_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("MessageId")?.as_str().map(str::to_owned)
}

fn answer(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}
