//! Decodes CCITT fax data: TIFF's Modified Huffman "RLE", T.4 (Group 3, 1D and 2D) and T.6 (Group 4).
//!
//! Kazoo relies on libtiff (through `tiffinfo`, ImageMagick and `tiff2pdf`) to read fax images; the `tiff` crate
//! reads no Group 3 at all, so this decoder covers every CCITT coding a fax TIFF may carry, including the T.4 2D
//! files with LSB-first fill order that a fax receiver writes. Decoding never panics and its work is bounded by the
//! input: every step consumes bits or ends the row.

use std::sync::OnceLock;

use super::codes::{BLACK_MAKEUP, BLACK_TERM, EXT_MAKEUP, WHITE_MAKEUP, WHITE_TERM};

/// How the rows of a CCITT strip are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// TIFF compression 2 (and 32771): one-dimensional rows without EOL codes, each starting on an `align`-bit
    /// boundary (8, or 16 for 32771).
    ModifiedHuffman { align: u32 },
    /// TIFF compression 3: T.4 rows introduced by EOL codes; `two_d` when T4Options bit 0 allows 2D rows.
    T4 { two_d: bool },
    /// TIFF compression 4: T.6, every row two-dimensional, the block ending with EOFB.
    T6,
}

/// Why a strip could not be decoded; `row` counts from the first row of the strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CcittError {
    /// An invalid code.
    Invalid { row: u32 },
    /// The data ended in the middle of the image.
    Truncated { row: u32 },
    /// A T.4 uncompressed-mode extension, which fax senders do not use.
    Uncompressed { row: u32 },
}

/// Reads bits most significant first; past the end of the data it reads zeros, which no CCITT code consists of.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// The next `n` bits (1 ..= 24), right-aligned.
    #[inline]
    fn peek(&self, n: u32) -> u32 {
        let byte = self.pos >> 3;
        let word = match self.data.get(byte..byte + 4) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => {
                let mut w = 0u32;
                for i in 0..4 {
                    w = (w << 8) | u32::from(self.data.get(byte + i).copied().unwrap_or(0));
                }
                w
            }
        };
        (word << (self.pos & 7)) >> (32 - n)
    }

    #[inline]
    fn consume(&mut self, n: u32) {
        self.pos += n as usize;
    }

    fn bits(&self) -> usize {
        self.data.len() * 8
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bits()
    }

    fn align(&mut self, to: u32) {
        let to = to as usize;
        self.pos = self.pos.div_ceil(to) * to;
    }

    /// Number of zero bits from `pos` on (stopping at the end of the data) and whether a one bit follows them.
    fn zeros_at(&self, mut pos: usize) -> (usize, bool) {
        let start = pos;
        let end = self.bits();
        while pos < end {
            if self.data[pos >> 3] & (0x80 >> (pos & 7)) != 0 {
                return (pos - start, true);
            }
            pos += 1;
        }
        (pos - start, false)
    }

    /// Consumes an EOL code (with any fill bits before it) if one comes next.
    fn take_eol(&mut self) -> bool {
        let (zeros, one) = self.zeros_at(self.pos);
        if zeros >= 11 {
            self.pos += zeros + usize::from(one);
            one
        } else {
            false
        }
    }

    /// Whether an EOL (after any fill bits) starts `skip` bits from here, or only zeros are left.
    fn eol_after(&self, skip: usize) -> bool {
        self.zeros_at(self.pos + skip).0 >= 11
    }
}

/// Run-length lookup tables indexed by the next 13 bits: `run | length << 16`, 0 for an invalid code.
fn run_tables() -> &'static [Vec<u32>; 2] {
    static TABLES: OnceLock<[Vec<u32>; 2]> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut tables = [vec![0u32; 1 << 13], vec![0u32; 1 << 13]];
        for (colour, table) in tables.iter_mut().enumerate() {
            let (term, makeup) = if colour == 1 { (&BLACK_TERM, &BLACK_MAKEUP) } else { (&WHITE_TERM, &WHITE_MAKEUP) };
            let mut add = |(code, len): (u16, u8), run: u32| {
                let shift = 13 - u32::from(len);
                let start = usize::from(code) << shift;
                table[start..start + (1 << shift)].fill(run | u32::from(len) << 16);
            };
            for (run, &code) in term.iter().enumerate() {
                add(code, run as u32);
            }
            for (i, &code) in makeup.iter().enumerate() {
                add(code, 64 * (i as u32 + 1));
            }
            for (i, &code) in EXT_MAKEUP.iter().enumerate() {
                add(code, 1792 + 64 * i as u32);
            }
        }
        tables
    })
}

/// Reads one run (make-up codes and a terminating code) of the given colour.
fn read_run(r: &mut BitReader, black: bool, limit: u32) -> Result<u32, ()> {
    let table = &run_tables()[usize::from(black)];
    let mut total = 0u32;
    loop {
        let entry = table[r.peek(13) as usize];
        if entry == 0 {
            return Err(());
        }
        r.consume(entry >> 16);
        let run = entry & 0xFFFF;
        total += run;
        if run < 64 {
            return Ok(total);
        }
        if total > limit {
            return Err(());
        }
    }
}

