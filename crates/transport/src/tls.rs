//! Transport security: the TLS identity a broker or participant presents to RabbitMQ (AMQPS with
//! a client certificate, EXTERNAL authentication). The small certificate authority for trying
//! varsel (`varsel certs`) lives in the test kit (`varsel_testkit::certs`).
//!
//! The server is verified against the configured CA only: no platform or web roots are trusted
//! and there is no way to skip verification. rustls (on ring) speaks TLS 1.3 by preference and
//! 1.2 at least; older versions do not exist in it. RabbitMQ takes the user name from the client
//! certificate's subject common name, which is the participant id (`amqp_user` in the registry).

use std::path::{Path, PathBuf};

/// What went wrong reading or making certificates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PEM certificate: {detail}")]
    Certificate { path: String, detail: String },
    #[error("{path} has no subject common name (CN); RabbitMQ takes the user name from it")]
    NoCommonName { path: String },
    #[error("cannot make a certificate: {0}")]
    Make(String),
    #[error("{0} already exists; remove it first or choose another directory")]
    Exists(String),
}

/// The TLS identity for an AMQPS connection: the CA that must have signed the server's
/// certificate, and our own certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Identity {
    /// The subject common name of our certificate: the AMQP user RabbitMQ will know us as.
    pub fn user(&self) -> Result<String, Error> {
        common_name(&self.cert)
    }

    /// Reads the files into lapin's TLS configuration.
    pub fn tls_config(&self) -> Result<lapin::tcp::OwnedTLSConfig, Error> {
        let ca = read_text(&self.ca)?;
        let cert = read_text(&self.cert)?;
        let key = read_text(&self.key)?;
        Ok(lapin::tcp::OwnedTLSConfig {
            identity: Some(lapin::tcp::OwnedIdentity::PKCS8 {
                pem: cert.into_bytes(),
                key: key.into_bytes(),
            }),
            cert_chain: Some(ca),
        })
    }

    /// Checks that the three files are readable PEM and that the certificate names a user.
    pub fn check(&self) -> Result<String, Error> {
        first_certificate(&self.ca)?;
        read_text(&self.key)?;
        self.user()
    }
}

/// Reads a PEM (or any text) file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })
}

fn first_certificate(path: &Path) -> Result<Vec<u8>, Error> {
    let text = read_text(path)?;
    let bad = |detail: String| Error::Certificate {
        path: path.display().to_string(),
        detail,
    };
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(text.as_bytes()).map_err(|e| bad(format!("{e}")))?;
    if pem.label != "CERTIFICATE" {
        return Err(bad(format!("found a {} block", pem.label)));
    }
    Ok(pem.contents)
}

/// The subject common name of the first certificate in a PEM file.
pub fn common_name(path: &Path) -> Result<String, Error> {
    let der = first_certificate(path)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| Error::Certificate {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    cn.ok_or_else(|| Error::NoCommonName {
        path: path.display().to_string(),
    })
}

/// File names inside a certificate directory made by [`init`].
pub mod files {
    use std::path::{Path, PathBuf};

    pub fn ca_cert(dir: &Path) -> PathBuf {
        dir.join("ca.pem")
    }
    pub fn ca_key(dir: &Path) -> PathBuf {
        dir.join("ca.key")
    }
    pub fn cert(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.pem"))
    }
    pub fn key(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.key"))
    }
}

/// The file name the RabbitMQ server's certificate and key get in a certificate directory.
pub const SERVER: &str = "rabbitmq-server";

/// The identity of `name` (a participant id) in a certificate directory made by [`init`].
pub fn identity_in(dir: &Path, name: &str) -> Identity {
    Identity {
        ca: files::ca_cert(dir),
        cert: files::cert(dir, name),
        key: files::key(dir, name),
    }
}
