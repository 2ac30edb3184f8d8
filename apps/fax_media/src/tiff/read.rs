//! Describes and decodes the pages of any TIFF into bitmaps: 1-bit pages stay packed bits, everything else becomes
//! 8-bit luminance.
//!
//! Kazoo hands TIFFs to ImageMagick (`convert_image_command` and friends) through libtiff. This reader covers what
//! users and fax machines send: both byte orders, multi-page files, strips and tiles; no compression, CCITT RLE,
//! Group 3 (1D and 2D), Group 4, LZW, Deflate and PackBits; white-is-zero, black-is-zero, RGB, palette and CMYK
//! pixels of 1 to 16 bits with optional alpha; fill order 2; and resolutions in inches, centimetres or none.
//! Anything else is refused with a reason.

use super::Limits;
use super::ccitt::{self, CcittError, Coding};
use super::ifd::{Ifd, Tiff};
use crate::error::MediaError;
use crate::render::scale::{luma, over_paper};

/// TIFF tags this reader uses.
pub(crate) mod tag {
    pub const NEW_SUBFILE_TYPE: u16 = 254;
    pub const SUBFILE_TYPE: u16 = 255;
    pub const IMAGE_WIDTH: u16 = 256;
    pub const IMAGE_LENGTH: u16 = 257;
    pub const BITS_PER_SAMPLE: u16 = 258;
    pub const COMPRESSION: u16 = 259;
    pub const PHOTOMETRIC: u16 = 262;
    pub const FILL_ORDER: u16 = 266;
    pub const STRIP_OFFSETS: u16 = 273;
    pub const SAMPLES_PER_PIXEL: u16 = 277;
    pub const ROWS_PER_STRIP: u16 = 278;
    pub const STRIP_BYTE_COUNTS: u16 = 279;
    pub const X_RESOLUTION: u16 = 282;
    pub const Y_RESOLUTION: u16 = 283;
    pub const PLANAR_CONFIG: u16 = 284;
    pub const T4_OPTIONS: u16 = 292;
    pub const T6_OPTIONS: u16 = 293;
    pub const RESOLUTION_UNIT: u16 = 296;
    pub const PAGE_NUMBER: u16 = 297;
    pub const PREDICTOR: u16 = 317;
    pub const COLOR_MAP: u16 = 320;
    pub const TILE_WIDTH: u16 = 322;
    pub const TILE_LENGTH: u16 = 323;
    pub const TILE_OFFSETS: u16 = 324;
    pub const TILE_BYTE_COUNTS: u16 = 325;
    pub const INK_SET: u16 = 332;
    pub const EXTRA_SAMPLES: u16 = 338;
    pub const SAMPLE_FORMAT: u16 = 339;
}

/// TIFF compression schemes.
pub(crate) mod compression {
    pub const NONE: u16 = 1;
    pub const CCITT_RLE: u16 = 2;
    pub const CCITT_T4: u16 = 3;
    pub const CCITT_T6: u16 = 4;
    pub const LZW: u16 = 5;
    pub const OLD_JPEG: u16 = 6;
    pub const JPEG: u16 = 7;
    pub const DEFLATE: u16 = 8;
    pub const CCITT_RLEW: u16 = 32771;
    pub const PACKBITS: u16 = 32773;
    pub const DEFLATE_OLD: u16 = 32946;
}

/// Photometric interpretations.
pub(crate) mod photometric {
    pub const WHITE_IS_ZERO: u16 = 0;
    pub const BLACK_IS_ZERO: u16 = 1;
    pub const RGB: u16 = 2;
    pub const PALETTE: u16 = 3;
    pub const SEPARATED: u16 = 5;
}

/// How a page's pixels are cut into separately compressed pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Strips { rows_per_strip: u32 },
    Tiles { width: u32, height: u32 },
}

