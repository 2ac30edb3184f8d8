//! Generates and checks Kazoo document ids.
//!
//! Kazoo's ids (accounts, faxboxes, jobs, SMTP sessions) are 32 lowercase hex characters from 16 random bytes
//! (`kz_binary:rand_hex(16)`).

use rand::RngCore;

/// A fresh 32-hex id.
pub fn new_id() -> String {
    rand_hex(16)
}

/// `n` random bytes as `2n` lowercase hex characters.
pub fn rand_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    let mut out = String::with_capacity(2 * n);
    for b in bytes {
        out.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        out.push(char::from_digit((b & 0xf) as u32, 16).unwrap_or('0'));
    }
    out
}

/// True for a raw 32-hex id (lowercase, as Kazoo writes them).
pub fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert!(is_id(&a), "{a}");
        assert!(is_id(&b), "{b}");
        assert_ne!(a, b);
        assert_eq!(rand_hex(4).len(), 8);
    }

    #[test]
    fn is_id_rejects_other_shapes() {
        assert!(!is_id("ABCDEF0123456789abcdef0123456789"));
        assert!(!is_id("abc"));
        assert!(!is_id("g0000000000000000000000000000000"));
        assert!(is_id("0123456789abcdef0123456789abcdef"));
    }
}
