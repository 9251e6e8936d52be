//! Where sealing takes its randomness from: the system's generator in use, a fixed sequence of
//! bytes for the published test vectors. One sealing path takes either, so the vectors check the
//! code that runs.

use std::convert::Infallible;

use hpke::rand_core::utils::next_word_via_fill;
use hpke::rand_core::{TryCryptoRng, TryRng};
use ring::rand::{SecureRandom as _, SystemRandom};

/// The randomness of one sealing, as the `rand_core` generator the `hpke` crate takes.
pub enum Randomness<'a> {
    /// The operating system's generator (through `ring`).
    System(SystemRandom),
    /// Exactly these bytes, in order, and a panic when asked for more: only for test vectors,
    /// whose "randomness" is published with them.
    Replay(&'a [u8]),
}

impl Randomness<'_> {
    pub fn system() -> Randomness<'static> {
        Randomness::System(SystemRandom::new())
    }

    /// The bytes not drawn yet (none for the system's generator).
    pub fn rest(&self) -> &[u8] {
        match self {
            Randomness::System(_) => &[],
            Randomness::Replay(bytes) => bytes,
        }
    }
}

impl TryRng for Randomness<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        next_word_via_fill(self)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        next_word_via_fill(self)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        match self {
            // Sealing with predictable keys is worse than not sealing, and the hpke crate's own
            // system generator panics the same way; the kernel's generator does not fail once
            // booted.
            Randomness::System(rng) => rng
                .fill(dst)
                .expect("the system random number generator failed"),
            Randomness::Replay(bytes) => {
                assert!(
                    dst.len() <= bytes.len(),
                    "the test vector's randomness is used up"
                );
                let (now, rest) = bytes.split_at(dst.len());
                dst.copy_from_slice(now);
                *bytes = rest;
            }
        }
        Ok(())
    }
}

impl TryCryptoRng for Randomness<'_> {}
