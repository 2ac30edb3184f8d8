//! Renders PDF pages into fax pages with `hayro`, a pure-Rust PDF rasteriser, on up to `threads` threads.
//!
//! Ports Kazoo's `fax.convert_pdf_command` (`gs -sDEVICE=tiffg4 -r200x200 -g1728x2200 -dPDFFitPage`). Each page is
//! scaled so its width fills the 1728-pixel fax line (landscape pages are turned a quarter turn first), its length
//! follows the page's own proportions (Letter 2148 rows, A4 2348 at fine resolution), and long pages follow the
//! long-page rule of [`crate::page::fit_length`]: shrunk to B4 length when a little longer, else drawn as A4-length
//! pages one band at a time (a receipt a metre long never needs a metre of pixels). Unlike Ghostscript, which
//! renders nothing and exits 0 for a password-protected file, an encrypted or damaged PDF is an error here, and so
//! is a PDF without pages.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_interpret::util::TransformExt;
use hayro::hayro_syntax::page::Page as PdfPage;
use hayro::hayro_syntax::{LoadPdfError, Pdf};
use hayro::kurbo::Affine;
use hayro::vello_cpu::color::palette::css::TRANSPARENT;
use hayro::vello_cpu::{Pixmap, RasterizerSettings, RenderContext, Resources, TargetInit};
use hayro::{RenderCache, RenderSettings, render_into};
use tracing::debug;

use super::halftone::pack_rgba_page;
use super::{RenderLimits, y_ratio};
use crate::error::MediaError;
use crate::page::{FAX_WIDTH, Fit, Page, Resolution, fit_length};

/// Pixels per point that fill the fax line; slightly over 1728 so rounding never leaves a 1727-pixel row.
const LINE_PIXELS: f64 = FAX_WIDTH as f64 + 0.25;

/// Where a PDF page lands on fax pages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Rows of the whole drawn page.
    pub rows: u32,
    /// Device transform from the page's own (rotated, cropped, y-down) space to fax pixels.
    pub transform: Affine,
    /// Rows of each fax page: `rows` unless the page is cut into A4-length pages.
    pub part: u32,
}

impl Placement {
    /// How many fax pages the PDF page becomes.
    pub fn pages(&self) -> usize {
        self.rows.div_ceil(self.part.max(1)) as usize
    }
}

/// Computes where a page of `width` x `height` points (after its own /Rotate) goes on fax pages.
pub fn place(width: f64, height: f64, resolution: Resolution) -> Placement {
    let landscape = width > height;
    let (pw, ph) = if landscape { (height, width) } else { (width, height) };
    // A quarter turn counter-clockwise: the page's top edge becomes the fax page's left edge.
    let turn = if landscape { Affine::new([0.0, -1.0, 1.0, 0.0, 0.0, width]) } else { Affine::IDENTITY };
    let mut sx = LINE_PIXELS / pw;
    let mut sy = sx * y_ratio(resolution);
    let natural = (ph * sy).floor().clamp(1.0, f64::from(u32::MAX)) as u32;
    let mut rows = natural;
    let mut part = natural;
    let mut x_off = 0.0;
    match fit_length(natural, resolution) {
        Fit::Whole => {}
        Fit::Shrink { rows: b4 } => {
            let shrink = f64::from(b4) / (ph * sy);
            sx *= shrink;
            sy *= shrink;
            rows = b4;
            part = b4;
            x_off = ((f64::from(FAX_WIDTH) - pw * sx) / 2.0).floor();
        }
        Fit::Cut { part: a4, .. } => part = a4,
    }
    Placement { rows, transform: Affine::translate((x_off, 0.0)) * Affine::scale_non_uniform(sx, sy) * turn, part }
}

/// Opens a PDF, mapping `hayro`'s load errors to what a sender can be told.
fn open(bytes: &Bytes) -> Result<Pdf, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    if !bytes[..bytes.len().min(1024)].windows(5).any(|w| w == b"%PDF-") {
        return Err(MediaError::corrupt("not a PDF file"));
    }
    // A file cut short loses its trailer; hayro would rebuild what it can and render a partial document.
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(MediaError::Truncated);
    }
    Pdf::new(Arc::new(bytes.clone())).map_err(|e| match e {
        LoadPdfError::Decryption(_) => MediaError::Encrypted,
        LoadPdfError::Invalid => MediaError::corrupt("not a readable PDF file"),
    })
}

