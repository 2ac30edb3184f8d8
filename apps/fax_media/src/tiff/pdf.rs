//! Turns a fax TIFF into a PDF with the CCITT data of every page embedded unchanged.
//!
//! Kazoo runs `tiff2pdf` (`fax.convert_tiff_command`) for the `pdf_file.pdf` attachment and the PDF mailed with a
//! received fax. Each strip becomes an image XObject with `/CCITTFaxDecode` and the parameters its TIFF tags imply:
//! Group 4, Group 3 1D or 2D with EOLs (byte-aligned when T4Options says so, as a fax receiver writes), or
//! Modified Huffman; LSB-first data is bit-reversed, nothing is re-encoded. Every strip is decoded first, so a
//! damaged fax gives an error here rather than a PDF that viewers cannot show. Pages that are not CCITT-coded
//! (LZW, greyscale, colour) are converted to fax pages and embedded as Group 4.

use pdf_writer::{Content, Filter, Name, Pdf, Rect, Ref};

use super::Limits;
use super::ccitt::{self, Coding};
use super::g4;
use super::ifd::Tiff;
use super::normalize;
use super::read::{self, Layout, PageDesc, photometric};
use crate::error::MediaError;
use crate::page::{FAX_WIDTH, Page, X_DPI};

/// The most strips of a page embedded as separate images.
const MAX_STRIPS: usize = 64;

/// One image XObject: CCITT data and its decode parameters.
struct Image {
    data: Vec<u8>,
    width: u32,
    rows: u32,
    coding: Coding,
    /// T.4 K (for two-dimensional coding).
    k: u32,
    byte_align: bool,
    black_is_1: bool,
}

/// One PDF page: its size in points and its images from the top, each with its first row.
struct PdfPage {
    width_pt: f32,
    height_pt: f32,
    rows: u32,
    images: Vec<(u32, Image)>,
}

/// Converts a TIFF (normally a fax TIFF) into a PDF, one PDF page per TIFF page.
pub fn to_pdf(bytes: &[u8]) -> Result<Vec<u8>, MediaError> {
    to_pdf_with(bytes, &Limits::default())
}