/// Adds a colour change, keeping the list strictly increasing: a change at the position of the previous one cancels
/// it (a zero-length run).
#[inline]
fn push_change(changes: &mut Vec<u32>, x: u32) {
    if changes.last() == Some(&x) {
        changes.pop();
    } else {
        changes.push(x);
    }
}

/// Decodes a one-dimensional (Modified Huffman) row; in Group 3 an early EOL ends the row.
fn row_1d(r: &mut BitReader, cur: &mut Vec<u32>, width: u32, g3: bool) -> Result<(), ()> {
    cur.clear();
    let mut a0 = 0u32;
    let mut black = false;
    while a0 < width {
        if g3 && r.peek(11) == 0 {
            if black {
                push_change(cur, a0);
            }
            break;
        }
        let run = read_run(r, black, width + 2560)?;
        a0 = a0.saturating_add(run).min(width);
        if a0 < width {
            push_change(cur, a0);
        }
        black = !black;
    }
    Ok(())
}

/// Coding modes of two-dimensional rows.
enum Mode {
    Pass,
    Horizontal,
    Vertical(i64),
    Extension,
    Zeros,
}

/// The mode starting at the next 7 bits, with its length.
fn mode(p: u32) -> (Mode, u32) {
    match p {
        0b1000000.. => (Mode::Vertical(0), 1),
        0b0110000.. => (Mode::Vertical(1), 3),
        0b0100000.. => (Mode::Vertical(-1), 3),
        0b0010000.. => (Mode::Horizontal, 3),
        0b0001000.. => (Mode::Pass, 4),
        0b0000110.. => (Mode::Vertical(2), 6),
        0b0000100.. => (Mode::Vertical(-2), 6),
        0b0000011 => (Mode::Vertical(3), 7),
        0b0000010 => (Mode::Vertical(-3), 7),
        0b0000001 => (Mode::Extension, 7),
        _ => (Mode::Zeros, 0),
    }
}

/// How a two-dimensional row ended.
#[derive(PartialEq, Eq)]
enum RowEnd {
    Row,
    EndOfBlock,
}

/// Decodes a two-dimensional row against the reference row `refl` (its colour changes).
fn row_2d(r: &mut BitReader, refl: &[u32], cur: &mut Vec<u32>, width: u32, g3: bool) -> Result<RowEnd, Option<()>> {
    cur.clear();
    let reference = |i: usize| refl.get(i).copied().unwrap_or(width);
    let w = i64::from(width);
    let mut a0: i64 = -1;
    let mut black = false;
    let mut i = 0usize;
    while a0 < w {
        // b1: the first change on the reference row right of a0 and of the colour opposite a0's; b2 the next one.
        while i > 0 && i64::from(reference(i - 1)) > a0 {
            i -= 1;
        }
        while i < refl.len() && i64::from(refl[i]) <= a0 {
            i += 1;
        }
        if (i & 1 == 1) != black {
            i += 1;
        }
        let b1 = i64::from(reference(i));
        let b2 = i64::from(reference(i + 1));
        let (m, len) = mode(r.peek(7));
        r.consume(len);
        match m {
            Mode::Pass => {
                a0 = b2;
                i += 2;
            }
            Mode::Horizontal => {
                let start = a0.max(0) as u32;
                let run1 = read_run(r, black, width + 2560).map_err(|_| None)?;
                let run2 = read_run(r, !black, width + 2560).map_err(|_| None)?;
                let a1 = start.saturating_add(run1).min(width);
                let a2 = a1.saturating_add(run2).min(width);
                if a1 < width {
                    push_change(cur, a1);
                }
                if a2 < width {
                    push_change(cur, a2);
                }
                a0 = i64::from(a2);
            }
            Mode::Vertical(delta) => {
                let a1 = b1 + delta;
                if a1 < 0 || a1 > w || a1 < a0 {
                    return Err(None);
                }
                if a1 < w {
                    push_change(cur, a1 as u32);
                }
                black = !black;
                a0 = a1;
            }
            Mode::Extension => return Err(Some(())),
            Mode::Zeros => {
                if r.peek(12) != 1 && !(g3 && r.eol_after(0)) {
                    return Err(None);
                }
                if g3 {
                    // An EOL before the row is complete: the rest of the row is white.
                    if black && a0 >= 0 {
                        push_change(cur, a0 as u32);
                    }
                    return Ok(RowEnd::Row);
                }
                if a0 < 0 && cur.is_empty() {
                    r.consume(12);
                    if r.peek(12) == 1 {
                        r.consume(12);
                    }
                    return Ok(RowEnd::EndOfBlock);
                }
                return Err(None);
            }
        }
    }
    Ok(RowEnd::Row)
}

/// Paints the black runs described by `changes` into a zeroed packed row (1 = black).
fn fill_row(changes: &[u32], width: u32, row: &mut [u8]) {
    let mut k = 0;
    while k < changes.len() {
        let start = changes[k];
        let end = changes.get(k + 1).copied().unwrap_or(width);
        set_run(row, start as usize, end as usize);
        k += 2;
    }
}

