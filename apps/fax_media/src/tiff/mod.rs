//! Reads any TIFF into fax pages, writes multi-page G4 fax TIFFs and turns fax TIFFs into PDF.
//!
//! Ports the TIFF half of Kazoo's `kz_fax_converter`, which runs `tiffinfo` to inspect a TIFF, ImageMagick's
//! `convert` to resample one that is not in fax geometry, and `tiff2pdf` to make the PDF copy. A TIFF that is
//! already a fax (1728 pixels wide, 204x196 or 204x98 dpi, 1 bit, G3 or G4) is used byte for byte, like Kazoo's
//! "G3 or G4 with pages: no-op" rule; anything else is decoded, normalised to fax pages and written as G4.

mod ccitt;
mod codes;
mod g4;
mod ifd;
mod normalize;
mod pdf;
mod read;
mod write;

pub use g4::encode_g4;
pub use pdf::{to_pdf, to_pdf_with};
pub use write::write_fax_tiff;

use crate::error::MediaError;
use crate::page::{B4_LENGTH_MM, FAX_WIDTH, Page, Resolution};
use read::{Layout, compression, photometric};

/// Bounds on what a TIFF may cost to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most pages a document may have (before and after long pages are cut to A4 length).
    pub max_pages: usize,
    /// Most pixels a single page may have as stored in the file.
    pub max_pixels: u64,
}

impl Limits {
    /// 500 pages: about four hours on the line at 30 seconds a page.
    pub const DEFAULT_MAX_PAGES: usize = 500;
    /// 80 megapixels: an A3 page scanned at 600 dpi is 70.
    pub const DEFAULT_MAX_PIXELS: u64 = 80_000_000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pages: Self::DEFAULT_MAX_PAGES, max_pixels: Self::DEFAULT_MAX_PIXELS }
    }
}

/// A fax TIFF ready to send, with its page count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaxTiff {
    pub bytes: Vec<u8>,
    pub pages: usize,
    /// Whether `bytes` are the input itself, reused because it already was a valid fax TIFF.
    pub reused: bool,
}

/// Whether the bytes start like a TIFF file (either byte order), for recognising a document without its name.
pub fn is_tiff(bytes: &[u8]) -> bool {
    ifd::looks_like_tiff(bytes)
}

/// Decodes every page of any TIFF into fax pages (1728 wide, fine or standard, 1 bit).
pub fn read_pages(bytes: &[u8]) -> Result<Vec<Page>, MediaError> {
    read_pages_with(bytes, &Limits::default())
}

/// [`read_pages`] with explicit limits.
pub fn read_pages_with(bytes: &[u8], limits: &Limits) -> Result<Vec<Page>, MediaError> {
    read_all(bytes, limits, None)
}

/// Decodes every page of any TIFF into fax pages at `resolution`, for sending: grey and colour pages are scaled
/// and screened at that resolution directly, black-and-white pages are converted to it after scaling.
pub fn read_pages_at(bytes: &[u8], limits: &Limits, resolution: Resolution) -> Result<Vec<Page>, MediaError> {
    Ok(read_all(bytes, limits, Some(resolution))?.into_iter().map(|p| p.at_resolution(resolution)).collect())
}

/// What is left of the page limit after `used` pages.
fn budget(limits: &Limits, used: usize) -> normalize::Budget {
    normalize::Budget { left: limits.max_pages.saturating_sub(used), max: limits.max_pages }
}

fn read_all(bytes: &[u8], limits: &Limits, target: Option<Resolution>) -> Result<Vec<Page>, MediaError> {
    let (tiff, indexes) = read::pages(bytes, limits)?;
    let mut pages = Vec::with_capacity(indexes.len());
    for (n, &i) in indexes.iter().enumerate() {
        let desc = read::describe(&tiff, &tiff.ifds[i], n + 1, limits)?;
        let raster = read::decode(&tiff, &desc)?;
        pages.extend(normalize::to_fax_pages(raster, target, budget(limits, pages.len()))?);
    }
    Ok(pages)
}

/// The number of pages (not counting thumbnails) of a TIFF.
pub fn page_count(bytes: &[u8]) -> Result<usize, MediaError> {
    Ok(read::pages(bytes, &Limits::default())?.1.len())
}