/// Everything needed to decode one page, checked against the file.
#[derive(Debug, Clone)]
pub(crate) struct PageDesc {
    /// 1-based page number, for messages.
    pub number: usize,
    pub width: u32,
    pub height: u32,
    pub bits: u16,
    pub samples: u16,
    /// The ExtraSamples values (0 unspecified, 1 associated alpha, 2 unassociated alpha).
    pub extra: Vec<u16>,
    pub photometric: u16,
    pub compression: u16,
    pub lsb_first: bool,
    pub predictor: u16,
    pub t4_options: u32,
    /// Horizontal and vertical resolution in dots per inch, when the file gives them in inches or centimetres.
    pub dpi: Option<(f64, f64)>,
    /// Vertical over horizontal resolution, when known (also for ResolutionUnit "none").
    pub aspect: Option<f64>,
    pub layout: Layout,
    /// (offset, length) of every strip or tile, all inside the file.
    pub chunks: Vec<(usize, usize)>,
    pub colormap: Option<Vec<u16>>,
    /// Whether a 16-bit sample's high byte comes first in the file.
    pub big_endian: bool,
}

/// A decoded page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pixels {
    /// Packed rows of `width.div_ceil(8)` bytes, most significant bit first, 1 = black.
    Bilevel(Vec<u8>),
    /// One byte per pixel, 0 = black, 255 = white.
    Grey(Vec<u8>),
}

/// A decoded page with its geometry.
#[derive(Debug, Clone)]
pub(crate) struct Raster {
    pub width: u32,
    pub height: u32,
    pub dpi: Option<(f64, f64)>,
    pub aspect: Option<f64>,
    pub pixels: Pixels,
}

/// The most bytes one strip or tile may decompress to (a whole 80-megapixel RGB page in one strip is 240 MB).
const MAX_PIECE_BYTES: u64 = 256 << 20;

fn compression_name(c: u16) -> String {
    match c {
        compression::OLD_JPEG | compression::JPEG => "JPEG-compressed TIFF images".into(),
        34712 => "JPEG 2000-compressed TIFF images".into(),
        34661 => "JBIG-compressed TIFF images".into(),
        34925 => "LZMA-compressed TIFF images".into(),
        50000 => "Zstandard-compressed TIFF images".into(),
        50001 => "WebP-compressed TIFF images".into(),
        32809 | 32908..=32911 | 34676 | 34677 => "this TIFF compression".into(),
        other => format!("TIFF compression scheme {other}"),
    }
}

/// Whether a directory holds a page rather than a thumbnail or a transparency mask.
pub(crate) fn is_page(tiff: &Tiff, ifd: &Ifd) -> Result<bool, MediaError> {
    if let Some(e) = ifd.get(tag::NEW_SUBFILE_TYPE)
        && tiff.int(e)? & 0b101 != 0
    {
        return Ok(false);
    }
    if let Some(e) = ifd.get(tag::SUBFILE_TYPE)
        && tiff.int(e)? == 2
    {
        return Ok(false);
    }
    Ok(true)
}

/// Parses a file and returns the directories that are pages, checking the page limit.
pub(crate) fn pages<'a>(data: &'a [u8], limits: &Limits) -> Result<(Tiff<'a>, Vec<usize>), MediaError> {
    // Thumbnails may sit between pages, so allow some more directories than pages.
    let tiff = Tiff::parse(data, limits.max_pages.saturating_mul(2).saturating_add(16)).map_err(|e| match e {
        MediaError::TooManyPages { .. } => MediaError::TooManyPages { max: limits.max_pages },
        other => other,
    })?;
    let mut pages = Vec::new();
    for (i, ifd) in tiff.ifds.iter().enumerate() {
        if is_page(&tiff, ifd)? {
            pages.push(i);
        }
    }
    if pages.is_empty() {
        return Err(MediaError::ZeroPages);
    }
    if pages.len() > limits.max_pages {
        return Err(MediaError::TooManyPages { max: limits.max_pages });
    }
    Ok((tiff, pages))
}

fn corrupt(number: usize, what: impl std::fmt::Display) -> MediaError {
    MediaError::corrupt(format!("page {number}: {what}"))
}

