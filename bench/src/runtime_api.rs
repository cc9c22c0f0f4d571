//! A local AWS Lambda Runtime API (the `2018-06-01` interface a custom runtime polls), one
//! server per function process, and the process around it.
//!
//! The function binary is started exactly as Lambda starts a `provided.al2023` bootstrap: a
//! cleared environment with the standard variables (`AWS_LAMBDA_RUNTIME_API`,
//! `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, …, `_HANDLER`,
//! `LAMBDA_TASK_ROOT`, credentials in `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
//! `AWS_SESSION_TOKEN`) plus the function's own configuration. Then:
//!
//! - `GET /2018-06-01/runtime/invocation/next` blocks until the driver hands over an event, and
//!   answers with it and the `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id` headers;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `…/{id}/error` complete it (202);
//! - `POST /2018-06-01/runtime/init/error` reports a failed start (202).
//!
//! Init is the time from just before the process is spawned to the arrival of its first
//! `GET …/next`, which is what Lambda reports as "Init Duration". The duration of an
//! invocation is from the hand-over of the event to the arrival of the whole response.

use crate::proc_stats::{self, Cpu};
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};
use tokio::task::{JoinHandle, JoinSet};

const PREFIX: &str = "/2018-06-01/runtime";
/// The function timeout of the template (`Globals.Function.Timeout`); send-mail has its own.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a process may take to reach its first `GET /next` before the run gives up.
const INIT_LIMIT: Duration = Duration::from_secs(10);

/// What a function process is started with.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Lambda function name, e.g. `request-reset`.
    pub name: String,
    pub binary: PathBuf,
    pub memory_mb: u32,
    /// The function timeout (the invocation's deadline, and how long the bench waits).
    pub timeout: Duration,
    /// The function's configuration (table names, URLs, limits, SDK endpoints, `RUST_LOG`).
    pub config: BTreeMap<String, String>,
    /// Where the process's stdout/stderr (its JSON logs) go.
    pub log_file: PathBuf,
}

struct Invocation {
    request_id: String,
    deadline_ms: u128,
    body: Bytes,
}

#[derive(Debug)]
enum Completion {
    Response {
        request_id: String,
        body: Bytes,
        at: Instant,
    },
    Error {
        request_id: String,
        body: Bytes,
    },
    InitError {
        body: Bytes,
    },
}

struct Shared {
    ready: mpsc::UnboundedSender<Instant>,
    events: Mutex<mpsc::Receiver<Invocation>>,
    completions: mpsc::UnboundedSender<Completion>,
    function_arn: String,
}

/// One function process and its Runtime API server.
pub struct Instance {
    pub pid: u32,
    child: Child,
    server: JoinHandle<()>,
    ready: mpsc::UnboundedReceiver<Instant>,
    events: mpsc::Sender<Invocation>,
    completions: mpsc::UnboundedReceiver<Completion>,
    /// Set while the process is known to be blocked in `GET /next`, with its CPU time then.
    idle_cpu: Option<Cpu>,
    timeout: Duration,
    /// Spawn → first `GET /next`.
    pub init: Duration,
    /// CPU time and peak RSS when the first `GET /next` arrived.
    pub init_cpu: Cpu,
    pub init_hwm_kib: u64,
}

