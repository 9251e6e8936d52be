//! Transport security: the TLS identity a broker or participant presents to RabbitMQ (AMQPS with
//! a client certificate, EXTERNAL authentication), and a small certificate authority for trying
//! varsel (`varsel certs`).
//!
//! The server is verified against the configured CA only: no platform or web roots are trusted
//! and there is no way to skip verification. rustls (on ring) speaks TLS 1.3 by preference and
//! 1.2 at least; older versions do not exist in it. RabbitMQ takes the user name from the client
//! certificate's subject common name, which is the participant id (`amqp_user` in the registry).
//!
//! The certificate authority here is for demos and tests: production certificates come from the
//! organisation's own PKI. Private keys are written 0600.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

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

fn read_text(path: &Path) -> Result<String, Error> {
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

fn make(e: rcgen::Error) -> Error {
    Error::Make(e.to_string())
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.display().to_string(),
        source,
    };
    if private {
        write_private(path, text.as_bytes()).map_err(err)
    } else {
        std::fs::write(path, text).map_err(err)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// How long a certificate is valid, from an hour ago (to allow for clock skew).
#[derive(Debug, Clone, Copy)]
pub enum Validity {
    /// Valid from an hour ago for this long.
    For(Duration),
    /// Expired: valid from `ago + 1 day` ago until `ago` ago (for tests of refusal).
    ExpiredAgo(Duration),
}

impl Default for Validity {
    fn default() -> Self {
        Validity::For(Duration::from_secs(365 * 24 * 3600))
    }
}

fn apply(params: &mut CertificateParams, validity: Validity) {
    let now = time::OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    match validity {
        Validity::For(d) => {
            params.not_before = now - hour;
            params.not_after = now + time::Duration::seconds(d.as_secs() as i64);
        }
        Validity::ExpiredAgo(d) => {
            let until = now - time::Duration::seconds(d.as_secs() as i64);
            params.not_after = until;
            params.not_before = until - time::Duration::days(1);
        }
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "varsel demo (not for production)");
    dn.push(DnType::CommonName, cn);
    dn
}

/// Makes a new certificate authority in `dir` (`ca.pem`, `ca.key`). Refuses to overwrite one.
pub fn make_ca(dir: &Path, name: &str) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.display().to_string(),
        source,
    })?;
    if files::ca_key(dir).exists() {
        return Err(Error::Exists(files::ca_key(dir).display().to_string()));
    }
    let key = KeyPair::generate().map_err(make)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(make)?;
    params.distinguished_name = dn(name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    apply(
        &mut params,
        Validity::For(Duration::from_secs(5 * 365 * 24 * 3600)),
    );
    let cert = params.self_signed(&key).map_err(make)?;
    write(&files::ca_key(dir), &key.serialize_pem(), true)?;
    write(&files::ca_cert(dir), &cert.pem(), false)
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A RabbitMQ server: the names are DNS names or IP addresses.
    Server,
    /// A participant or broker connecting to RabbitMQ: the common name is its AMQP user.
    Client,
}

/// Issues a certificate signed by the CA in `ca_dir`, writing `<file>.pem` and `<file>.key` into
/// `out_dir`. For a client the common name is `name`; for a server `name` is also the first of
/// the subject alternative names `names`.
pub fn issue(
    ca_dir: &Path,
    out_dir: &Path,
    file: &str,
    name: &str,
    purpose: Purpose,
    names: &[String],
    validity: Validity,
) -> Result<Identity, Error> {
    let ca_key = KeyPair::from_pem(&read_text(&files::ca_key(ca_dir))?).map_err(make)?;
    let issuer =
        Issuer::from_ca_cert_pem(&read_text(&files::ca_cert(ca_dir))?, ca_key).map_err(make)?;
    let key = KeyPair::generate().map_err(make)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(make)?;
    params.distinguished_name = dn(name);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![match purpose {
        Purpose::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Purpose::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    apply(&mut params, validity);
    let cert = params.signed_by(&key, &issuer).map_err(make)?;
    std::fs::create_dir_all(out_dir).map_err(|source| Error::Write {
        path: out_dir.display().to_string(),
        source,
    })?;
    write(&files::key(out_dir, file), &key.serialize_pem(), true)?;
    write(&files::cert(out_dir, file), &cert.pem(), false)?;
    Ok(Identity {
        ca: files::ca_cert(ca_dir),
        cert: files::cert(out_dir, file),
        key: files::key(out_dir, file),
    })
}

/// Makes a demo CA in `dir`, a RabbitMQ server certificate for localhost and a client
/// certificate per participant (common name = the participant's AMQP user). Existing client
/// certificates are kept unless their files are missing; an existing CA is reused.
pub fn init(dir: &Path, users: &[String]) -> Result<Vec<PathBuf>, Error> {
    if !files::ca_key(dir).exists() {
        make_ca(dir, "varsel demo CA")?;
    }
    let mut made = Vec::new();
    if !files::cert(dir, SERVER).exists() {
        let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
        issue(
            dir,
            dir,
            SERVER,
            "localhost",
            Purpose::Server,
            &names,
            Validity::default(),
        )?;
        made.push(files::cert(dir, SERVER));
    }
    for u in users {
        if !files::cert(dir, u).exists() || !files::key(dir, u).exists() {
            issue(dir, dir, u, u, Purpose::Client, &[], Validity::default())?;
            made.push(files::cert(dir, u));
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_client_certificates_name_their_user_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), &["norrkoping-ektorpsskolan".to_owned()]).unwrap();
        let id = identity_in(dir.path(), "norrkoping-ektorpsskolan");
        assert_eq!(id.check().unwrap(), "norrkoping-ektorpsskolan");
        assert_eq!(
            common_name(&files::cert(dir.path(), SERVER)).unwrap(),
            "localhost"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&id.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(files::ca_key(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second run keeps what exists.
        assert!(init(dir.path(), &["norrkoping-ektorpsskolan".to_owned()])
            .unwrap()
            .is_empty());
        assert!(matches!(
            make_ca(dir.path(), "again"),
            Err(Error::Exists(_))
        ));
    }

    #[test]
    fn a_key_file_is_not_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), &["skola".to_owned()]).unwrap();
        let e = common_name(&files::key(dir.path(), "skola")).unwrap_err();
        assert!(matches!(e, Error::Certificate { .. }), "{e}");
    }
}
