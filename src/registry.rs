//! The participant registry: participants, roles, keys with validity and revocation.