/// The number of pages of a PDF, without rendering it.
pub fn page_count(bytes: &Bytes) -> Result<usize, MediaError> {
    Ok(open(bytes)?.pages().len())
}

/// The scene and pixel buffer a thread renders into. A page's RGBA buffer is about 16 MB; faulting in fresh pages
/// for it costs ~10 ms on a VM, more than a simple page takes to draw, so buffers are kept for the next document.
struct Canvas {
    ctx: RenderContext,
    pixmap: Pixmap,
    resources: Resources,
}

/// Canvases not in use, at most one per core.
static CANVASES: Mutex<Vec<Canvas>> = Mutex::new(Vec::new());

impl Canvas {
    fn take() -> Canvas {
        let spare = CANVASES.lock().ok().and_then(|mut pool| pool.pop());
        spare.unwrap_or_else(|| {
            // One thread per canvas: never let vello start its own pool.
            let vello = hayro::vello_cpu::RenderSettings { num_threads: 0, ..Default::default() };
            Canvas {
                ctx: RenderContext::new_with(FAX_WIDTH as u16, 1, vello),
                pixmap: Pixmap::new(FAX_WIDTH as u16, 1),
                resources: Resources::default(),
            }
        })
    }

    fn give_back(self) {
        let keep = std::thread::available_parallelism().map_or(1, |n| n.get());
        if let Ok(mut pool) = CANVASES.lock()
            && pool.len() < keep
        {
            pool.push(self);
        }
    }
}

/// One rendering thread's state for one document: the document's glyph and object caches, and a canvas.
struct Worker<'a> {
    cache: RenderCache<'a>,
    canvas: Canvas,
    settings: RenderSettings,
    interpreter: InterpreterSettings,
}

impl<'a> Worker<'a> {
    fn new() -> Self {
        Worker {
            cache: RenderCache::new(),
            canvas: Canvas::take(),
            // Anti-aliased, with glyph caching: faster than aliased drawing, and the alpha of edge pixels over the
            // transparent page lets the packer cut them at 50% while screening opaque greys.
            settings: RenderSettings::default(),
            interpreter: InterpreterSettings::default(),
        }
    }

    /// Draws one PDF page as one fax page, or band by band as several when it is cut.
    fn render(&mut self, page: &'a PdfPage<'a>, limits: &RenderLimits) -> Result<Vec<Page>, MediaError> {
        let (w, h) = page.render_dimensions();
        let placement = place(f64::from(w), f64::from(h), limits.resolution);
        let transform = placement.transform * page.initial_transform(true).to_kurbo();
        let mut out = Vec::with_capacity(placement.pages());
        for band in 0..placement.pages() as u32 {
            if band > 0 {
                limits.check_deadline()?;
            }
            let top = band * placement.part;
            let rows = placement.part.min(placement.rows - top).min(u32::from(u16::MAX)) as u16;
            let shifted = Affine::translate((0.0, -f64::from(top))) * transform;
            out.push(self.draw(page, shifted, rows, limits.resolution));
        }
        Ok(out)
    }

    /// Draws a page with `transform` onto a canvas `rows` high and reduces it to 1 bit.
    fn draw(&mut self, page: &'a PdfPage<'a>, transform: Affine, rows: u16, resolution: Resolution) -> Page {
        let Canvas { ctx, pixmap, resources } = &mut self.canvas;
        ctx.reset_and_resize(FAX_WIDTH as u16, rows);
        pixmap.resize(FAX_WIDTH as u16, rows);
        render_into(page, &self.cache, &self.interpreter, &self.settings, ctx, transform);
        ctx.flush();
        ctx.render_with(
            &mut *pixmap,
            resources,
            RasterizerSettings { target_init: TargetInit::Clear(TRANSPARENT), ..Default::default() },
        );
        let mut out = Page::blank(FAX_WIDTH, u32::from(rows), resolution);
        let stride = out.stride();
        pack_rgba_page(pixmap.data_as_u8_slice(), FAX_WIDTH as usize, usize::from(rows), stride, &mut out.data);
        out
    }
}

