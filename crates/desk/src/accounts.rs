//! Managing staff accounts (`varsel desk user add|list|disable`): each account has a user name,
//! the name its acknowledgements are signed with, one participant of the desk's organisation, a
//! role, an argon2id password hash and a TOTP secret that the person enrols in an authenticator
//! app when the account is made.

use varsel_protocol::message::ParticipantId;

use crate::config::Config;
use crate::password;
use crate::role::Role;
use crate::store::{accounts::NewAccount, Store};
use crate::totp::Secret;

/// Why an account could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("user name {0:?}: use 2 to 64 of a-z, 0-9, '.', '_' and '-'")]
    Username(String),
    #[error("the display name must not be empty")]
    DisplayName,
    #[error(
        "participant {0}: this desk does not serve it (see `participants` in its configuration)"
    )]
    Participant(ParticipantId),
    #[error(transparent)]
    Password(#[from] password::Refused),
    #[error("user name {0:?} is taken")]
    Taken(String),
    #[error("there is no account {0:?}")]
    NoSuchAccount(String),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// What a new account's holder needs to enrol the second factor.
#[derive(Debug)]
pub struct Enrolment {
    pub id: i64,
    pub secret: Secret,
    /// The `otpauth://` URI for an authenticator app.
    pub uri: String,
}

/// The fields of `varsel desk user add`.
#[derive(Debug, Clone)]
pub struct Add<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub participant: &'a ParticipantId,
    pub role: Role,
    pub password: &'a str,
}

fn valid_username(u: &str) -> bool {
    (2..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Makes an account with a fresh TOTP secret.
pub async fn add(
    config: &Config,
    store: &Store,
    new: &Add<'_>,
    now: i64,
) -> Result<Enrolment, Error> {
    if !valid_username(new.username) {
        return Err(Error::Username(new.username.to_owned()));
    }
    if new.display_name.trim().is_empty() {
        return Err(Error::DisplayName);
    }
    if !config.serves(new.participant) {
        return Err(Error::Participant(new.participant.clone()));
    }
    password::acceptable(new.password)?;
    let secret = Secret::generate();
    let hash = password::hash(new.password);
    let id = store
        .add_account(
            &NewAccount {
                username: new.username,
                display_name: new.display_name.trim(),
                participant: new.participant,
                role: new.role,
                password_hash: &hash,
                totp: &secret,
            },
            now,
        )
        .await?
        .ok_or_else(|| Error::Taken(new.username.to_owned()))?;
    let uri = secret.uri(&config.name, new.username);
    Ok(Enrolment { id, secret, uri })
}

/// Disables an account and ends its sessions.
pub async fn disable(store: &Store, username: &str, now: i64) -> Result<(), Error> {
    if store.disable_account(username, now).await? {
        Ok(())
    } else {
        Err(Error::NoSuchAccount(username.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_plain() {
        assert!(valid_username("anna.andersson"));
        assert!(valid_username("h-1_x"));
        assert!(!valid_username("Anna"));
        assert!(!valid_username("a"));
        assert!(!valid_username("anna andersson"));
        assert!(!valid_username("åsa"));
    }
}