/// Whether a TIFF can go to the fax line as it is: every page 1728 pixels wide, 204x196 or 204x98 dpi, 1 bit,
/// white-is-zero, G3 or G4 in strips, no longer than B4 (the longest page kept whole by
/// [`crate::page::fit_length`]). This checks the tags only; [`to_fax_tiff`] also decodes every page before reusing
/// the bytes.
pub fn is_fax_ready(bytes: &[u8]) -> bool {
    let limits = Limits::default();
    let Ok((tiff, indexes)) = read::pages(bytes, &limits) else {
        return false;
    };
    indexes.iter().enumerate().all(|(n, &i)| {
        read::describe(&tiff, &tiff.ifds[i], n + 1, &limits).is_ok_and(|desc| fax_geometry(&desc).is_some())
    })
}

/// The resolution of a page already in fax geometry, or `None`.
fn fax_geometry(desc: &read::PageDesc) -> Option<Resolution> {
    let (x, y) = desc.dpi?;
    let resolution = if (y - 196.0).abs() <= 4.0 {
        Resolution::Fine
    } else if (y - 98.0).abs() <= 2.0 {
        Resolution::Standard
    } else {
        return None;
    };
    let ok = desc.width == FAX_WIDTH
        && (x - 204.0).abs() <= 2.0
        && desc.bits == 1
        && desc.samples == 1
        && desc.photometric == photometric::WHITE_IS_ZERO
        && matches!(desc.compression, compression::CCITT_T4 | compression::CCITT_T6)
        && matches!(desc.layout, Layout::Strips { .. })
        && desc.height <= resolution.rows_for_mm(B4_LENGTH_MM);
    ok.then_some(resolution)
}

/// Makes a fax TIFF from any TIFF: a file already in fax geometry whose pages all decode is returned unchanged;
/// any other is read, normalised and written as G4.
pub fn to_fax_tiff(bytes: &[u8]) -> Result<FaxTiff, MediaError> {
    to_fax_tiff_with(bytes, &Limits::default())
}

/// [`to_fax_tiff`] with explicit limits.
pub fn to_fax_tiff_with(bytes: &[u8], limits: &Limits) -> Result<FaxTiff, MediaError> {
    let (tiff, indexes) = read::pages(bytes, limits)?;
    let mut descs = Vec::with_capacity(indexes.len());
    for (n, &i) in indexes.iter().enumerate() {
        descs.push(read::describe(&tiff, &tiff.ifds[i], n + 1, limits)?);
    }
    if descs.iter().all(|d| fax_geometry(d).is_some()) {
        for desc in &descs {
            read::decode(&tiff, desc)?;
        }
        tracing::debug!(pages = descs.len(), bytes = bytes.len(), "tiff already in fax geometry, reused");
        return Ok(FaxTiff { bytes: bytes.to_vec(), pages: descs.len(), reused: true });
    }
    let mut pages = Vec::with_capacity(descs.len());
    for desc in &descs {
        pages.extend(normalize::to_fax_pages(read::decode(&tiff, desc)?, None, budget(limits, pages.len()))?);
    }
    let bytes = write_fax_tiff(&pages);
    tracing::debug!(
        input_pages = descs.len(),
        pages = pages.len(),
        bytes = bytes.len(),
        "tiff normalised to g4 fax tiff"
    );
    Ok(FaxTiff { bytes, pages: pages.len(), reused: false })
}

#[cfg(test)]
mod tests {
    use super::codes::{BLACK_TERM, EXT_MAKEUP, WHITE_TERM, makeup};
    use super::*;

