//! The envelope: JWS signing and verification, sealed sections and HPKE key wraps. The only module that touches keys.