/// Reads and checks the tags of one page.
pub(crate) fn describe(tiff: &Tiff, ifd: &Ifd, number: usize, limits: &Limits) -> Result<PageDesc, MediaError> {
    let int = |t: u16| -> Result<Option<u64>, MediaError> { ifd.get(t).map(|e| tiff.int(e)).transpose() };
    let width = int(tag::IMAGE_WIDTH)?.ok_or_else(|| corrupt(number, "the ImageWidth tag is missing"))?;
    let height = int(tag::IMAGE_LENGTH)?.ok_or_else(|| corrupt(number, "the ImageLength tag is missing"))?;
    if width == 0 || height == 0 {
        return Err(corrupt(number, format!("the image has no pixels ({width}x{height})")));
    }
    let pixels = width.saturating_mul(height);
    if pixels > limits.max_pixels || width > u64::from(u32::MAX / 16) || height > u64::from(u32::MAX / 16) {
        return Err(MediaError::TooLarge { pixels, max: limits.max_pixels });
    }
    let (width, height) = (width as u32, height as u32);

    let samples = int(tag::SAMPLES_PER_PIXEL)?.unwrap_or(1);
    let bits_all = match ifd.get(tag::BITS_PER_SAMPLE) {
        Some(e) => tiff.ints(e)?,
        None => vec![1],
    };
    let bits = bits_all.first().copied().unwrap_or(1);
    if bits_all.iter().any(|&b| b != bits) {
        return Err(MediaError::unsupported("TIFF images whose colour channels have different bit depths"));
    }
    let compression = int(tag::COMPRESSION)?.unwrap_or(1) as u16;
    let photometric = match int(tag::PHOTOMETRIC)? {
        Some(p) => p as u16,
        None if samples >= 3 => photometric::RGB,
        None if bits == 1 => photometric::WHITE_IS_ZERO,
        None => photometric::BLACK_IS_ZERO,
    };
    if let Some(format) = int(tag::SAMPLE_FORMAT)?
        && format != 1
    {
        return Err(MediaError::unsupported("TIFF images with signed or floating-point samples"));
    }
    let extra = match ifd.get(tag::EXTRA_SAMPLES) {
        Some(e) => tiff.ints(e)?.into_iter().map(|v| v as u16).collect(),
        None => Vec::new(),
    };
    let colour_samples = match photometric {
        photometric::WHITE_IS_ZERO | photometric::BLACK_IS_ZERO | photometric::PALETTE => 1,
        photometric::RGB => 3,
        photometric::SEPARATED => {
            if int(tag::INK_SET)?.unwrap_or(1) != 1 {
                return Err(MediaError::unsupported("separated TIFF images with inks other than CMYK"));
            }
            4
        }
        6 => return Err(MediaError::unsupported("YCbCr TIFF images")),
        8..=10 => return Err(MediaError::unsupported("CIE L*a*b* TIFF images")),
        4 => return Err(MediaError::unsupported("TIFF transparency masks")),
        other => return Err(MediaError::unsupported(format!("TIFF photometric interpretation {other}"))),
    };
    if samples < colour_samples || samples > colour_samples + 4 {
        return Err(corrupt(number, format!("{samples} samples per pixel do not fit its colour model")));
    }
    let bits_ok = match photometric {
        photometric::PALETTE => matches!(bits, 1 | 2 | 4 | 8),
        _ => matches!(bits, 1 | 2 | 4 | 8 | 16),
    };
    if !bits_ok {
        return Err(MediaError::unsupported(format!("TIFF images with {bits}-bit samples")));
    }
    let bits = bits as u16;
    let samples = samples as u16;
    if int(tag::PLANAR_CONFIG)?.unwrap_or(1) == 2 && samples > 1 {
        return Err(MediaError::unsupported("TIFF images with separate colour planes (PlanarConfiguration 2)"));
    }

    match compression {
        compression::NONE
        | compression::LZW
        | compression::DEFLATE
        | compression::DEFLATE_OLD
        | compression::PACKBITS => {}
        compression::CCITT_RLE | compression::CCITT_T4 | compression::CCITT_T6 | compression::CCITT_RLEW => {
            if bits != 1 || samples != 1 {
                return Err(corrupt(number, "CCITT compression on an image that is not 1-bit"));
            }
        }
        other => return Err(MediaError::unsupported(compression_name(other))),
    }
    let t4_options = int(tag::T4_OPTIONS)?.unwrap_or(0) as u32;
    let predictor = int(tag::PREDICTOR)?.unwrap_or(1) as u16;
    if predictor != 1 && !(predictor == 2 && matches!(bits, 8 | 16)) {
        return Err(MediaError::unsupported(format!("TIFF predictor {predictor} on {bits}-bit samples")));
    }

    let unit = int(tag::RESOLUTION_UNIT)?.unwrap_or(2);
    let number_of = |t: u16| -> Result<Option<f64>, MediaError> {
        Ok(ifd.get(t).map(|e| tiff.number(e)).transpose()?.filter(|v| v.is_finite() && *v > 0.0))
    };
    let (xres, yres) = (number_of(tag::X_RESOLUTION)?, number_of(tag::Y_RESOLUTION)?);
    let aspect = match (xres, yres) {
        (Some(x), Some(y)) => Some(y / x),
        _ => None,
    };
    let dpi = match (xres, yres, unit) {
        (Some(x), Some(y), 2) => Some((x, y)),
        (Some(x), Some(y), 3) => Some((x * 2.54, y * 2.54)),
        _ => None,
    }
    .filter(|(x, y)| (10.0..=10_000.0).contains(x) && (10.0..=10_000.0).contains(y));

    let (layout, offsets_tag, counts_tag, needed) = if ifd.get(tag::TILE_OFFSETS).is_some() {
        let tw = int(tag::TILE_WIDTH)?.unwrap_or(0);
        let th = int(tag::TILE_LENGTH)?.unwrap_or(0);
        if tw == 0 || th == 0 || tw % 8 != 0 || tw > 1 << 16 || th > 1 << 16 {
            return Err(corrupt(number, format!("invalid tile size {tw}x{th}")));
        }
        let needed = u64::from(width).div_ceil(tw) * u64::from(height).div_ceil(th);
        (Layout::Tiles { width: tw as u32, height: th as u32 }, tag::TILE_OFFSETS, tag::TILE_BYTE_COUNTS, needed)
    } else {
        let rows = int(tag::ROWS_PER_STRIP)?.unwrap_or(u64::from(height)).clamp(1, u64::from(height)) as u32;
        let needed = u64::from(height.div_ceil(rows));
        (Layout::Strips { rows_per_strip: rows }, tag::STRIP_OFFSETS, tag::STRIP_BYTE_COUNTS, needed)
    };
    let offsets = match ifd.get(offsets_tag) {
        Some(e) => tiff.ints(e)?,
        None => return Err(corrupt(number, "the image data offsets are missing")),
    };
    if (offsets.len() as u64) < needed {
        return Err(corrupt(number, format!("{} image data pieces listed where {needed} are needed", offsets.len())));
    }
    let counts = match ifd.get(counts_tag) {
        Some(e) => tiff.ints(e)?,
        // Without byte counts, a single piece runs to the end of the file.
        None if needed == 1 => vec![(tiff.data.len() as u64).saturating_sub(offsets[0])],
        None => return Err(corrupt(number, "the image data byte counts are missing")),
    };
    if (counts.len() as u64) < needed {
        return Err(corrupt(number, "fewer byte counts than image data pieces"));
    }
    // One decompressed strip or tile must stay within the pixel limit and a sane number of bytes.
    let (piece_w, piece_h) = match layout {
        Layout::Strips { rows_per_strip } => (u64::from(width), u64::from(rows_per_strip)),
        Layout::Tiles { width, height } => (u64::from(width), u64::from(height)),
    };
    let piece_bytes = (piece_w * u64::from(samples) * u64::from(bits)).div_ceil(8) * piece_h;
    if piece_w * piece_h > limits.max_pixels || piece_bytes > MAX_PIECE_BYTES {
        return Err(MediaError::TooLarge { pixels: piece_w * piece_h, max: limits.max_pixels });
    }
    let mut chunks = Vec::with_capacity(needed as usize);
    for (&offset, &count) in offsets.iter().zip(&counts).take(needed as usize) {
        let end = offset.checked_add(count).ok_or(MediaError::Truncated)?;
        if end > tiff.data.len() as u64 {
            return Err(MediaError::Truncated);
        }
        chunks.push((offset as usize, count as usize));
    }

    let colormap = match ifd.get(tag::COLOR_MAP) {
        Some(e) if photometric == photometric::PALETTE => {
            let map: Vec<u16> = tiff.ints(e)?.into_iter().map(|v| v as u16).collect();
            if map.len() != 3 << bits {
                return Err(corrupt(number, "the colour map does not match the bit depth"));
            }
            Some(map)
        }
        None if photometric == photometric::PALETTE => return Err(corrupt(number, "the palette is missing")),
        _ => None,
    };

    Ok(PageDesc {
        number,
        width,
        height,
        bits,
        samples,
        extra,
        photometric,
        compression,
        lsb_first: int(tag::FILL_ORDER)?.unwrap_or(1) == 2,
        predictor,
        t4_options,
        dpi,
        aspect,
        layout,
        chunks,
        colormap,
        big_endian: !tiff.little_endian,
    })
}

