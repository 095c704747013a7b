//! How a PostgreSQL store's connection is secured and authenticated, reading the connection string as libpq
//! does where tokio-postgres does not:
//! - `sslmode`: `disable`; `prefer` (the default: TLS when the server offers it, unverified); `require` (TLS,
//!   unverified); `verify-ca` (the server's chain checked); `verify-full` (its chain and its name).
//! - `sslrootcert`: a PEM file of the CA certificates to trust, or `system` (the default) for the platform's.
//! - The password: the string's own, else the `PGPASSWORD` environment variable, else the first line of a
//!   password file (`passfile`, else `PGPASSFILE`, else `~/.pgpass`) matching host, port, database and user.
//!
//! TLS is rustls with ring, as the sources' connections (`transport.rs`). Channel binding is not offered.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{Result, anyhow, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// The connection string's parameters tokio-postgres does not know, taken out of it.
const LIBPQ_ONLY: [&str; 3] = ["sslmode", "sslrootcert", "passfile"];

/// How much a connection checks the server it reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Encrypted, the server unchecked (`prefer`, `require`).
    Nothing,
    /// Its certificate chains to a trusted root (`verify-ca`).
    Chain,
    /// And names the host connected to (`verify-full`).
    ChainAndName,
}

/// A store's connection settings: tokio-postgres's, with the password filled in, and its TLS.
pub(super) fn settings(url: &str, shown: &str) -> Result<(tokio_postgres::Config, MakeRustls)> {
    let (rest, libpq) = take_libpq_only(url)?;
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e| anyhow!("{shown} is not a PostgreSQL URL: {e}"))?;
    let param = |key: &str| libpq.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let verify = match param("sslmode").unwrap_or("prefer") {
        "disable" => {
            config.ssl_mode(SslMode::Disable);
            Verify::Nothing
        }
        "allow" | "prefer" => {
            config.ssl_mode(SslMode::Prefer);
            Verify::Nothing
        }
        mode => {
            config.ssl_mode(SslMode::Require);
            match mode {
                "require" => Verify::Nothing,
                "verify-ca" => Verify::Chain,
                "verify-full" => Verify::ChainAndName,
                other => bail!("{shown}: sslmode `{other}` is none of disable, allow, prefer, require, verify-ca, verify-full"),
            }
        }
    };
    let roots = match param("sslrootcert") {
        None | Some("system") => crate::transport::platform_roots().to_vec(),
        Some(file) => crate::transport::read_ca_file(Path::new(file)).map_err(|e| anyhow!("{shown}: sslrootcert: {e:#}"))?,
    };
    if config.get_password().is_none() {
        if let Some(password) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
            config.password(password);
        } else if let Some(password) = password_from_file(&config, param("passfile"))? {
            config.password(password);
        }
    }
    Ok((config, MakeRustls::new(verify, roots)?))
}

/// The string without the parameters of `LIBPQ_ONLY`, and those, from a URL's query or key=value words.
fn take_libpq_only(url: &str) -> Result<(String, Vec<(String, String)>)> {
    let mut taken = Vec::new();
    if super::postgres::is_key_value(url) {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|word| match word.split_once('=') {
                Some((key, value)) if LIBPQ_ONLY.contains(&key) => {
                    taken.push((key.to_string(), value.trim_matches('\'').to_string()));
                    false
                }
                _ => true,
            })
            .collect();
        return Ok((kept.join(" "), taken));
    }
    let Ok(mut parsed) = url::Url::parse(url) else { return Ok((url.to_string(), taken)) };
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        if LIBPQ_ONLY.contains(&key.as_ref()) { taken.push((key.to_string(), value.to_string())) } else { kept.push((key.to_string(), value.to_string())) }
    }
    if taken.is_empty() {
        return Ok((url.to_string(), taken));
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((parsed.to_string(), taken))
}

