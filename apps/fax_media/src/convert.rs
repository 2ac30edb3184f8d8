//! Converts one or more documents into a single fax: a G4 fax TIFF, its PDF rendition and a page count.
//!
//! Ports `kz_fax_converter` as `kz_fax_attachment:save_outbound` and `fetch_faxable` use it: every attachment of a
//! fax job (PDF, TIFF, picture, plain text, office document) becomes pages in order, an optional cover sheet goes in
//! front, and the result is one multi-page TIFF at fax geometry plus a PDF for storage and notifications. A TIFF
//! that is already a fax passes through unchanged. A document that yields no page is an error, never an empty fax.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::error::MediaError;
use crate::page::{Page, Resolution};
use crate::render::cover::{self, Cover};
use crate::render::{RenderLimits, image, office, pdf, text};
use crate::tiff;

/// One document to convert, with what the sender said it is.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The document's bytes.
    pub bytes: Bytes,
    /// The MIME type it arrived with (`application/pdf`, `image/png; name=x.png`...), if any.
    pub content_type: Option<String>,
    /// Its file name, if any; the extension helps tell office formats apart.
    pub filename: Option<String>,
}

impl Input {
    /// A document with no type or name: it is recognised by its first bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Input {
        Input { bytes: bytes.into(), content_type: None, filename: None }
    }

    /// Sets the MIME type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Input {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the file name.
    pub fn with_filename(mut self, filename: impl Into<String>) -> Input {
        self.filename = Some(filename.into());
        self
    }
}

/// How to convert, and the limits that keep one job from taking the node down.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Fine (204x196, the default) or standard (204x98).
    pub resolution: Resolution,
    /// The most pages the whole fax may have, cover sheet included.
    pub max_pages: usize,
    /// The most pixels any one source picture may decode to.
    pub max_pixels: u64,
    /// Wall-clock limit for the whole conversion.
    pub timeout: Duration,
    /// A cover sheet to put in front, if any.
    pub cover: Option<Cover>,
    /// How many threads may render pages of one PDF at once.
    pub threads: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            resolution: Resolution::Fine,
            max_pages: 100,
            max_pixels: 50_000_000,
            timeout: Duration::from_secs(60),
            cover: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// A converted fax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// Multi-page fax TIFF: 1728 wide, G4, ready for the modem.
    pub tiff: Vec<u8>,
    /// The same pages as a PDF.
    pub pdf: Vec<u8>,
    /// Number of pages, cover sheet included.
    pub pages: u32,
}

/// What a document is, as far as conversion cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Tiff,
    /// PNG, JPEG, GIF, BMP or WebP.
    Image,
    Text,
    /// An office document, with the file extension LibreOffice should see.
    Office(&'static str),
}

/// The MIME type without parameters, lower case.
fn mime(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn kind_of_mime(mime: &str) -> Option<Kind> {
    Some(match mime {
        "application/pdf" | "application/x-pdf" | "application/acrobat" => Kind::Pdf,
        "image/tiff" | "image/tif" | "image/x-tiff" | "image/x-tif" => Kind::Tiff,
        "image/png" | "image/jpeg" | "image/jpg" | "image/pjpeg" | "image/gif" | "image/bmp" | "image/x-bmp"
        | "image/x-ms-bmp" | "image/webp" => Kind::Image,
        "text/plain" => Kind::Text,
        "application/msword" => Kind::Office("doc"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => Kind::Office("docx"),
        "application/vnd.ms-excel" => Kind::Office("xls"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Kind::Office("xlsx"),
        "application/vnd.ms-powerpoint" => Kind::Office("ppt"),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => Kind::Office("pptx"),
        "application/vnd.oasis.opendocument.text" => Kind::Office("odt"),
        "application/vnd.oasis.opendocument.spreadsheet" => Kind::Office("ods"),
        "application/vnd.oasis.opendocument.presentation" => Kind::Office("odp"),
        "application/rtf" | "text/rtf" => Kind::Office("rtf"),
        _ => return None,
    })
}

fn kind_of_extension(filename: &str) -> Option<Kind> {
    let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => Kind::Pdf,
        "tif" | "tiff" => Kind::Tiff,
        "png" | "jpg" | "jpeg" | "gif" | "bmp" | "webp" => Kind::Image,
        "txt" | "text" => Kind::Text,
        "doc" => Kind::Office("doc"),
        "docx" => Kind::Office("docx"),
        "xls" => Kind::Office("xls"),
        "xlsx" => Kind::Office("xlsx"),
        "ppt" => Kind::Office("ppt"),
        "pptx" => Kind::Office("pptx"),
        "odt" => Kind::Office("odt"),
        "ods" => Kind::Office("ods"),
        "odp" => Kind::Office("odp"),
        "rtf" => Kind::Office("rtf"),
        _ => return None,
    })
}

/// What the first bytes say, for formats that have a signature.
fn kind_of_magic(bytes: &[u8]) -> Option<Kind> {
    let head = &bytes[..bytes.len().min(1024)];
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        Some(Kind::Tiff)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(b"\xff\xd8\xff")
        || head.starts_with(b"GIF87a")
        || head.starts_with(b"GIF89a")
        || (head.len() >= 14 && head.starts_with(b"BM") && head[6..10] == [0, 0, 0, 0])
        || (head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP")
    {
        Some(Kind::Image)
    } else if head.windows(5).any(|w| w == b"%PDF-") {
        // Readers accept the header anywhere in the first kilobyte.
        Some(Kind::Pdf)
    } else if head.starts_with(b"{\\rtf") {
        Some(Kind::Office("rtf"))
    } else if head.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        // An OLE2 compound file: Word, Excel or PowerPoint 97-2003.
        Some(Kind::Office("doc"))
    } else if head.starts_with(b"PK\x03\x04") {
        // OpenDocument names its type in a first, stored `mimetype` entry; OOXML is assumed to be Word.
        let odf = |t: &[u8]| head.windows(t.len()).any(|w| w == t);
        Some(if odf(b"opendocument.spreadsheet") {
            Kind::Office("ods")
        } else if odf(b"opendocument.presentation") {
            Kind::Office("odp")
        } else if odf(b"opendocument.text") {
            Kind::Office("odt")
        } else if odf(b"xl/") {
            Kind::Office("xlsx")
        } else if odf(b"ppt/") {
            Kind::Office("pptx")
        } else {
            Kind::Office("docx")
        })
    } else {
        None
    }
}

/// Whether bytes read as text: UTF-8 or a single-byte charset, without control characters other than whitespace.
fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
        return true;
    }
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    !sample.is_empty() && sample.iter().all(|&b| (b >= 0x20 && b != 0x7f) || matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
}

