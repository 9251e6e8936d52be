//! A small certificate authority for trying varsel with mutual TLS (`varsel certs`, the demo and
//! the TLS tests): a CA, a certificate for the RabbitMQ server (`localhost`) and one client
//! certificate per AMQP user, whose subject common name is the participant id.
//!
//! It is for demos and tests: production certificates come from the organisation's own PKI.
//! Private keys are written 0600.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

pub use varsel_transport::tls::{
    common_name, files, identity_in, read_text, Error, Identity, SERVER,
};

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
