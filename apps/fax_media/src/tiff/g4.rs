//! Encodes 1-bit pages as CCITT Group 4 (ITU-T T.6), the compression of every fax TIFF this crate writes.
//!
//! Kazoo gets its G4 from Ghostscript's `tiffg4` device or ImageMagick's `-compress group4`. This encoder finds
//! each row's colour changes a 64-bit word at a time (skipping all-white and all-black words), then applies the T.6
//! mode rules; its output is byte-identical to the `fax` crate's encoder, several times faster.

use super::codes::{EOL, EXT_MAKEUP, HORIZONTAL, PASS, VERTICAL, makeup};
use crate::page::Page;

/// Packs variable-length codes most significant bit first.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter {
    fn with_capacity(bytes: usize) -> Self {
        BitWriter { out: Vec::with_capacity(bytes), acc: 0, bits: 0 }
    }

    #[inline]
    fn put(&mut self, (code, len): (u16, u8)) {
        self.acc = (self.acc << len) | u64::from(code);
        self.bits += u32::from(len);
        if self.bits >= 32 {
            self.bits -= 32;
            self.out.extend_from_slice(&((self.acc >> self.bits) as u32).to_be_bytes());
        }
    }

    /// Writes a run of `n` pixels of one colour: make-up codes, then a terminating code.
    #[inline]
    fn run(&mut self, black: bool, mut n: u32) {
        while n >= 2560 {
            self.put(EXT_MAKEUP[12]);
            n -= 2560;
        }
        if n >= 64 {
            self.put(makeup(black, n & !63));
            n &= 63;
        }
        let term = if black { &super::codes::BLACK_TERM } else { &super::codes::WHITE_TERM };
        self.put(term[n as usize]);
    }

    /// Pads the last byte with zero bits and returns the bytes.
    fn finish(mut self) -> Vec<u8> {
        while self.bits >= 8 {
            self.bits -= 8;
            self.out.push((self.acc >> self.bits) as u8);
        }
        if self.bits > 0 {
            self.out.push((self.acc << (8 - self.bits)) as u8);
        }
        self.out
    }
}

/// Collects the positions where a packed row (1 = black) changes colour, starting from white.
pub(crate) fn changes(row: &[u8], width: u32, out: &mut Vec<u32>) {
    out.clear();
    let bytes = (width as usize).div_ceil(8).min(row.len());
    let mut black = false;
    let mut base = 0u32;
    for chunk in row[..bytes].chunks(8) {
        let word = match <[u8; 8]>::try_from(chunk) {
            Ok(b) => u64::from_be_bytes(b),
            Err(_) => {
                let mut b = [0u8; 8];
                b[..chunk.len()].copy_from_slice(chunk);
                u64::from_be_bytes(b)
            }
        };
        let mut from = 0u32;
        while from < 64 {
            let differ = if black { !word } else { word } & (u64::MAX >> from);
            if differ == 0 {
                break;
            }
            let k = differ.leading_zeros();
            let x = base + k;
            if x >= width {
                return;
            }
            out.push(x);
            black = !black;
            from = k;
        }
        base += 64;
    }
}

/// Codes one row from its colour changes `cur` against the reference row's `refl`.
fn encode_row(w: &mut BitWriter, refl: &[u32], cur: &[u32], width: u32) {
    let changing = |i: usize| cur.get(i).copied().unwrap_or(width);
    let reference = |i: usize| refl.get(i).copied().unwrap_or(width);
    let mut a0: i64 = -1;
    let mut black = false;
    let mut ci = 0usize;
    let mut bi = 0usize;
    while a0 < i64::from(width) {
        let a1 = changing(ci);
        while bi > 0 && i64::from(reference(bi - 1)) > a0 {
            bi -= 1;
        }
        while bi < refl.len() && i64::from(refl[bi]) <= a0 {
            bi += 1;
        }
        if (bi & 1 == 1) != black {
            bi += 1;
        }
        let b1 = reference(bi);
        let b2 = reference(bi + 1);
        if b2 < a1 {
            w.put(PASS);
            a0 = i64::from(b2);
            bi += 2;
            continue;
        }
        let delta = i64::from(a1) - i64::from(b1);
        if delta.abs() <= 3 {
            w.put(VERTICAL[(delta + 3) as usize]);
            a0 = i64::from(a1);
            black = !black;
            ci += 1;
            continue;
        }
        let a2 = changing(ci + 1);
        w.put(HORIZONTAL);
        w.run(black, a1 - a0.max(0) as u32);
        w.run(!black, a2 - a1);
        a0 = i64::from(a2);
        ci += 2;
    }
}

/// Encodes `rows` packed rows of `width` pixels (`stride` bytes each, 1 = black) as a T.6 block ending in EOFB.
/// Rows missing from `data` are coded white.
pub(crate) fn encode(width: u32, rows: u32, stride: usize, data: &[u8]) -> Vec<u8> {
    let mut w = BitWriter::with_capacity(16 * 1024);
    let mut refl: Vec<u32> = Vec::with_capacity(256);
    let mut cur: Vec<u32> = Vec::with_capacity(256);
    for y in 0..rows as usize {
        let row = data.get(y * stride..(y + 1) * stride).unwrap_or(&[]);
        changes(row, width, &mut cur);
        encode_row(&mut w, &refl, &cur, width);
        std::mem::swap(&mut refl, &mut cur);
    }
    w.put(EOL);
    w.put(EOL);
    w.finish()
}

/// Encodes a page as Group 4 (T.6) data, as stored in a fax TIFF strip.
pub fn encode_g4(page: &Page) -> Vec<u8> {
    encode(page.width, page.height, page.stride(), &page.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_follow_the_pixels() {
        let mut out = Vec::new();
        changes(&[0xFF, 0x00, 0x0F], 24, &mut out);
        assert_eq!(out, vec![0, 8, 20]);
        changes(&[0x00; 216], 1728, &mut out);
        assert!(out.is_empty());
        // Bits past the width do not count.
        changes(&[0x00, 0x01], 12, &mut out);
        assert!(out.is_empty());
        changes(&[0x80, 0x00, 0, 0, 0, 0, 0, 0, 0x00, 0x01], 80, &mut out);
        assert_eq!(out, vec![0, 1, 79]);
    }

    #[test]
    fn a_white_page_is_all_v0_then_eofb() {
        let page = Page::blank(1728, 8, crate::page::Resolution::Fine);
        // 8 rows of V0 ("1"), then two EOLs: 11111111 000000000001 000000000001.
        assert_eq!(encode_g4(&page), vec![0xFF, 0x00, 0x10, 0x01]);
    }
}