/// The password of the first line of the password file (libpq's format, `host:port:database:user:password`,
/// `*` matching anything, `\` escaping `:` and `\`) that matches the connection; none when no file exists.
fn password_from_file(config: &tokio_postgres::Config, named: Option<&str>) -> Result<Option<String>> {
    let path = match named.map(PathBuf::from).or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from)) {
        Some(path) => path,
        None => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".pgpass"),
            None => return Ok(None),
        },
    };
    if !path.exists() && named.is_none() {
        return Ok(None);
    }
    let text = crate::files::read_text(&path, 1 << 20, "PostgreSQL password file")?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        _ => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = config.get_user().unwrap_or_default();
    let database = config.get_dbname().unwrap_or(user);
    let wanted = [host.as_str(), port.as_str(), database, user];
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()) {
        let fields = split_pgpass_line(line);
        if fields.len() == 5 && fields[..4].iter().zip(wanted).all(|(field, wanted)| field == "*" || field == wanted) {
            return Ok(Some(fields[4].clone()));
        }
    }
    Ok(None)
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut chars) = (Vec::new(), String::new(), line.chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// tokio-postgres's TLS over tokio-rustls.
#[derive(Clone)]
pub(super) struct MakeRustls {
    config: Arc<rustls::ClientConfig>,
}

impl MakeRustls {
    fn new(verify: Verify, roots: Vec<CertificateDer<'static>>) -> Result<Self> {
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let checks = |chain| builder.clone().dangerous().with_custom_certificate_verifier(Arc::new(Checks { chain, provider: provider.clone() })).with_no_client_auth();
        let config = match verify {
            Verify::ChainAndName => builder.with_root_certificates(store).with_no_client_auth(),
            Verify::Chain => {
                let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build();
                checks(Some(webpki.map_err(|e| anyhow!("no usable CA certificate to verify the store's server with: {e}"))?))
            }
            Verify::Nothing => checks(None),
        };
        Ok(Self { config: Arc::new(config) })
    }
}

/// The server checks of `require` (none but the handshake's own signatures) and `verify-ca` (the chain, not the
/// name).
#[derive(Debug)]
struct Checks {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Checks {
    fn verify_server_cert(&self, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>], name: &ServerName<'_>, ocsp: &[u8], now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. })) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for MakeRustls {
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect { config: self.config.clone(), name: ServerName::try_from(domain.to_string())? })
    }
}

pub(super) struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for RustlsConnect {
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move { Ok(RustlsStream(tokio_rustls::TlsConnector::from(self.config).connect(self.name, stream).await?)) })
    }
}

pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_parameters_are_taken_out_of_urls_and_key_value_strings() {
        let (rest, taken) = take_libpq_only("postgres://h@db:5432/harness?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem").unwrap();
        assert_eq!(rest, "postgres://h@db:5432/harness?application_name=x");
        assert_eq!(taken, [("sslmode".to_string(), "verify-full".to_string()), ("sslrootcert".to_string(), "/etc/ca.pem".to_string())]);
        let (rest, taken) = take_libpq_only("host=db dbname=harness sslmode=require passfile='/run/pgpass'").unwrap();
        assert_eq!(rest, "host=db dbname=harness");
        assert_eq!(taken, [("sslmode".to_string(), "require".to_string()), ("passfile".to_string(), "/run/pgpass".to_string())]);
        let error = settings("postgres://h@db/harness?sslmode=verify-everything", "STORE").err().unwrap();
        assert_eq!(error.to_string(), "STORE: sslmode `verify-everything` is none of disable, allow, prefer, require, verify-ca, verify-full");
    }

    #[test]
    fn a_password_file_line_matches_by_host_port_database_and_user() {
        assert_eq!(split_pgpass_line(r"db\:1:5432:*:h:pa\:ss:w\\rd"), ["db:1", "5432", "*", "h", r"pa:ss:w\rd"]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "# comment\nother:*:*:h:wrong\ndb:5432:harness:h:right\n*:*:*:*:fallback\n").unwrap();
        let config: tokio_postgres::Config = "postgres://h@db/harness".parse().unwrap();
        assert_eq!(password_from_file(&config, file.to_str()).unwrap().as_deref(), Some("right"));
        let config: tokio_postgres::Config = "postgres://h@db:6432/harness".parse().unwrap();
        assert_eq!(password_from_file(&config, file.to_str()).unwrap().as_deref(), Some("fallback"));
        assert!(password_from_file(&config, dir.path().join("missing").to_str()).is_err(), "a named file that is missing is an error");
    }
}