/// Reverses the bit order of every byte (FillOrder 2 to FillOrder 1).
pub(crate) fn reverse_bits(data: &[u8]) -> Vec<u8> {
    data.iter().map(|b| b.reverse_bits()).collect()
}

/// The CCITT coding of a page's compression scheme, if it has one.
pub(crate) fn ccitt_coding(desc: &PageDesc) -> Option<Coding> {
    match desc.compression {
        compression::CCITT_RLE => Some(Coding::ModifiedHuffman { align: 8 }),
        compression::CCITT_RLEW => Some(Coding::ModifiedHuffman { align: 16 }),
        compression::CCITT_T4 => Some(Coding::T4 { two_d: desc.t4_options & 1 != 0 }),
        compression::CCITT_T6 => Some(Coding::T6),
        _ => None,
    }
}

/// Turns a CCITT decoding failure into the error a user sees.
pub(crate) fn ccitt_error(number: usize, first_row: u32, e: CcittError) -> MediaError {
    match e {
        CcittError::Invalid { row } => corrupt(number, format!("invalid fax coding at row {}", first_row + row + 1)),
        CcittError::Truncated { row } => {
            corrupt(number, format!("the fax data ends early, at row {}", first_row + row + 1))
        }
        CcittError::Uncompressed { row } => MediaError::unsupported(format!(
            "fax data in uncompressed mode (page {number}, row {})",
            first_row + row + 1
        )),
    }
}