/// [`to_pdf`] with explicit limits.
pub fn to_pdf_with(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, MediaError> {
    let (tiff, indexes) = read::pages(bytes, limits)?;
    let mut pages = Vec::with_capacity(indexes.len());
    for (n, &i) in indexes.iter().enumerate() {
        let desc = read::describe(&tiff, &tiff.ifds[i], n + 1, limits)?;
        match passthrough(&tiff, &desc)? {
            Some(page) => pages.push(page),
            None => {
                let raster = read::decode(&tiff, &desc)?;
                let budget =
                    normalize::Budget { left: limits.max_pages.saturating_sub(pages.len()), max: limits.max_pages };
                pages.extend(normalize::to_fax_pages(raster, None, budget)?.iter().map(fax_page));
            }
        }
        if pages.len() > limits.max_pages {
            return Err(MediaError::TooManyPages { max: limits.max_pages });
        }
    }
    write_pdf(&pages)
}

/// The PDF page of a page whose strips can be embedded as they are, or `None` when it must be converted.
fn passthrough(tiff: &Tiff, desc: &PageDesc) -> Result<Option<PdfPage>, MediaError> {
    let coding = match read::ccitt_coding(desc) {
        Some(c @ (Coding::T4 { .. } | Coding::T6 | Coding::ModifiedHuffman { align: 8 })) => c,
        _ => return Ok(None),
    };
    // Each strip becomes an image; a page cut into very many strips is better re-encoded as one.
    let rows_per_strip = match desc.layout {
        Layout::Strips { rows_per_strip } if desc.chunks.len() <= MAX_STRIPS => rows_per_strip,
        _ => return Ok(None),
    };
    let mut images = Vec::with_capacity(desc.chunks.len());
    let mut scratch = Vec::new();
    for (s, &(offset, len)) in desc.chunks.iter().enumerate() {
        let first = s as u32 * rows_per_strip;
        let rows = rows_per_strip.min(desc.height - first);
        let raw = &tiff.data[offset..offset + len];
        let data = if desc.lsb_first { read::reverse_bits(raw) } else { raw.to_vec() };
        scratch.clear();
        scratch.resize(desc.width.div_ceil(8) as usize * rows as usize, 0);
        let k = ccitt::decode(&data, desc.width, rows, coding, &mut scratch)
            .map_err(|e| read::ccitt_error(desc.number, first, e))?;
        images.push((
            first,
            Image {
                data,
                width: desc.width,
                rows,
                coding,
                k,
                byte_align: matches!(coding, Coding::ModifiedHuffman { .. })
                    || (matches!(coding, Coding::T4 { .. }) && desc.t4_options & 4 != 0),
                black_is_1: desc.photometric == photometric::BLACK_IS_ZERO,
            },
        ));
    }
    let (xdpi, ydpi) = match desc.dpi {
        Some(d) => d,
        None => {
            let x = f64::from(X_DPI) * f64::from(desc.width) / f64::from(FAX_WIDTH);
            let default_aspect = if desc.width == FAX_WIDTH { 196.0 / 204.0 } else { 1.0 };
            (x, x * desc.aspect.unwrap_or(default_aspect))
        }
    };
    Ok(Some(PdfPage {
        width_pt: (f64::from(desc.width) / xdpi * 72.0) as f32,
        height_pt: (f64::from(desc.height) / ydpi * 72.0) as f32,
        rows: desc.height,
        images,
    }))
}

/// The PDF page of a converted fax page, coded G4.
fn fax_page(page: &Page) -> PdfPage {
    let ydpi = page.resolution.y_dpi();
    PdfPage {
        width_pt: page.width as f32 / X_DPI as f32 * 72.0,
        height_pt: page.height as f32 / ydpi as f32 * 72.0,
        rows: page.height,
        images: vec![(
            0,
            Image {
                data: g4::encode_g4(page),
                width: page.width,
                rows: page.height,
                coding: Coding::T6,
                k: 1,
                byte_align: false,
                black_is_1: false,
            },
        )],
    }
}

fn write_pdf(pages: &[PdfPage]) -> Result<Vec<u8>, MediaError> {
    let total: usize = pages.iter().map(|p| p.images.iter().map(|(_, i)| i.data.len()).sum::<usize>()).sum();
    if total > i32::MAX as usize / 2 {
        return Err(MediaError::unsupported("fax data over 1 GB"));
    }
    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let catalog = alloc();
    let tree = alloc();
    pdf.catalog(catalog).pages(tree);
    let mut kids = Vec::with_capacity(pages.len());
    for page in pages {
        let page_id = alloc();
        let content_id = alloc();
        kids.push(page_id);
        let mut names = Vec::with_capacity(page.images.len());
        let mut content = Content::new();
        for (n, (first, image)) in page.images.iter().enumerate() {
            let id = alloc();
            let name = format!("Im{n}");
            let mut x = pdf.image_xobject(id, &image.data);
            x.filter(Filter::CcittFaxDecode);
            x.width(image.width as i32);
            x.height(image.rows as i32);
            x.color_space().device_gray();
            x.bits_per_component(1);
            let mut parms = x.decode_parms();
            parms.columns(image.width as i32).rows(image.rows as i32).black_is_1(image.black_is_1);
            match image.coding {
                Coding::T6 => {
                    parms.k(-1);
                }
                Coding::T4 { two_d } => {
                    parms.k(if two_d { image.k.clamp(1, i32::MAX as u32) as i32 } else { 0 });
                    parms.end_of_line(true).encoded_byte_align(image.byte_align).end_of_block(false);
                }
                Coding::ModifiedHuffman { .. } => {
                    parms.k(0).encoded_byte_align(true).end_of_block(false);
                }
            }
            drop(parms);
            drop(x);
            // Image space is the unit square; place the strip at its rows from the top of the page.
            let row_pt = page.height_pt / page.rows as f32;
            let bottom = page.height_pt - (first + image.rows) as f32 * row_pt;
            content.save_state();
            content.transform([page.width_pt, 0.0, 0.0, image.rows as f32 * row_pt, 0.0, bottom]);
            content.x_object(Name(name.as_bytes()));
            content.restore_state();
            names.push((name, id));
        }
        let content = content.finish();
        pdf.stream(content_id, content.as_slice());
        let mut p = pdf.page(page_id);
        p.media_box(Rect::new(0.0, 0.0, page.width_pt, page.height_pt));
        p.parent(tree);
        p.contents(content_id);
        let mut resources = p.resources();
        let mut objects = resources.x_objects();
        for (name, id) in &names {
            objects.pair(Name(name.as_bytes()), *id);
        }
    }
    pdf.pages(tree).kids(kids.iter().copied()).count(pages.len() as i32);
    Ok(pdf.finish())
}
