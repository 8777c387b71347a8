//! TLS with rustls (no OpenSSL): the server's certificate and key, the CA
//! that client certificates must chain to (mTLS), the client side for the
//! command line, and the subject a client certificate names.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// Where the server's TLS material lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerTlsFiles {
    /// The server's certificate chain, PEM.
    pub cert: PathBuf,
    /// The server's private key, PEM.
    pub key: PathBuf,
    /// The CA (PEM) that client certificates must chain to; none: no
    /// client certificates are asked for.
    pub client_ca: Option<PathBuf>,
    /// With a client CA: whether a client may still connect without a
    /// certificate (and authenticate with a bearer token instead).
    pub client_auth_optional: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the {what} {path} is not PEM")]
    NotPem { what: &'static str, path: PathBuf },
    #[error("the client certificate needs its key, and the key its certificate")]
    HalfIdentity,
    #[error("TLS: {0}")]
    Config(String),
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(TlsError::NotPem {
            what,
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

impl ServerTlsFiles {
    /// Reads the files into tonic's server configuration.
    pub(crate) fn load(&self) -> Result<ServerTlsConfig, TlsError> {
        let cert = read_pem("server certificate", &self.cert)?;
        let key = read_pem("server key", &self.key)?;
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca) = &self.client_ca {
            config = config
                .client_ca_root(Certificate::from_pem(read_pem("client CA", ca)?))
                .client_auth_optional(self.client_auth_optional);
        }
        Ok(config)
    }
}

impl ServerTlsFiles {
    /// The same certificate and key for the JSON API's HTTP/1.1 listener
    /// (rustls with ring). It asks for no client certificate: the JSON API
    /// authenticates bearer tokens only.
    pub(crate) fn http_config(&self) -> Result<std::sync::Arc<rustls::ServerConfig>, TlsError> {
        http_config(
            &read_pem("server certificate", &self.cert)?,
            &read_pem("server key", &self.key)?,
        )
    }
}

/// A rustls server configuration for HTTP/1.1 from a PEM certificate
/// chain and its PEM private key.
pub fn http_config(
    cert: &[u8],
    key: &[u8],
) -> Result<std::sync::Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Config(format!("the certificate chain: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| TlsError::Config(format!("the private key: {e}")))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(std::sync::Arc::new(config))
}

/// The client side: the CA that signed the server's certificate, and the
/// client's own certificate and key for mTLS.
pub(crate) fn client_config(
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<ClientTlsConfig, TlsError> {
    let mut config = ClientTlsConfig::new();
    config = match ca {
        Some(ca) => config.ca_certificate(Certificate::from_pem(read_pem("CA certificate", ca)?)),
        // The system's trust store (rustls-native-certs).
        None => config.with_native_roots(),
    };
    match (cert, key) {
        (Some(cert), Some(key)) => {
            config = config.identity(Identity::from_pem(
                read_pem("client certificate", cert)?,
                read_pem("client key", key)?,
            ));
        }
        (None, None) => {}
        _ => return Err(TlsError::HalfIdentity),
    }
    Ok(config)
}

/// The subject of a DER certificate as text, attributes in the order the
/// certificate holds them (`CN=ingest, O=Example`): the name a principals
/// file entry's `subject` must equal. None if the bytes are no certificate.
pub(crate) fn certificate_subject(der: &[u8]) -> Option<String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = certificate.subject().to_string();
    (!subject.is_empty()).then_some(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_names_its_subject_and_garbage_names_nothing() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ingest");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            certificate_subject(cert.der()).as_deref(),
            Some("CN=ingest, O=Example")
        );
        assert_eq!(certificate_subject(b"not a certificate"), None);
        assert_eq!(certificate_subject(&[]), None);
    }
}
