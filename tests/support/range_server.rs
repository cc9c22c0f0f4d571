//! A local stand-in for the Pwned Passwords range API: a real HTTP/1.1 server on a real port
//! that serves range files from a folder (`<dir>/<PREFIX>`, lines `<35 hex>:<count>`, the
//! API's format) and records what each request asked, so a test can see what left the
//! function. A prefix with no file gets padding only, as the API lists other suffixes.

use anyhow::{Context, Result};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What one request asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    /// The request target, e.g. `/range/5BAA6`.
    pub path: String,
    /// The `Add-Padding` header, if sent.
    pub add_padding: Option<String>,
}

/// A folder of range files.
pub struct RangeFiles {
    dir: PathBuf,
    ranges: BTreeMap<String, Vec<String>>,
}

/// The SHA-1 of `password` in upper-case hex, split into the API's prefix and suffix.
pub fn sha1_prefix_and_suffix(password: &str) -> (String, String) {
    let hex: String = Sha1::digest(password.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let (prefix, suffix) = hex.split_at(5);
    (prefix.to_owned(), suffix.to_owned())
}

/// Lines of other suffixes, with a count and as padding (count 0), so every range looks like
/// the API's.
const FILLER: [&str; 3] = [
    "0018A45C4D1DEF81644B54AB7F969B88D65:1",
    "00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2",
    "011053FD0102E94D6AE2F8B83D76FAF94F6:0",
];

impl RangeFiles {
    pub fn new() -> Result<Self> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("pwned-ranges-{name}"));
        std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
        Ok(Self {
            dir,
            ranges: BTreeMap::new(),
        })
    }

    /// Lists `password` as seen `count` times (0: a padding line, which means "not seen").
    pub fn list(mut self, password: &str, count: u64) -> Self {
        let (prefix, suffix) = sha1_prefix_and_suffix(password);
        self.ranges.entry(prefix).or_default().push(format!("{suffix}:{count}"));
        self
    }

    /// Writes the files; the folder to serve.
    pub fn write(self) -> Result<PathBuf> {
        for (prefix, mut lines) in self.ranges {
            lines.extend(FILLER.iter().map(|l| l.to_string()));
            lines.sort();
            std::fs::write(self.dir.join(&prefix), lines.join("\r\n") + "\r\n")?;
        }
        Ok(self.dir)
    }
}

/// The server; stops when dropped.
pub struct RangeServer {
    pub url: String,
    requests: Arc<Mutex<Vec<RangeRequest>>>,
    task: JoinHandle<()>,
}

impl RangeServer {
    /// Serves `dir` on 127.0.0.1:`port` (0: any free port).
    pub async fn serve(dir: PathBuf, port: u16) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("range server on port {port}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let dir = dir.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, &dir, &seen).await;
                });
            }
        });
        Ok(Self { url, requests, task })
    }

    pub fn requests(&self) -> Vec<RangeRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Stops listening: the port refuses connections from now on.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for RangeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(mut stream: TcpStream, dir: &Path, seen: &Mutex<Vec<RangeRequest>>) -> Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let add_padding = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("add-padding"))
        .map(|(_, value)| value.trim().to_owned());
    if let Ok(mut seen) = seen.lock() {
        seen.push(RangeRequest {
            path: path.clone(),
            add_padding,
        });
    }
    let prefix = path.strip_prefix("/range/").unwrap_or_default();
    let well_formed = prefix.len() == 5 && prefix.bytes().all(|b| b.is_ascii_hexdigit());
    let (status, body) = if !well_formed {
        (
            "400 Bad Request",
            "The hash prefix was not in a valid format".to_owned(),
        )
    } else {
        let file = dir.join(prefix.to_ascii_uppercase());
        let body = std::fs::read_to_string(file).unwrap_or_else(|_| FILLER.join("\r\n") + "\r\n");
        ("200 OK", body)
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}
