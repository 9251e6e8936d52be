//! A section's content key: 32 bytes, wiped when dropped, shared by the v2 key blocks, the v1
//! key wraps and the sections they open.

/// The length of a content key.
pub(super) const CONTENT_KEY_LEN: usize = 32;

/// A content key that is wiped when dropped.
pub(super) struct ContentKey(pub(super) [u8; CONTENT_KEY_LEN]);

impl ContentKey {
    pub(super) fn copy(bytes: &[u8]) -> ContentKey {
        let mut key = ContentKey([0; CONTENT_KEY_LEN]);
        key.0.copy_from_slice(bytes);
        key
    }

    /// The key in `raw` (wiped), if it has the length of one.
    pub(super) fn take(mut raw: Vec<u8>) -> Option<ContentKey> {
        let key = (raw.len() == CONTENT_KEY_LEN).then(|| ContentKey::copy(&raw));
        raw.fill(0);
        key
    }
}

impl Drop for ContentKey {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}