    /// Codes a page as TIFF compression 2 (Modified Huffman rows, byte-aligned, no EOL), which no tool here writes.
    fn modified_huffman(page: &Page) -> Vec<u8> {
        struct Bits {
            out: Vec<u8>,
            acc: u32,
            bits: u32,
        }
        impl Bits {
            fn put(&mut self, (code, len): (u16, u8)) {
                self.acc = (self.acc << len) | u32::from(code);
                self.bits += u32::from(len);
                while self.bits >= 8 {
                    self.bits -= 8;
                    self.out.push((self.acc >> self.bits) as u8);
                }
            }
        }
        let mut w = Bits { out: Vec::new(), acc: 0, bits: 0 };
        let mut changes = Vec::new();
        for y in 0..page.height {
            g4::changes(page.row(y), page.width, &mut changes);
            let (mut a0, mut black) = (0u32, false);
            for &a1 in changes.iter().chain(std::iter::once(&page.width)) {
                let mut n = a1 - a0;
                while n >= 2560 {
                    w.put(EXT_MAKEUP[12]);
                    n -= 2560;
                }
                if n >= 64 {
                    w.put(makeup(black, n & !63));
                    n &= 63;
                }
                w.put(if black { BLACK_TERM[n as usize] } else { WHITE_TERM[n as usize] });
                (a0, black) = (a1, !black);
            }
            if w.bits > 0 {
                w.put((0, (8 - w.bits) as u8));
            }
        }
        w.out
    }

    /// A one-page, one-strip little-endian TIFF around `data`.
    fn single_strip_tiff(width: u32, height: u32, compression: u16, data: &[u8]) -> Vec<u8> {
        let mut t = b"II*\0".to_vec();
        t.extend_from_slice(&((8 + data.len() as u32 + 1) & !1).to_le_bytes());
        t.extend_from_slice(data);
        if t.len() % 2 == 1 {
            t.push(0);
        }
        let ifd = t.len() as u32;
        let entries: [(u16, u16, u32); 11] = [
            (256, 4, width),
            (257, 4, height),
            (258, 3, 1),
            (259, 3, u32::from(compression)),
            (262, 3, 0),
            (273, 4, 8),
            (277, 3, 1),
            (278, 4, height),
            (279, 4, data.len() as u32),
            (282, 5, ifd + 2 + 11 * 12 + 4),
            (283, 5, ifd + 2 + 11 * 12 + 12),
        ];
        t.extend_from_slice(&11u16.to_le_bytes());
        for (tag, typ, value) in entries {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&typ.to_le_bytes());
            t.extend_from_slice(&1u32.to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        for v in [204u32, 1, 196, 1] {
            t.extend_from_slice(&v.to_le_bytes());
        }
        t
    }

    #[test]
    fn ccitt_rle_pages_read_and_embed_in_pdf() {
        let chart = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/itu/itu4.tif"));
        let page = read_pages(&chart.expect("the ITU chart fixture")).expect("the chart reads").remove(0);
        let tiff = single_strip_tiff(page.width, page.height, compression::CCITT_RLE, &modified_huffman(&page));
        assert!(!is_fax_ready(&tiff), "compression 2 is not sent as it is");
        assert!(read_pages(&tiff).expect("the RLE file reads")[0] == page);
        let pdf = to_pdf(&tiff).expect("a PDF");
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/K 0") && text.contains("/EncodedByteAlign true"), "decode parameters");
        assert!(!text.contains("/EndOfLine true"));

        // Poppler renders it (at 4x, each pixel the majority of its 4x4 block) to the chart's pixels.
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("rle.pdf"), &pdf).expect("writing the PDF");
        let status = std::process::Command::new("pdftoppm")
            .args(["-mono", "-scale-to-x", "6912", "-scale-to-y", "9504"])
            .arg(dir.path().join("rle.pdf"))
            .arg(dir.path().join("rle"))
            .status()
            .expect("pdftoppm is needed: run `bash tests/services/deps.sh test` (Debian package poppler-utils)");
        assert!(status.success());
        let pbm = std::fs::read(dir.path().join("rle-1.pbm")).expect("the rendered page");
        let header = b"P4\n6912 9504\n";
        assert!(pbm.starts_with(header));
        let big = &pbm[header.len()..];
        let mut differ = 0;
        for y in 0..2376 {
            for x in 0..1728 {
                let black = (0..16)
                    .filter(|i| {
                        let (bx, by) = (4 * x + i % 4, 4 * y + i / 4);
                        big[by * 864 + bx / 8] & (0x80 >> (bx % 8)) != 0
                    })
                    .count()
                    >= 8;
                if black != page.is_black(x as u32, y as u32) {
                    differ += 1;
                }
            }
        }
        assert!(differ * 1000 <= 1728 * 2376, "{differ} pixels differ");
    }
}
