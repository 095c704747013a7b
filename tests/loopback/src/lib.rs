//! An axum app served on 127.0.0.1 with an OS-assigned port, on a thread of its own, over plain HTTP or TLS
//! (HTTP/1.1 and HTTP/2, by ALPN); dropping it stops the server. Every test double runs on it. It counts the
//! connections it accepts, so tests can see whether a client reuses them.

mod limit;

pub use limit::{Limit, Limiter};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio_rustls::rustls;

pub struct LoopbackServer {
    addr: SocketAddr,
    tls: bool,
    accepted: Arc<AtomicU64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackServer {
    pub fn start(name: &str, app: Router) -> anyhow::Result<Self> {
        Self::serve(name, app, None)
    }

    /// Serves over TLS with `identity`'s certificate (for `localhost` and 127.0.0.1), offering HTTP/2 by
    /// ALPN when `http2`.
    pub fn start_tls(name: &str, app: Router, identity: &TestCa, http2: bool) -> anyhow::Result<Self> {
        Self::serve(name, app, Some(identity.server_config(http2)?))
    }

    fn serve(name: &str, app: Router, tls: Option<Arc<rustls::ServerConfig>>) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let is_tls = tls.is_some();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("test server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("test server listener");
                let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
                loop {
                    let stream = tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => match accepted { Ok((stream, _)) => stream, Err(_) => continue },
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    let service = TowerToHyperService::new(app.clone());
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        let _ = match acceptor {
                            Some(acceptor) => match acceptor.accept(stream).await {
                                Ok(stream) => builder.serve_connection(TokioIo::new(stream), service).await,
                                Err(_) => return,
                            },
                            None => builder.serve_connection(TokioIo::new(stream), service).await,
                        };
                    });
                }
            });
        })?;
        Ok(Self { addr, tls: is_tls, accepted, shutdown: Some(tx), thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` over TLS (the name its certificate carries).
    pub fn base_url(&self) -> String {
        match self.tls {
            true => format!("https://localhost:{}", self.addr.port()),
            false => format!("http://{}", self.addr),
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A certificate authority made at test time, and a server certificate it issued for `localhost` and
/// 127.0.0.1. Clients trust it only when given `ca_pem`.
pub struct TestCa {
    ca_pem: String,
    server_cert_der: Vec<u8>,
    server_key_der: Vec<u8>,
    server_cert_pem: String,
    server_key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        Self::issuing_for(name, &["localhost", "127.0.0.1"])
    }

    /// A CA whose server certificate names only `names` (DNS names or IP addresses).
    pub fn issuing_for(name: &str, names: &[&str]) -> anyhow::Result<Self> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate()?)?;
        let server_key = rcgen::KeyPair::generate()?;
        let server = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?.signed_by(&server_key, &ca)?;
        Ok(Self {
            ca_pem: ca.pem(),
            server_cert_der: server.der().to_vec(),
            server_key_der: server_key.serialize_der(),
            server_cert_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }

    /// The server certificate and its private key, PEM-encoded, for a server of another kind (PostgreSQL).
    pub fn server_pem(&self) -> (&str, &str) {
        (&self.server_cert_pem, &self.server_key_pem)
    }

    /// The CA certificate, PEM-encoded, as a client's extra trust root.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn server_config(&self, http2: bool) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert = rustls::pki_types::CertificateDer::from(self.server_cert_der.clone());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.server_key_der.clone().into());
        let mut config = rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?.with_no_client_auth().with_single_cert(vec![cert], key)?;
        config.alpn_protocols = if http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
        Ok(Arc::new(config))
    }
}

/// A TCP forwarder on 127.0.0.1 that delays every byte by `one_way` in each direction: a network with a
/// round-trip time of twice that, in front of a loopback server. Order is kept; bandwidth is not limited.
pub struct DelayLine {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl DelayLine {
    pub fn start(target: SocketAddr, one_way: std::time::Duration) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let port = listener.local_addr()?.port();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(delayed(client_read, server_write, one_way));
                    tokio::spawn(delayed(server_read, client_write, one_way));
                });
            }
        });
        Ok(Self { port, _runtime: runtime })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Copies `from` to `to`, each chunk leaving `delay` after it arrived.
async fn delayed(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, delay: std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buffer = vec![0u8; 64 << 10];
    while let Ok(n) = from.read(&mut buffer).await {
        if n == 0 || tx.send((tokio::time::Instant::now() + delay, buffer[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
