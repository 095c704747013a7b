//! The network under the one exit (`egress.rs` decides what may be sent; this sends it). One pool per tenant:
//! keep-alive connections reused per origin, HTTP/2 where the server offers it (ALPN), TLS by rustls with the
//! platform's trust roots plus an optional extra CA file (corporate TLS inspection, private CAs), and
//! `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` honoured by tunnelling through the proxy with CONNECT.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Idle pooled connections are closed after this long: well inside the usual server and load-balancer
/// keep-alive windows, so a reused connection is rarely one the server has already dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP/2 flow-control windows (see `Transport::new`).
const HTTP2_STREAM_WINDOW: u32 = 8 << 20;
const HTTP2_CONNECTION_WINDOW: u32 = 32 << 20;

/// What a request failed on, when the host should say so itself rather than leave it to the guest.
#[derive(Debug)]
pub enum Failure {
    /// The server's certificate was not accepted; retrying cannot help.
    Certificate(String),
    /// The proxy refused or did not open the tunnel: what it said, naming it.
    Proxy(String),
    Other(Error),
}

/// A tenant's connection pool and TLS settings.
pub struct Transport {
    client: Client<HttpsConnector<ProxyConnector>, Full<Bytes>>,
}

impl Transport {
    /// Trusts the platform's roots and `extra_roots`; connections give up connecting after `connect_timeout`.
    pub fn new(extra_roots: &[CertificateDer<'static>], connect_timeout: Duration) -> Self {
        // Every session gets a transport (metadata calls too): the platform's roots are parsed once.
        static PLATFORM_ONLY: OnceLock<rustls::ClientConfig> = OnceLock::new();
        let tls = match extra_roots {
            [] => PLATFORM_ONLY.get_or_init(|| tls_config(&[])).clone(),
            extra => tls_config(extra),
        };
        // The proxy settings come from the environment, which is the process's: read once.
        static PROXIES: OnceLock<Arc<Matcher>> = OnceLock::new();
        let proxies = PROXIES.get_or_init(|| Arc::new(Matcher::from_env())).clone();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(ProxyConnector { direct: tcp, proxies, connect_timeout });
        // HTTP/2 flow control is end to end, so a connection carries at most one window per round trip. hyper's
        // defaults (2 MiB a stream, 5 MiB a connection) are less than the pages a tenant has in flight (8 pages of
        // a 1,000-person listing are about 6 MB; one groups page of a large company is more), and cap a tenant at
        // 25 MB/s at 200 ms whatever the link. These cover a fast link's bandwidth-delay product, and bound what
        // a server may send ahead of a guest that is slow to read. (hyper's adaptive window measured slower here:
        // it starts small and grows over several round trips; BENCHMARKS.md.)
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .http2_initial_stream_window_size(HTTP2_STREAM_WINDOW)
            .http2_initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
            .build(connector);
        Self { client }
    }

    /// Sends one request on a pooled connection (opening one if none is idle), with `options`' timeouts: the
    /// response head within first-byte of sending (connecting, when needed, counts; it is capped on its own by
    /// the pool's connect timeout), and every later chunk of the body within between-bytes.
    pub async fn send(&self, request: Request<Full<Bytes>>, options: RequestOptions) -> Result<Response<WasiBody>, Failure> {
        let head_deadline = options.first_byte_timeout.unwrap_or_default();
        let response = match tokio::time::timeout(head_deadline, self.client.request(request)).await {
            Err(_) => return Err(Failure::Other(Error::ConnectionReadTimeout)),
            Ok(Err(e)) => return Err(classify(&e)),
            Ok(Ok(response)) => response,
        };
        let between_bytes = options.between_bytes_timeout.unwrap_or_default().max(Duration::from_nanos(1));
        Ok(response.map(|incoming| TimedBody { incoming, between_bytes, timer: None }.boxed_unsync()))
    }
}

/// The CA certificates of a PEM file, for a tenant's `ca_file`.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let text = crate::files::read_text(path, CA_FILE_MAX_BYTES, "CA file")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("the CA file {} is not PEM certificates ({e:?})", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "the CA file {} holds no certificate", path.display());
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store.add(cert.clone()).with_context(|| format!("the CA file {}: a certificate rustls cannot use as a root", path.display()))?;
    }
    Ok(certs)
}

/// A bundle of a few hundred CA certificates fits easily.
const CA_FILE_MAX_BYTES: u64 = 4 << 20;

/// TLS by rustls (ring), trusting the platform's roots and `extra_roots`.
fn tls_config(extra_roots: &[CertificateDer<'static>]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(platform_roots().iter().chain(extra_roots).cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The platform's trust roots, read once per process.
pub(crate) fn platform_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!("reading the platform's trust roots: {error}");
        }
        found.certs
    })
}

