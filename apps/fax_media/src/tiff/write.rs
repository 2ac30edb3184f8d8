//! Writes multi-page fax TIFFs: little-endian, one G4 strip per page, the tag set spandsp and libtiff accept.
//!
//! Kazoo's `fax.convert_*_command`s produce these files with Ghostscript's `tiffg4` device or ImageMagick's
//! `-compress group4`. Each page gets NewSubfileType 2 (a page of a multi-page document), its width and length,
//! 1 bit per sample, Compression 4, PhotometricInterpretation 0 (white is zero), FillOrder 1, one strip,
//! Orientation 1, X and Y resolution as rationals in inches (204 by 196 or 98), T6Options 0 and PageNumber
//! (page, total). Directories start on word boundaries, as TIFF 6.0 requires.

use super::g4;
use super::read::{compression, photometric, tag};
use crate::page::{Page, X_DPI};

/// A tag value: SHORT, LONG, a pair of SHORTs, or a RATIONAL written after the directory.
#[derive(Clone, Copy)]
enum Value {
    Short(u16),
    Long(u32),
    Shorts(u16, u16),
    Rational(u32, u32),
}

/// Orientation: row 0 at the top, column 0 on the left.
const ORIENTATION: u16 = 274;
/// NewSubfileType bit 1: one page of a multi-page image.
const SUBFILE_PAGE: u32 = 2;

/// Writes `pages` as a multi-page G4 fax TIFF. Every page keeps its width; its resolution gives the Y resolution.
///
/// An empty slice gives an 8-byte header without directories, which every reader rejects: callers check that a
/// document has pages first.
pub fn write_fax_tiff(pages: &[Page]) -> Vec<u8> {
    let strips: Vec<Vec<u8>> = pages.iter().map(g4::encode_g4).collect();
    let total = pages.len();
    let size = 8 + strips.iter().map(|s| s.len() + 2 + 2 + 14 * 12 + 4 + 16).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"II*\0");
    // Offset of the first directory, patched below (0 stays when there are no pages).
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut link = 4usize;
    for (i, (page, strip)) in pages.iter().zip(&strips).enumerate() {
        let strip_offset = out.len() as u32;
        out.extend_from_slice(strip);
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let ifd = out.len();
        out[link..link + 4].copy_from_slice(&(ifd as u32).to_le_bytes());
        let entries = [
            (tag::NEW_SUBFILE_TYPE, Value::Long(SUBFILE_PAGE)),
            (tag::IMAGE_WIDTH, Value::Long(page.width)),
            (tag::IMAGE_LENGTH, Value::Long(page.height)),
            (tag::BITS_PER_SAMPLE, Value::Short(1)),
            (tag::COMPRESSION, Value::Short(compression::CCITT_T6)),
            (tag::PHOTOMETRIC, Value::Short(photometric::WHITE_IS_ZERO)),
            (tag::FILL_ORDER, Value::Short(1)),
            (tag::STRIP_OFFSETS, Value::Long(strip_offset)),
            (ORIENTATION, Value::Short(1)),
            (tag::SAMPLES_PER_PIXEL, Value::Short(1)),
            (tag::ROWS_PER_STRIP, Value::Long(page.height)),
            (tag::STRIP_BYTE_COUNTS, Value::Long(strip.len() as u32)),
            (tag::X_RESOLUTION, Value::Rational(X_DPI, 1)),
            (tag::Y_RESOLUTION, Value::Rational(page.resolution.y_dpi(), 1)),
            (tag::T6_OPTIONS, Value::Long(0)),
            (tag::RESOLUTION_UNIT, Value::Short(2)),
            (tag::PAGE_NUMBER, Value::Shorts(i as u16, total.min(usize::from(u16::MAX)) as u16)),
        ];
        let rationals_at = ifd + 2 + entries.len() * 12 + 4;
        let mut rationals = Vec::with_capacity(16);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, value) in entries {
            let (typ, field) = match value {
                Value::Short(v) => (3u16, u32::from(v)),
                Value::Long(v) => (4, v),
                Value::Shorts(a, b) => (3, u32::from(a) | u32::from(b) << 16),
                Value::Rational(n, d) => {
                    let at = (rationals_at + rationals.len()) as u32;
                    rationals.extend_from_slice(&n.to_le_bytes());
                    rationals.extend_from_slice(&d.to_le_bytes());
                    (5, at)
                }
            };
            let count: u32 = if matches!(value, Value::Shorts(..)) { 2 } else { 1 };
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&typ.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&field.to_le_bytes());
        }
        link = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&rationals);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::Resolution;

    #[test]
    fn directories_are_word_aligned_and_linked() {
        let mut a = Page::blank(1728, 3, Resolution::Fine);
        a.set_black(5, 1);
        let b = Page::blank(1728, 2, Resolution::Standard);
        let tiff = write_fax_tiff(&[a, b]);
        let u32_at = |p: usize| u32::from_le_bytes(tiff[p..p + 4].try_into().unwrap()) as usize;
        let first = u32_at(4);
        assert_eq!(first % 2, 0);
        let n = u16::from_le_bytes([tiff[first], tiff[first + 1]]) as usize;
        assert_eq!(n, 17);
        let second = u32_at(first + 2 + 12 * n);
        assert!(second > first && second % 2 == 0);
        assert_eq!(u32_at(second + 2 + 12 * n), 0);
    }
}
