//! TLS for both sides of emlab, on rustls with the `ring` provider.
//!
//! A Cisco deployment serves the EM API, the phone service and Change
//! Credential on HTTPS 8443 beside HTTP 8080, and configuration files on
//! HTTPS 6971 beside HTTP 6970, usually with a self-signed Tomcat
//! certificate (PROTOCOL.md §8). So:
//!
//! - the reference server takes a certificate and key in PEM, or makes a
//!   self-signed one and writes its PEM for clients to trust
//!   ([`ServerIdentity`], [`server_config`]);
//! - the fleet and `emlab conform` trust the system's roots, plus `--ca
//!   FILE`, or anything with `--insecure` ([`ClientTls`]);
//! - [`probe`] opens one connection and says in one line why TLS did not
//!   work (an unknown issuer, the wrong host, plain HTTP on the port), so
//!   that a certificate problem stops a run before it starts instead of
//!   turning every request into a `connection-error`.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use rustls::{ClientConfig, ServerConfig};
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS setup problem, one line naming the file or host and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

// ---------------------------------------------------------------- server

/// Where the server's certificate comes from.
#[derive(Clone, Debug)]
pub enum ServerIdentity {
    /// A certificate chain and its private key, both PEM.
    Files { cert: PathBuf, key: PathBuf },
    /// A fresh self-signed certificate for `localhost`, 127.0.0.1 and ::1
    /// (plus `names`), whose PEM is written to `write_to` so that clients
    /// can pass it as `--ca` (curl: `--cacert`).
    SelfSigned {
        names: Vec<String>,
        write_to: PathBuf,
    },
}

/// The server's rustls configuration, HTTP/1.1 only (phones speak nothing else).
pub fn server_config(identity: &ServerIdentity) -> Result<Arc<ServerConfig>, TlsError> {
    let (chain, key) = match identity {
        ServerIdentity::Files { cert, key } => (read_certificates(cert)?, read_key(key)?),
        ServerIdentity::SelfSigned { names, write_to } => {
            let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
            all.extend(names.iter().cloned());
            let made = rcgen::generate_simple_self_signed(all)
                .map_err(|e| TlsError(format!("cannot make a self-signed certificate: {e}")))?;
            std::fs::write(write_to, made.cert.pem()).map_err(|e| {
                TlsError(format!(
                    "{}: cannot write the self-signed certificate: {e}",
                    write_to.display()
                ))
            })?;
            let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
                .map_err(|e| TlsError(format!("self-signed key: {e}")))?;
            (vec![made.cert.der().clone()], key)
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(format!("certificate and key do not fit together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed certificate for `names` and its private key, both PEM, for
/// labs that put a TLS terminator (stunnel, nginx) in front of a server.
pub fn self_signed_pem(names: &[&str]) -> Result<(String, String), TlsError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError(format!("cannot make a self-signed certificate: {e}")))?;
    Ok((made.cert.pem(), made.signing_key.serialize_pem()))
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = std::fs::read(path).map_err(|e| TlsError(format!("{}: {e}", path.display())))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("{}: not a PEM certificate: {e}", path.display())))?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "{}: no `BEGIN CERTIFICATE` block",
            path.display()
        )));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = std::fs::read(path).map_err(|e| TlsError(format!("{}: {e}", path.display())))?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        TlsError(format!(
            "{}: not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            path.display()
        ))
    })
}

// ---------------------------------------------------------------- client

/// What a client trusts: the system's roots plus `--ca`, or anything.
/// Cheap to clone; one per run.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    insecure: bool,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl Default for ClientTls {
    /// The system's roots only (the `--ca`-less, secure default).
    fn default() -> Self {
        static SYSTEM: OnceLock<ClientTls> = OnceLock::new();
        SYSTEM
            .get_or_init(|| ClientTls::new(None, false).unwrap_or_else(|_| ClientTls::empty()))
            .clone()
    }
}

