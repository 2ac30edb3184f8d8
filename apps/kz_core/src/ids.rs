//! Generates and checks Kazoo document ids.
//!
//! Kazoo's ids (accounts, faxboxes, jobs, SMTP sessions) are 32 lowercase hex characters from 16 random bytes
//! (`kz_binary:rand_hex(16)`). Ours have the same shape, but the first 12 characters are the creation time in
//! milliseconds: ids made one after the other sort one after the other, so a store's indexes by id grow at their
//! end (one page written for many new documents) instead of at random places (one page for each). The remaining
//! 80 bits are random, which keeps ids unguessable and distinct.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

/// A fresh 32-hex id: 48 bits of milliseconds since 1970, then 80 random bits.
pub fn new_id() -> String {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    format!("{:012x}{}", ms & 0xffff_ffff_ffff, rand_hex(10))
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
    fn ids_made_later_sort_later() {
        let first = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id();
        assert!(first < second, "{first} then {second}");
        // Within one millisecond they still differ, in their random part.
        let burst: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(burst.len(), 1000);
    }

    #[test]
    fn is_id_rejects_other_shapes() {
        assert!(!is_id("ABCDEF0123456789abcdef0123456789"));
        assert!(!is_id("abc"));
        assert!(!is_id("g0000000000000000000000000000000"));
        assert!(is_id("0123456789abcdef0123456789abcdef"));
    }
}
