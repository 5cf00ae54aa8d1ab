//! TLS for SSL_GET: rustls (ring provider) without certificate verification.
//!
//! keepalived's SSL_GET does not verify the server's certificate unless a CA is configured
//! (keepalived/check/check_ssl.c sets no verify callback), so neither does tandem: any
//! certificate is accepted, but the handshake signatures are still checked, so the server must
//! hold the private key of the certificate it shows. SNI is sent only when
//! [`TlsSettings::sni`] names a DNS host (keepalived sends it only with `enable_sni`).

use super::socket::by_deadline;
use super::{Failure, Target};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// TLS options of SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// Server name to send (keepalived: `sni_name`, else the url's or the checker's
    /// `virtualhost`, and only with `enable_sni`). An IP address or an invalid name sends none.
    pub sni: Option<String>,
}

/// Accepts any certificate; checks handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

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
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The one client configuration all SSL_GET probes share.
fn client_config() -> Result<Arc<ClientConfig>, Failure> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AcceptAnyCertificate { algorithms: provider.signature_verification_algorithms });
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Failure::new(format!("TLS set-up failed: {e}")))
}

/// The name given to rustls: the SNI name when it is a DNS name, else the target's address
/// (for which rustls sends no SNI).
fn server_name(target: &Target, tls: &TlsSettings) -> ServerName<'static> {
    if let Some(name) = &tls.sni {
        if let Ok(n @ ServerName::DnsName(_)) = ServerName::try_from(name.clone()) {
            return n;
        }
    }
    ServerName::IpAddress(target.addr.ip().into())
}

/// Runs the TLS handshake over `stream` by the deadline.
pub(crate) async fn connect(
    stream: TcpStream,
    target: &Target,
    tls: &TlsSettings,
    deadline: Instant,
) -> Result<TlsStream<TcpStream>, Failure> {
    let connector = TlsConnector::from(client_config()?);
    let name = server_name(target, tls);
    by_deadline(deadline, target, "TLS handshake", async {
        connector.connect(name, stream).await.map_err(|e| Failure::new(format!("TLS handshake failed: {e}")))
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sni_only_for_dns_names() {
        let t = Target::new("192.0.2.1:443".parse().unwrap(), Duration::from_secs(1));
        let named = server_name(&t, &TlsSettings { sni: Some("www.example.com".into()) });
        assert!(matches!(named, ServerName::DnsName(ref n) if n.as_ref() == "www.example.com"));
        let ip = server_name(&t, &TlsSettings { sni: Some("192.0.2.9".into()) });
        assert!(matches!(ip, ServerName::IpAddress(_)));
        assert!(matches!(server_name(&t, &TlsSettings::default()), ServerName::IpAddress(_)));
    }

    #[test]
    fn the_config_builds() {
        assert!(client_config().is_ok());
    }
}