/// Renders every page of a PDF. Pages are shared out to `limits.threads` threads; the deadline is checked before
/// each page.
pub fn render(bytes: &Bytes, limits: &RenderLimits) -> Result<Vec<Page>, MediaError> {
    let pdf = open(bytes)?;
    let pages = pdf.pages();
    let n = pages.len();
    if n == 0 {
        return Err(MediaError::ZeroPages);
    }
    if n > limits.max_pages {
        return Err(MediaError::TooManyPages { max: limits.max_pages });
    }
    // Long pages cut into several count as several, before anything is drawn.
    let fax_pages: usize = pages
        .iter()
        .map(|p| {
            let (w, h) = p.render_dimensions();
            place(f64::from(w), f64::from(h), limits.resolution).pages()
        })
        .sum();
    if fax_pages > limits.max_pages {
        return Err(MediaError::TooManyPages { max: limits.max_pages });
    }
    let threads = limits.threads.clamp(1, n);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done: Mutex<Vec<Option<Vec<Page>>>> = Mutex::new(vec![None; n]);
    let failure: Mutex<Option<MediaError>> = Mutex::new(None);
    let work = || {
        let mut worker = Worker::new();
        // A canvas left mid-page by a panic is dropped, not reused.
        let mut clean = true;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n || stop.load(Ordering::Relaxed) {
                break;
            }
            let result = limits.check_deadline().and_then(|()| {
                catch_unwind(AssertUnwindSafe(|| worker.render(&pages[i], limits))).unwrap_or_else(|_| {
                    clean = false;
                    Err(MediaError::corrupt(format!("page {} cannot be drawn", i + 1)))
                })
            });
            match result {
                Ok(page) => {
                    if let Ok(mut done) = done.lock() {
                        done[i] = Some(page);
                    }
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    if let Ok(mut failure) = failure.lock() {
                        failure.get_or_insert(e);
                    }
                    break;
                }
            }
        }
        if clean {
            worker.canvas.give_back();
        }
    };
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(work);
            }
            work();
        });
    }
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    if done.iter().any(Option::is_none) {
        return Err(MediaError::corrupt("some pages could not be drawn"));
    }
    let out: Vec<Page> = done.into_iter().flatten().flatten().collect();
    debug!(pdf_pages = n, pages = out.len(), threads, "pdf rendered");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letter_and_a4_fill_the_line() {
        let letter = place(612.0, 792.0, Resolution::Fine);
        assert_eq!(letter.rows, 2148);
        let a4 = place(595.28, 841.89, Resolution::Fine);
        assert_eq!(a4.rows, 2348);
        let a4_std = place(595.28, 841.89, Resolution::Standard);
        assert_eq!(a4_std.rows, 1174);
        // The right edge of the page lands just past pixel 1728.
        let right = letter.transform * hayro::kurbo::Point::new(612.0, 0.0);
        assert!((1728.0..1728.5).contains(&right.x), "{right:?}");
    }

    #[test]
    fn landscape_turns_and_long_pages_are_kept_shrunk_or_cut() {
        let land = place(792.0, 612.0, Resolution::Fine);
        assert_eq!(land.rows, 2148);
        // The top-left corner of the landscape page goes to the bottom-left of the fax page.
        let p = land.transform * hayro::kurbo::Point::new(0.0, 0.0);
        assert!(p.x.abs() < 0.01 && (p.y - 2148.9).abs() < 1.0, "{p:?}");
        // US Legal (14 inches, 13.95 at the fax width) is under B4 length: kept whole at full width.
        let legal = place(612.0, 1008.0, Resolution::Fine);
        assert_eq!((legal.rows, legal.part, legal.pages()), (2734, 2734, 1));
        // 1150 points long is 3120 rows at full width, 1.11 x B4: shrunk to 2809 rows, centred.
        let long = place(612.0, 1150.0, Resolution::Fine);
        assert_eq!((long.rows, long.part, long.pages()), (2809, 2809, 1));
        let left = long.transform * hayro::kurbo::Point::new(0.0, 0.0);
        let right = long.transform * hayro::kurbo::Point::new(612.0, 1150.0);
        assert!(left.x > 80.0 && (left.x + right.x - 1728.0).abs() < 2.0, "{left:?} {right:?}");
        assert!((right.y - 2809.0).abs() < 1.0, "{right:?}");
        // Four widths long: drawn at full width and cut into A4-length pages.
        let receipt = place(612.0, 612.0 * 4.0, Resolution::Fine);
        assert_eq!((receipt.rows, receipt.part, receipt.pages()), (6641, 2292, 3));
        let corner = receipt.transform * hayro::kurbo::Point::new(612.0, 0.0);
        assert!((1728.0..1728.5).contains(&corner.x), "{corner:?}");
    }
}