/// The outcome of one invocation.
#[derive(Debug)]
pub struct Invoked {
    pub status: u16,
    pub response: serde_json::Value,
    pub duration: Duration,
    /// CPU time of the whole process from `GET /next` to `GET /next`.
    pub cpu: Duration,
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

fn request_id() -> String {
    let n = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:08x}-bench-4000-8000-{:012x}", nanos, n)
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrived = Instant::now();
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(text(StatusCode::NOT_FOUND, "unknown path"));
    };
    let method = request.method().clone();
    if method == Method::GET && rest == "/invocation/next" {
        let _ = shared.ready.send(arrived);
        let next = shared.events.lock().await.recv().await;
        let Some(invocation) = next else {
            return Ok(text(StatusCode::GONE, "the bench is over"));
        };
        let response = Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", invocation.request_id.as_str())
            .header("lambda-runtime-deadline-ms", invocation.deadline_ms.to_string())
            .header("lambda-runtime-invoked-function-arn", shared.function_arn.as_str())
            .header(
                "lambda-runtime-trace-id",
                format!("Root=1-00000000-{:024x};Sampled=0", REQUEST_SEQ.load(Ordering::Relaxed)),
            )
            .body(Full::new(invocation.body));
        return Ok(response.unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "bad response")));
    }
    if method != Method::POST {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "unreadable body")),
    };
    let at = Instant::now();
    let completion = if rest == "/init/error" {
        Completion::InitError { body }
    } else if let Some(tail) = rest.strip_prefix("/invocation/") {
        match tail.rsplit_once('/') {
            Some((id, "response")) => Completion::Response {
                request_id: id.to_owned(),
                body,
                at,
            },
            Some((id, "error")) => Completion::Error {
                request_id: id.to_owned(),
                body,
            },
            _ => return Ok(text(StatusCode::NOT_FOUND, "unknown path")),
        }
    } else {
        return Ok(text(StatusCode::NOT_FOUND, "unknown path"));
    };
    let _ = shared.completions.send(completion);
    let mut response = text(StatusCode::ACCEPTED, "{\"status\":\"OK\"}");
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Serves HTTP/1.1 on `listener`, each request answered by `respond` (the Runtime API here, the
/// SES tap of the wave).
pub async fn serve<F, R>(listener: TcpListener, respond: F)
where
    F: Fn(Request<Incoming>) -> R + Clone + Send + Sync + 'static,
    R: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    // Dropping the set (when the server task is aborted) aborts every connection with it, so a
    // killed process cannot leave a handler behind that would swallow the next event.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        while connections.try_join_next().is_some() {}
        let respond = respond.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(respond);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The function's process as Lambda starts it: only the Lambda environment, in the binary's own
/// folder, its output appended to its log file.
fn function_command(spec: &FunctionSpec, binary: &Path, runtime_api: SocketAddr) -> Result<Command> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_file)
        .with_context(|| format!("opening {}", spec.log_file.display()))?;
    let log_err = log.try_clone()?;
    let mut command = Command::new(binary);
    command
        .env_clear()
        .envs(lambda_environment(spec, binary, runtime_api))
        .current_dir(binary.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    Ok(command)
}