/// Decides what a document is: by its content type, unless its first bytes clearly say it is another known format
/// (mislabelled attachments are common); then by its signature; then by its file name; then plain text if it
/// reads as text.
pub fn detect(input: &Input) -> Result<Kind, MediaError> {
    if input.bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let by_type = input.content_type.as_deref().map(mime).and_then(|m| kind_of_mime(&m));
    let by_magic = kind_of_magic(&input.bytes);
    let by_name = input.filename.as_deref().and_then(kind_of_extension);
    let kind = match (by_type, by_magic) {
        // A ZIP or OLE2 file's own signature cannot tell docx from xlsx as well as the declared type can.
        (Some(Kind::Office(ext)), Some(Kind::Office(_))) => Some(Kind::Office(ext)),
        (_, Some(magic)) => Some(magic),
        (Some(declared), None) => Some(declared),
        (None, None) => None,
    };
    let kind = match (kind, by_name) {
        (Some(Kind::Office(_)), Some(Kind::Office(ext))) if by_type.is_none() => Some(Kind::Office(ext)),
        (Some(k), _) => Some(k),
        (None, named) => named,
    };
    match kind {
        Some(k) => Ok(k),
        None if looks_like_text(&input.bytes) => Ok(Kind::Text),
        None => {
            let what = input.content_type.as_deref().map(mime).unwrap_or_else(|| "an unrecognised format".to_owned());
            Err(MediaError::unsupported(what))
        }
    }
}

/// Renders one document into pages at the target resolution.
fn render_one(input: &Input, kind: Kind, limits: &RenderLimits) -> Result<Vec<Page>, MediaError> {
    let pages = match kind {
        Kind::Pdf => pdf::render(&input.bytes, limits)?,
        Kind::Tiff => {
            let limits_tiff = tiff::Limits { max_pages: limits.max_pages, max_pixels: limits.max_pixels };
            match tiff::read_pages_at(&input.bytes, &limits_tiff, limits.resolution) {
                Ok(pages) => pages,
                // A TIFF flavour the fax reader does not take (JPEG-compressed, say) may still decode as a picture.
                Err(MediaError::Unsupported { what }) => {
                    debug!(%what, "tiff not readable as fax pages; trying it as a picture");
                    image::render(&input.bytes, limits).map_err(|_| MediaError::Unsupported { what })?
                }
                Err(e) => return Err(e),
            }
        }
        Kind::Image => image::render(&input.bytes, limits)?,
        Kind::Text => pdf::render(&Bytes::from(text::to_pdf(&input.bytes)?), limits)?,
        Kind::Office(ext) => {
            let bytes = office::to_pdf(&input.bytes, ext, limits.deadline)?;
            pdf::render(&Bytes::from(bytes), limits)?
        }
    };
    if pages.is_empty() {
        return Err(MediaError::ZeroPages);
    }
    Ok(pages)
}