/// Sets bits `start..end` of a packed row.
fn set_run(row: &mut [u8], start: usize, end: usize) {
    if start >= end || end > row.len() * 8 {
        return;
    }
    let (first, last) = (start / 8, (end - 1) / 8);
    let first_mask = 0xFFu8 >> (start % 8);
    let last_mask = 0xFFu8 << (7 - (end - 1) % 8);
    if first == last {
        row[first] |= first_mask & last_mask;
    } else {
        row[first] |= first_mask;
        row[first + 1..last].fill(0xFF);
        row[last] |= last_mask;
    }
}

/// Decodes `rows` rows of `width` pixels into `out` (packed rows of `width.div_ceil(8)` bytes, 1 = a pixel coded
/// black, zeroed by the caller). Rows after an early end of page (RTC, EOFB) stay white.
///
/// Returns the T.4 "K" the data needs: one more than the longest run of two-dimensional rows (1 for other codings).
pub(crate) fn decode(data: &[u8], width: u32, rows: u32, coding: Coding, out: &mut [u8]) -> Result<u32, CcittError> {
    let stride = width.div_ceil(8) as usize;
    let mut r = BitReader::new(data);
    let (mut k, mut run_2d) = (1u32, 0u32);
    let mut refl: Vec<u32> = Vec::with_capacity(256);
    let mut cur: Vec<u32> = Vec::with_capacity(256);
    for row in 0..rows {
        let failed = |r: &BitReader| {
            if r.pos + 13 >= r.bits() { CcittError::Truncated { row } } else { CcittError::Invalid { row } }
        };
        match coding {
            Coding::ModifiedHuffman { align } => {
                r.align(align);
                if r.at_end() {
                    return Err(CcittError::Truncated { row });
                }
                row_1d(&mut r, &mut cur, width, false).map_err(|_| failed(&r))?;
            }
            Coding::T4 { two_d } => {
                let eol = r.take_eol();
                if eol && r.eol_after(usize::from(two_d)) {
                    // RTC: the page ends here.
                    break;
                }
                if r.at_end() {
                    return Err(CcittError::Truncated { row });
                }
                let one_d = if two_d {
                    let tag = r.peek(1);
                    r.consume(1);
                    tag == 1
                } else {
                    true
                };
                if one_d {
                    run_2d = 0;
                    row_1d(&mut r, &mut cur, width, true).map_err(|_| failed(&r))?;
                } else {
                    run_2d += 1;
                    k = k.max(run_2d + 1);
                    match row_2d(&mut r, &refl, &mut cur, width, true) {
                        Ok(_) => {}
                        Err(Some(())) => return Err(CcittError::Uncompressed { row }),
                        Err(None) => return Err(failed(&r)),
                    }
                }
            }
            Coding::T6 => match row_2d(&mut r, &refl, &mut cur, width, false) {
                Ok(RowEnd::EndOfBlock) => break,
                Ok(RowEnd::Row) => {}
                Err(Some(())) => return Err(CcittError::Uncompressed { row }),
                Err(None) => return Err(failed(&r)),
            },
        }
        if r.pos > r.bits() {
            return Err(CcittError::Truncated { row });
        }
        let start = row as usize * stride;
        if let Some(dst) = out.get_mut(start..start + stride) {
            fill_row(&cur, width, dst);
        }
        std::mem::swap(&mut refl, &mut cur);
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_paint_the_right_bits() {
        let mut row = [0u8; 3];
        fill_row(&[3, 5, 9, 10, 20], 24, &mut row);
        assert_eq!(row, [0b0001_1000, 0b0100_0000, 0b0000_1111]);
    }

    #[test]
    fn lookup_tables_cover_every_code_once() {
        // Every code maps to its own run length, so no two codes of one colour share a prefix.
        let tables = run_tables();
        for (colour, term, makeup) in [(0, &WHITE_TERM, &WHITE_MAKEUP), (1, &BLACK_TERM, &BLACK_MAKEUP)] {
            let all = term
                .iter()
                .enumerate()
                .map(|(i, &c)| (c, i as u32))
                .chain(makeup.iter().enumerate().map(|(i, &c)| (c, 64 * (i as u32 + 1))))
                .chain(EXT_MAKEUP.iter().enumerate().map(|(i, &c)| (c, 1792 + 64 * i as u32)));
            for ((code, len), run) in all {
                let entry = tables[colour][(usize::from(code)) << (13 - len)];
                assert_eq!((entry & 0xFFFF, entry >> 16), (run, u32::from(len)), "colour {colour} run {run}");
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678u32;
        let mut out = vec![0u8; 216 * 64];
        for _ in 0..200 {
            let data: Vec<u8> = (0..300)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            for coding in [Coding::T6, Coding::T4 { two_d: true }, Coding::T4 { two_d: false }] {
                let _ = decode(&data, 1728, 64, coding, &mut out);
            }
            let _ = decode(&data, 1728, 64, Coding::ModifiedHuffman { align: 8 }, &mut out);
        }
    }
}