/// One strip or tile: where it goes on the page and how big it is as stored.
struct Piece {
    x: u32,
    y: u32,
    width: u32,
    rows: u32,
}

fn pieces(desc: &PageDesc) -> impl Iterator<Item = Piece> + '_ {
    let (pw, ph) = match desc.layout {
        Layout::Strips { rows_per_strip } => (desc.width, rows_per_strip),
        Layout::Tiles { width, height } => (width, height),
    };
    let across = desc.width.div_ceil(pw);
    (0..desc.chunks.len() as u32).map(move |i| {
        let (x, y) = ((i % across) * pw, (i / across) * ph);
        let rows = match desc.layout {
            Layout::Strips { .. } => ph.min(desc.height.saturating_sub(y)),
            Layout::Tiles { .. } => ph,
        };
        Piece { x, y, width: pw, rows }
    })
}

/// Decompresses one piece into `rows` rows of `row_bytes` bytes.
fn decompress(desc: &PageDesc, data: &[u8], piece: &Piece, row_bytes: usize) -> Result<Vec<u8>, MediaError> {
    let expected = row_bytes * piece.rows as usize;
    let number = desc.number;
    // FillOrder 2 reverses the bits of every stored byte, whatever the compression (as libtiff writes it).
    let data =
        if desc.lsb_first { std::borrow::Cow::Owned(reverse_bits(data)) } else { std::borrow::Cow::Borrowed(data) };
    let mut out = match desc.compression {
        compression::NONE => {
            data.get(..expected).ok_or_else(|| corrupt(number, "the image data is shorter than the image"))?.to_vec()
        }
        compression::PACKBITS => {
            unpack_bits(&data, expected).ok_or_else(|| corrupt(number, "the PackBits data ends early"))?
        }
        compression::LZW => lzw(&data, expected).map_err(|e| corrupt(number, e))?,
        compression::DEFLATE | compression::DEFLATE_OLD => {
            match miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&data, expected) {
                Ok(v) if v.len() == expected => v,
                Err(e) if e.output.len() == expected => e.output,
                _ => return Err(corrupt(number, "the Deflate data is damaged or ends early")),
            }
        }
        _ => {
            let coding =
                ccitt_coding(desc).ok_or_else(|| MediaError::unsupported(compression_name(desc.compression)))?;
            let mut out = vec![0u8; expected];
            ccitt::decode(&data, piece.width, piece.rows, coding, &mut out)
                .map_err(|e| ccitt_error(number, piece.y, e))?;
            // CCITT codes white as 0 bits; black-is-zero pages read the other way round.
            if desc.photometric == photometric::WHITE_IS_ZERO {
                return Ok(out);
            }
            out.iter_mut().for_each(|b| *b = !*b);
            return Ok(out);
        }
    };
    if desc.predictor == 2 {
        undo_predictor(desc, &mut out, row_bytes);
    }
    Ok(out)
}