impl ClientTls {
    /// `--ca FILE` (PEM, one or more certificates) and `--insecure`.
    pub fn new(ca: Option<&Path>, insecure: bool) -> Result<ClientTls, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(format!("TLS versions: {e}")))?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                    provider().signature_verification_algorithms,
                )))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            // A missing or partly unreadable system store is not fatal: the
            // lab's own CA usually comes with --ca.
            let system = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(system.certs);
            if let Some(path) = ca {
                for cert in read_certificates(path)? {
                    roots.add(cert).map_err(|e| {
                        TlsError(format!(
                            "{}: not a usable CA certificate: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ClientTls {
            config: Arc::new(config),
            insecure,
        })
    }

    fn empty() -> ClientTls {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        ClientTls {
            config: Arc::new(config),
            insecure: false,
        }
    }

    /// Whether any certificate is accepted (`--insecure`), for the summary and reports.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.config.clone())
    }
}

/// `--insecure`: any certificate, any name; signatures are still checked
/// so the handshake itself is sound.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The SNI and certificate name for `host` (a DNS name or an IP address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|_| TlsError(format!("`{host}` is not a host name or address")))
}

/// Why a TLS connection failed, in words an operator can act on.
pub fn explain(error: &std::io::Error) -> String {
    let inner = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::UnknownIssuer => {
                "certificate signed by an unknown authority (pass its CA with --ca FILE, or --insecure)".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate is for another host name".into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate is not valid yet".into()
            }
            other => format!("certificate refused: {other:?}"),
        },
        // Plain HTTP bytes where TLS records were expected.
        Some(rustls::Error::InvalidMessage(_)) | Some(rustls::Error::InappropriateMessage { .. }) => {
            "the server did not answer in TLS (is it an http:// server?)".into()
        }
        Some(other) => other.to_string(),
        None => match error.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                "the server closed the connection during the TLS handshake".into()
            }
            _ => error.to_string(),
        },
    }
}

/// One TLS handshake with `addr` as `host`: `Ok` or one line saying why not.
pub async fn probe(
    host: &str,
    addr: SocketAddr,
    tls: &ClientTls,
    timeout: Duration,
) -> Result<(), String> {
    let name = server_name(host).map_err(|e| e.0)?;
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        tls.connector()
            .connect(name, tcp)
            .await
            .map(|_| ())
            .map_err(|e| explain(&e))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no TLS handshake within {} s",
            timeout.as_secs_f64()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(dir: &Path) -> (Arc<ServerConfig>, PathBuf) {
        let pem = dir.join("cert.pem");
        let config = server_config(&ServerIdentity::SelfSigned {
            names: vec![],
            write_to: pem.clone(),
        })
        .expect("self-signed");
        (config, pem)
    }

    async fn serve_once(config: Arc<ServerConfig>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let acceptor = TlsAcceptor::from(config);
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = acceptor.accept(tcp).await;
            }
        });
        addr
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("emlab-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn the_written_certificate_is_trusted_and_others_are_told_why_not() {
        let dir = scratch("trust");
        let (config, pem) = self_signed(&dir);
        let addr = serve_once(config).await;
        let t = Duration::from_secs(5);
        let with_ca = ClientTls::new(Some(&pem), false).unwrap();
        assert_eq!(probe("localhost", addr, &with_ca, t).await, Ok(()));
        assert_eq!(probe("127.0.0.1", addr, &with_ca, t).await, Ok(()));
        let unknown = probe("localhost", addr, &ClientTls::default(), t).await;
        assert!(unknown.unwrap_err().contains("unknown authority"));
        let wrong_host = probe("phones.example", addr, &with_ca, t).await;
        assert!(wrong_host.unwrap_err().contains("another host name"));
        let insecure = ClientTls::new(None, true).unwrap();
        assert!(insecure.insecure());
        assert_eq!(probe("phones.example", addr, &insecure, t).await, Ok(()));
    }

    #[tokio::test]
    async fn plain_http_on_the_port_is_named() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let why = probe(
            "127.0.0.1",
            addr,
            &ClientTls::new(None, true).unwrap(),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(why.contains("http://"), "{why}");
    }

    #[test]
    fn unreadable_or_foreign_files_are_one_line_errors() {
        let dir = scratch("files");
        let missing = server_config(&ServerIdentity::Files {
            cert: dir.join("nope.pem"),
            key: dir.join("nope.key"),
        })
        .unwrap_err();
        assert!(missing.0.contains("nope.pem"), "{missing}");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = ClientTls::new(Some(&junk), false).unwrap_err();
        assert!(e.0.contains("junk.pem") && !e.0.contains('\n'), "{e}");
        let (_, pem) = self_signed(&dir);
        let wrong_key = server_config(&ServerIdentity::Files {
            cert: pem.clone(),
            key: pem,
        })
        .unwrap_err();
        assert!(wrong_key.0.contains("private key"), "{wrong_key}");
    }
}