/// The environment Lambda gives a `provided.al2023` function, with `runtime_api` as the
/// Runtime API address.
fn lambda_environment(spec: &FunctionSpec, binary: &Path, runtime_api: SocketAddr) -> Vec<(String, String)> {
    let region = spec
        .config
        .get("AWS_REGION")
        .cloned()
        .unwrap_or_else(|| "ap-northeast-1".to_owned());
    let task_root = binary
        .parent()
        .map(Path::to_string_lossy)
        .unwrap_or_default()
        .into_owned();
    let mut env: BTreeMap<String, String> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.name)),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("2025/01/01/[$LATEST]{:032x}", epoch_ms()),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_rapid".to_owned()),
        ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("LAMBDA_TASK_ROOT", task_root),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()),
        (
            "LD_LIBRARY_PATH",
            "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib".to_owned(),
        ),
        // The execution role's short-term credentials (dummies: the local stack accepts any).
        ("AWS_ACCESS_KEY_ID", "ASIABENCHLOCAL000000".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
        ("AWS_SESSION_TOKEN", "local".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in &spec.config {
        env.insert(key.clone(), value.clone());
    }
    env.into_iter().collect()
}

impl Instance {
    /// Starts a server on an ephemeral loopback port, spawns the process against it and waits
    /// for its first `GET /next`.
    pub async fn start(spec: &FunctionSpec) -> Result<Self> {
        // Absolute, because the process starts in its own folder (LAMBDA_TASK_ROOT).
        let binary =
            std::fs::canonicalize(&spec.binary).with_context(|| format!("finding {}", spec.binary.display()))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Runtime API")?;
        let address = listener.local_addr()?;
        let (ready_tx, ready) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::channel(1);
        let (completions_tx, completions) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            ready: ready_tx,
            events: Mutex::new(events_rx),
            completions: completions_tx,
            function_arn: format!("arn:aws:lambda:ap-northeast-1:123456789012:function:{}", spec.name),
        });
        let server = tokio::spawn(serve(listener, move |request| handle(shared.clone(), request)));

        let mut command = function_command(spec, &binary, address)?;
        let spawned_at = Instant::now();
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                server.abort();
                return Err(error).with_context(|| format!("spawning {}", spec.binary.display()));
            }
        };
        let pid = child.id();
        let mut instance = Self {
            pid,
            child,
            server,
            ready,
            events,
            completions,
            idle_cpu: None,
            timeout: spec.timeout,
            init: Duration::ZERO,
            init_cpu: Cpu::default(),
            init_hwm_kib: 0,
        };
        let ready_at = instance.wait_ready(INIT_LIMIT).await.with_context(|| {
            format!(
                "{} did not reach GET /next (its log: {})",
                spec.name,
                spec.log_file.display()
            )
        })?;
        instance.init = ready_at.saturating_duration_since(spawned_at);
        instance.init_cpu = instance.idle_cpu.unwrap_or_default();
        instance.init_hwm_kib = proc_stats::memory(pid).map(|m| m.hwm_kib).unwrap_or(0);
        Ok(instance)
    }

    /// Waits until the process sits in `GET /next`; records its CPU time then.
    async fn wait_ready(&mut self, limit: Duration) -> Result<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            tokio::select! {
                ready = self.ready.recv() => {
                    let at = ready.ok_or_else(|| anyhow!("the Runtime API server stopped"))?;
                    self.idle_cpu = Some(proc_stats::cpu(self.pid)?);
                    return Ok(at);
                }
                completion = self.completions.recv() => match completion {
                    Some(Completion::InitError { body }) => {
                        bail!("init error: {}", String::from_utf8_lossy(&body))
                    }
                    Some(other) => bail!("unexpected completion while waiting for GET /next: {other:?}"),
                    None => bail!("the Runtime API server stopped"),
                },
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    if let Some(status) = self.child.try_wait()? {
                        bail!("the process exited ({status})");
                    }
                    if Instant::now() > deadline {
                        bail!("no GET /next within {limit:?}");
                    }
                }
            }
        }
    }

    /// Hands `event` to the waiting process and waits for its response.
    pub async fn invoke(&mut self, event: &serde_json::Value) -> Result<Invoked> {
        let cpu_before = match self.idle_cpu.take() {
            Some(cpu) => cpu,
            None => {
                self.wait_ready(self.timeout).await?;
                self.idle_cpu.take().unwrap_or_default()
            }
        };
        let request_id = request_id();
        let body = Bytes::from(serde_json::to_vec(event)?);
        let handed_over = Instant::now();
        self.events
            .send(Invocation {
                request_id: request_id.clone(),
                deadline_ms: epoch_ms() + self.timeout.as_millis(),
                body,
            })
            .await
            .map_err(|_| anyhow!("the Runtime API server stopped"))?;
        let timeout = self.timeout;
        let completion = tokio::time::timeout(timeout, self.completions.recv())
            .await
            .map_err(|_| anyhow!("no response within the function timeout ({timeout:?})"))?
            .ok_or_else(|| anyhow!("the Runtime API server stopped"))?;
        let (body, at) = match completion {
            Completion::Response {
                request_id: id,
                body,
                at,
            } if id == request_id => (body, at),
            Completion::Error { request_id: id, body } if id == request_id => {
                bail!(
                    "the function reported an invocation error: {}",
                    String::from_utf8_lossy(&body)
                )
            }
            other => bail!("unexpected completion: {other:?}"),
        };
        let duration = at.saturating_duration_since(handed_over);
        self.wait_ready(self.timeout).await?;
        let cpu_after = self.idle_cpu.unwrap_or_default();
        let response: serde_json::Value = serde_json::from_slice(&body).context("the response is not JSON")?;
        let status = response
            .get("statusCode")
            .and_then(serde_json::Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0);
        Ok(Invoked {
            status,
            response,
            duration,
            cpu: cpu_after.precise.saturating_sub(cpu_before.precise),
        })
    }

    /// CPU time and memory of the process now.
    pub fn stats(&self) -> Result<(Cpu, proc_stats::Memory)> {
        Ok((proc_stats::cpu(self.pid)?, proc_stats::memory(self.pid)?))
    }

    /// Kills the process (Lambda freezes or discards it; for the bench it is gone) and the server.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.server.abort();
    }
}