/// Decodes TIFF (new-style) LZW into exactly `expected` bytes.
fn lzw(data: &[u8], expected: usize) -> Result<Vec<u8>, &'static str> {
    if data.len() >= 2 && data[0] == 0 && data[1] & 1 == 1 {
        return Err("old-style LZW compression (TIFF 5.0) is not supported");
    }
    let mut decoder = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let mut out = vec![0u8; expected];
    let (mut inp, mut done) = (0usize, 0usize);
    while done < expected {
        let r = decoder.decode_bytes(&data[inp..], &mut out[done..]);
        inp += r.consumed_in;
        done += r.consumed_out;
        match r.status {
            Ok(weezl::LzwStatus::Ok) if r.consumed_in + r.consumed_out > 0 => {}
            _ => break,
        }
    }
    if done < expected { Err("the LZW data is damaged or ends early") } else { Ok(out) }
}

/// Decodes PackBits into exactly `expected` bytes.
fn unpack_bits(data: &[u8], expected: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(expected);
    let mut i = 0;
    while out.len() < expected {
        let n = *data.get(i)? as i8;
        i += 1;
        if n >= 0 {
            let len = n as usize + 1;
            out.extend_from_slice(data.get(i..i + len)?);
            i += len;
        } else if n != -128 {
            let b = *data.get(i)?;
            i += 1;
            out.resize(out.len() + (1 - n as isize) as usize, b);
        }
    }
    out.truncate(expected);
    Some(out)
}

/// Undoes horizontal differencing (Predictor 2) on 8- or 16-bit samples.
fn undo_predictor(desc: &PageDesc, data: &mut [u8], row_bytes: usize) {
    let spp = usize::from(desc.samples);
    for row in data.chunks_mut(row_bytes) {
        if desc.bits == 8 {
            for i in spp..row.len() {
                row[i] = row[i].wrapping_add(row[i - spp]);
            }
        } else {
            let get = |r: &[u8], i: usize| {
                let b = [r[2 * i], r[2 * i + 1]];
                if desc.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }
            };
            for i in spp..row.len() / 2 {
                let v = get(row, i).wrapping_add(get(row, i - spp));
                let b = if desc.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
                row[2 * i] = b[0];
                row[2 * i + 1] = b[1];
            }
        }
    }
}

/// Whether the page is kept as packed bits (1-bit black and white, one sample).
fn is_bilevel(desc: &PageDesc) -> bool {
    desc.bits == 1
        && desc.samples == 1
        && matches!(desc.photometric, photometric::WHITE_IS_ZERO | photometric::BLACK_IS_ZERO)
}