/// A failed request as the guest's error code, or the certificate failure the host reports itself.
fn classify(error: &hyper_util::client::legacy::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(ProxyError(reason)) = e.downcast_ref::<ProxyError>() {
            return Failure::Proxy(reason.clone());
        }
        match tls_error(e) {
            Some(rustls::Error::InvalidCertificate(reason)) => return Failure::Certificate(format!("{reason:?}")),
            Some(_) => return Failure::Other(Error::TlsProtocolError),
            None => {}
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            return Failure::Other(if hyper.is_timeout() {
                Error::ConnectionReadTimeout
            } else if hyper.is_incomplete_message() {
                Error::ConnectionTerminated
            } else {
                Error::HttpProtocolError
            });
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Failure::Other(match io.kind() {
                std::io::ErrorKind::TimedOut => Error::ConnectionTimeout,
                _ => Error::Connect(std::io::Error::new(io.kind(), io.to_string())),
            });
        }
        if e.to_string().starts_with("dns error") {
            return Failure::Other(Error::DnsError { rcode: Some(e.to_string()), info_code: None });
        }
        source = e.source();
    }
    Failure::Other(Error::InternalError(Some(error.to_string())))
}

/// rustls's error, which travels inside (possibly nested) io::Errors that hide it from `source()`.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner: &(dyn std::error::Error + 'static) = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    tls_error(inner)
}

/// Connects directly, or through the proxy the environment names for the destination (CONNECT tunnel), which
/// has the connect timeout to open it.
#[derive(Clone)]
struct ProxyConnector {
    direct: HttpConnector,
    proxies: Arc<Matcher>,
    connect_timeout: Duration,
}

/// Why the proxy did not open a tunnel, naming it (never its credentials) and the destination.
#[derive(Debug)]
struct ProxyError(String);

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyError {}

/// Opens a CONNECT tunnel to `target` (`host:port`) through the proxy at `proxy` (`shown` without credentials).
/// Written here rather than taken from hyper-util, whose tunnel does not say what a refusing proxy answered.
async fn open_tunnel(mut direct: HttpConnector, proxy: Uri, auth: Option<http::HeaderValue>, target: String, shown: String) -> Result<TokioIo<tokio::net::TcpStream>, ProxyError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let refused = |why: String| ProxyError(format!("the proxy {shown} {why}, for {target}"));
    let mut stream = tower_service::Service::call(&mut direct, proxy).await.map_err(|e| refused(format!("could not be reached ({e})")))?.into_inner();
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = auth.as_ref().and_then(|a| a.to_str().ok()) {
        head += &format!("Proxy-Authorization: {auth}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).await.map_err(|e| refused(format!("failed while opening the tunnel ({e})")))?;
    // Its answer's head: nothing follows it before the client speaks through the tunnel.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        if answer.len() > 8192 {
            return Err(refused("answered the CONNECT with a head too long to read".into()));
        }
        let n = stream.read(&mut chunk).await.map_err(|e| refused(format!("failed while opening the tunnel ({e})")))?;
        if n == 0 {
            return Err(refused("closed the connection instead of answering the CONNECT".into()));
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    let status = String::from_utf8_lossy(answer.split(|b| *b == b'\n').next().unwrap_or_default()).trim().to_string();
    match status.split(' ').nth(1) {
        Some("200") => Ok(TokioIo::new(stream)),
        Some("407") => Err(refused("answered 407 Proxy Authentication Required (check the user and password in the proxy variable)".into())),
        _ => Err(refused(format!("answered `{}` to the CONNECT", crate::display::printable(&status, 120)))),
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<tokio::net::TcpStream>, BoxError>> + Send>>;

impl tower_service::Service<Uri> for ProxyConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let Some(proxy) = self.proxies.intercept(&destination) else {
            let connecting = self.direct.call(destination);
            return Box::pin(async move { connecting.await.map_err(Into::into) });
        };
        let port = destination.port_u16().unwrap_or(if destination.scheme_str() == Some("https") { 443 } else { 80 });
        let target = format!("{}:{port}", destination.host().unwrap_or_default());
        // Shown without any credentials the proxy URL may carry.
        let shown = format!("{}://{}", proxy.uri().scheme_str().unwrap_or("http"), proxy.uri().authority().map_or("?", |a| a.as_str().rsplit('@').next().unwrap_or("?")));
        let opening = open_tunnel(self.direct.clone(), proxy.uri().clone(), proxy.basic_auth().cloned(), target.clone(), shown.clone());
        let timeout = self.connect_timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, opening).await {
                Ok(opened) => opened.map_err(Into::into),
                Err(_) => Err(ProxyError(format!("the proxy {shown} did not open a tunnel within {} s, for {target}", timeout.as_secs_f64())).into()),
            }
        })
    }
}

/// A response body whose every next chunk must come within `between_bytes`.
struct TimedBody {
    incoming: hyper::body::Incoming,
    between_bytes: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(|e| if e.is_timeout() { Error::HttpResponseTimeout } else { Error::from(e) })))
            }
            Poll::Pending => {
                let wait = self.between_bytes;
                let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(wait)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

