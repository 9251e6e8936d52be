//! Canonical JSON (RFC 8785, the JSON Canonicalization Scheme): the one form in which varsel
//! hashes or authenticates a JSON value (the sections' and key wraps' associated data, the audit
//! chain). Object keys are sorted by their UTF-16 code units, there is no whitespace, strings carry
//! JSON's minimal escapes and numbers are written as ECMAScript does. Any JCS implementation gives
//! the same bytes; this one is `serde_json_canonicalizer`. For the ASCII keys, strings and integers
//! varsel writes, the bytes are the same as those of the hand-written forms it replaced (keys by
//! UTF-8 bytes in the envelope, by UTF-16 units in the audit chain), so existing signatures,
//! sealed sections and audit chains still verify.

use serde_json::Value;

/// The canonical JSON bytes of a value.
pub fn to_vec(value: &Value) -> Vec<u8> {
    // Serializing a `serde_json::Value` cannot fail: its keys are strings and its numbers finite.
    serde_json_canonicalizer::to_vec(value).expect("a JSON value always canonicalizes")
}

/// The canonical JSON text of a value.
pub fn to_string(value: &Value) -> String {
    serde_json_canonicalizer::to_string(value).expect("a JSON value always canonicalizes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical_json(v: &Value) -> String {
        to_string(v)
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"z": [true, null], "y": "é\"x"}});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"a":{"y":"é\"x","z":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn canonical_json_sorts_keys_and_escapes_like_jcs() {
        let v = json!({"b": 1, "a": [true, null, "x\"\n\u{1}é"], "A": {"z": -2, "y": "€"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"A":{"y":"€","z":-2},"a":[true,null,"x\"\n\u0001é"],"b":1}"#
        );
    }

    #[test]
    fn canonical_json_orders_keys_by_utf16_units() {
        // U+FF61 sorts after U+1F600 in UTF-16 (surrogate 0xD83D < 0xFF61) but before it in UTF-8.
        let v = json!({"\u{ff61}": 1, "\u{1f600}": 2});
        assert_eq!(canonical_json(&v), "{\"\u{1f600}\":2,\"\u{ff61}\":1}");
    }
}