/// Converts documents, in order, into one fax. Blocks: from async code, run it on a [`crate::pool::Pool`].
pub fn convert(inputs: &[Input], opts: &ConvertOptions) -> Result<Converted, MediaError> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    if inputs.is_empty() {
        return Err(MediaError::ZeroPages);
    }
    let kinds = inputs.iter().map(detect).collect::<Result<Vec<_>, _>>()?;
    // A single TIFF already in fax geometry is sent exactly as it came (after every page is checked to decode).
    let tiff_limits = tiff::Limits { max_pages: opts.max_pages, max_pixels: opts.max_pixels };
    if let ([input], [Kind::Tiff], None) = (inputs, kinds.as_slice(), &opts.cover)
        && tiff::is_fax_ready(&input.bytes)
    {
        let fax = tiff::to_fax_tiff_with(&input.bytes, &tiff_limits)?;
        if fax.reused {
            if fax.pages == 0 {
                return Err(MediaError::ZeroPages);
            }
            let pdf = tiff::to_pdf(&fax.bytes)?;
            info!(pages = fax.pages, elapsed_ms = started.elapsed().as_millis() as u64, "fax tiff passed through");
            return Ok(Converted { tiff: fax.bytes, pdf, pages: fax.pages as u32 });
        }
    }
    let budget = opts.max_pages.saturating_sub(usize::from(opts.cover.is_some()));
    let mut pages: Vec<Page> = Vec::new();
    for (n, (input, &kind)) in inputs.iter().zip(&kinds).enumerate() {
        let limits = RenderLimits {
            resolution: opts.resolution,
            max_pages: budget.saturating_sub(pages.len()),
            max_pixels: opts.max_pixels,
            deadline,
            threads: opts.threads.max(1),
        };
        limits.check_deadline()?;
        let result = catch_unwind(AssertUnwindSafe(|| render_one(input, kind, &limits)))
            .unwrap_or_else(|_| Err(MediaError::corrupt("the document could not be drawn")));
        match result {
            Ok(doc) => {
                debug!(document = n + 1, ?kind, pages = doc.len(), "document rendered");
                pages.extend(doc);
            }
            Err(MediaError::TooManyPages { .. }) => return Err(MediaError::TooManyPages { max: opts.max_pages }),
            Err(e) => {
                warn!(document = n + 1, filename = input.filename.as_deref().unwrap_or(""), ?kind, error = %e, "document not converted");
                return Err(e);
            }
        }
    }
    if pages.is_empty() {
        return Err(MediaError::ZeroPages);
    }
    if let Some(sheet) = &opts.cover {
        let limits = RenderLimits {
            resolution: opts.resolution,
            max_pages: 1,
            max_pixels: opts.max_pixels,
            deadline,
            threads: 1,
        };
        let mut all = pdf::render(&Bytes::from(cover::to_pdf(sheet, pages.len() + 1)), &limits)?;
        all.append(&mut pages);
        pages = all;
    }
    if Instant::now() >= deadline {
        return Err(MediaError::TimedOut);
    }
    let tiff = tiff::write_fax_tiff(&pages);
    let pdf = tiff::to_pdf(&tiff)?;
    info!(
        documents = inputs.len(),
        pages = pages.len(),
        tiff_bytes = tiff.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "documents converted to fax"
    );
    Ok(Converted { tiff, pdf, pages: pages.len() as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(bytes: &'static [u8], content_type: Option<&str>, filename: Option<&str>) -> Result<Kind, MediaError> {
        let mut input = Input::new(Bytes::from_static(bytes));
        input.content_type = content_type.map(str::to_owned);
        input.filename = filename.map(str::to_owned);
        detect(&input)
    }

    #[test]
    fn detection_uses_type_then_signature_then_name() {
        assert_eq!(kind(b"%PDF-1.7\n", None, None).ok(), Some(Kind::Pdf));
        assert_eq!(kind(b"%PDF-1.7\n", Some("application/octet-stream"), None).ok(), Some(Kind::Pdf));
        // A PNG sent as application/pdf is a PNG.
        assert_eq!(kind(b"\x89PNG\r\n\x1a\n....", Some("application/pdf"), None).ok(), Some(Kind::Image));
        assert_eq!(kind(b"II*\0", Some("Image/TIFF; name=a.tif"), None).ok(), Some(Kind::Tiff));
        assert_eq!(kind(b"hello\n", Some("text/plain; charset=utf-8"), None).ok(), Some(Kind::Text));
        assert_eq!(kind(b"hello\n", None, None).ok(), Some(Kind::Text));
        // Text that happens to start like a BMP's signature is still text.
        assert_eq!(kind(b"BMW service report\n", Some("text/plain"), None).ok(), Some(Kind::Text));
        assert_eq!(kind(b"PK\x03\x04xl/", None, None).ok(), Some(Kind::Office("xlsx")));
        assert_eq!(kind(b"PK\x03\x04....", None, Some("a.pptx")).ok(), Some(Kind::Office("pptx")));
        assert_eq!(
            kind(b"PK\x03\x04....", Some("application/vnd.oasis.opendocument.text"), Some("x.zip")).ok(),
            Some(Kind::Office("odt"))
        );
        assert_eq!(kind(b"{\\rtf1", None, None).ok(), Some(Kind::Office("rtf")));
        assert!(matches!(kind(b"\x00\x01\x02", Some("application/zip"), None), Err(MediaError::Unsupported { .. })));
        assert!(matches!(kind(b"", Some("application/pdf"), None), Err(MediaError::Empty)));
    }
}