/// Decodes one page.
pub(crate) fn decode(tiff: &Tiff, desc: &PageDesc) -> Result<Raster, MediaError> {
    let (w, h) = (desc.width as usize, desc.height as usize);
    let bilevel = is_bilevel(desc);
    let mut pixels = if bilevel { vec![0u8; w.div_ceil(8) * h] } else { vec![255u8; w * h] };
    for (piece, &(offset, len)) in pieces(desc).zip(&desc.chunks) {
        if piece.y >= desc.height {
            continue;
        }
        let data = &tiff.data[offset..offset + len];
        let row_bits = piece.width as usize * usize::from(desc.samples) * usize::from(desc.bits);
        let row_bytes = row_bits.div_ceil(8);
        let raw = decompress(desc, data, &piece, row_bytes)?;
        let rows = piece.rows.min(desc.height - piece.y) as usize;
        let cols = piece.width.min(desc.width - piece.x) as usize;
        if bilevel {
            let stride = w.div_ceil(8);
            let invert = desc.photometric == photometric::BLACK_IS_ZERO && ccitt_coding(desc).is_none();
            let (x_byte, n) = (piece.x as usize / 8, cols.div_ceil(8));
            for r in 0..rows {
                let src = &raw[r * row_bytes..r * row_bytes + n];
                let dst = &mut pixels[(piece.y as usize + r) * stride + x_byte..][..n];
                dst.copy_from_slice(src);
                if invert {
                    dst.iter_mut().for_each(|b| *b = !*b);
                }
            }
        } else {
            for r in 0..rows {
                let src = &raw[r * row_bytes..(r + 1) * row_bytes];
                let dst = &mut pixels[(piece.y as usize + r) * w + piece.x as usize..][..cols];
                luminance_row(desc, src, dst);
            }
        }
    }
    if bilevel && w % 8 != 0 {
        // Keep the padding bits of each row white.
        let (stride, mask) = (w.div_ceil(8), 0xFFu8 << (8 - w % 8));
        pixels.chunks_mut(stride).for_each(|row| row[stride - 1] &= mask);
    }
    Ok(Raster {
        width: desc.width,
        height: desc.height,
        dpi: desc.dpi,
        aspect: desc.aspect,
        pixels: if bilevel { Pixels::Bilevel(pixels) } else { Pixels::Grey(pixels) },
    })
}

/// Converts one decoded row of any supported pixel format to luminance, composited on white.
fn luminance_row(desc: &PageDesc, src: &[u8], dst: &mut [u8]) {
    let spp = usize::from(desc.samples);
    let bits = usize::from(desc.bits);
    let max = (1u32 << bits.min(8)) - 1;
    // An 8-bit view of sample `i` (the high byte of 16-bit samples).
    let sample = |i: usize| -> u32 {
        match bits {
            8 => u32::from(src[i]),
            16 => u32::from(if desc.big_endian { src[2 * i] } else { src[2 * i + 1] }),
            _ => {
                let bit = i * bits;
                let v = (u32::from(src[bit / 8]) >> (8 - bits - bit % 8)) & max;
                v * 255 / max
            }
        }
    };
    let raw_index = |i: usize| -> usize {
        let bit = i * bits;
        ((u32::from(src[bit / 8]) >> (8 - bits - bit % 8)) & max) as usize
    };
    let colours = match desc.photometric {
        photometric::RGB => 3,
        photometric::SEPARATED => 4,
        _ => 1,
    };
    let alpha = desc.extra.first().copied().filter(|&a| (a == 1 || a == 2) && spp > colours);
    for (x, out) in dst.iter_mut().enumerate() {
        let base = x * spp;
        let lum = match desc.photometric {
            photometric::WHITE_IS_ZERO => 255 - sample(base),
            photometric::BLACK_IS_ZERO => sample(base),
            photometric::PALETTE => match &desc.colormap {
                Some(map) => {
                    let n = map.len() / 3;
                    let i = raw_index(base).min(n - 1);
                    luma(u32::from(map[i] >> 8), u32::from(map[n + i] >> 8), u32::from(map[2 * n + i] >> 8))
                }
                None => 255,
            },
            photometric::RGB => luma(sample(base), sample(base + 1), sample(base + 2)),
            _ => {
                let k = 255 - sample(base + 3);
                let (r, g, b) = (
                    (255 - sample(base)) * k / 255,
                    (255 - sample(base + 1)) * k / 255,
                    (255 - sample(base + 2)) * k / 255,
                );
                luma(r, g, b)
            }
        };
        let lum = match alpha {
            Some(kind) => {
                let a = sample(base + colours);
                if kind == 1 { (lum + 255 - a).min(255) } else { u32::from(over_paper(lum, a)) }
            }
            None => lum,
        };
        *out = lum as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_round_trip_of_the_tiff_spec_example() {
        let packed = [0xFE, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7, 0xAA];
        let unpacked = unpack_bits(&packed, 24).unwrap();
        assert_eq!(
            unpacked,
            [
                0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0xAA, 0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0x22, 0xAA, 0xAA, 0xAA,
                0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA
            ]
        );
        assert!(unpack_bits(&packed[..5], 24).is_none());
    }
}
