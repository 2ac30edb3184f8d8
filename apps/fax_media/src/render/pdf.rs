//! Renders PDF pages into fax pages with `hayro`, a pure-Rust PDF rasteriser, on up to `threads` threads.
//!
//! Ports Kazoo's `fax.convert_pdf_command` (`gs -sDEVICE=tiffg4 -r200x200 -g1728x2200 -dPDFFitPage`). Each page is
//! scaled so its width fills the 1728-pixel fax line (landscape pages are turned a quarter turn first), its length
//! follows the page's own proportions (Letter 2148 rows, A4 2348 at fine resolution), and pages longer than B4 are
//! shrunk to fit. Unlike Ghostscript, which renders nothing and exits 0 for a password-protected file, an encrypted
//! or damaged PDF is an error here, and so is a PDF without pages.

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
use super::{MAX_LENGTH_INCHES, RenderLimits, rows_for_inches, y_ratio};
use crate::error::MediaError;
use crate::page::{FAX_WIDTH, Page, Resolution};

/// Pixels per point that fill the fax line; slightly over 1728 so rounding never leaves a 1727-pixel row.
const LINE_PIXELS: f64 = FAX_WIDTH as f64 + 0.25;

/// Where a PDF page lands on the fax page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Rows of the fax page.
    pub rows: u32,
    /// Device transform from the page's own (rotated, cropped, y-down) space to fax pixels.
    pub transform: Affine,
}

/// Computes where a page of `width` x `height` points (after its own /Rotate) goes on a fax page.
pub fn place(width: f64, height: f64, resolution: Resolution) -> Placement {
    let landscape = width > height;
    let (pw, ph) = if landscape { (height, width) } else { (width, height) };
    // A quarter turn counter-clockwise: the page's top edge becomes the fax page's left edge.
    let turn = if landscape { Affine::new([0.0, -1.0, 1.0, 0.0, 0.0, width]) } else { Affine::IDENTITY };
    let mut sx = LINE_PIXELS / pw;
    let mut sy = sx * y_ratio(resolution);
    let max_rows = rows_for_inches(MAX_LENGTH_INCHES, resolution);
    let mut rows = (ph * sy).floor().max(1.0) as u32;
    let mut x_off = 0.0;
    if rows > max_rows {
        let shrink = f64::from(max_rows) / (ph * sy);
        sx *= shrink;
        sy *= shrink;
        rows = max_rows;
        x_off = ((f64::from(FAX_WIDTH) - pw * sx) / 2.0).floor();
    }
    Placement { rows, transform: Affine::translate((x_off, 0.0)) * Affine::scale_non_uniform(sx, sy) * turn }
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

    fn render(&mut self, page: &'a PdfPage<'a>, resolution: Resolution) -> Page {
        let (w, h) = page.render_dimensions();
        let placement = place(f64::from(w), f64::from(h), resolution);
        let rows = placement.rows.min(u32::from(u16::MAX)) as u16;
        let Canvas { ctx, pixmap, resources } = &mut self.canvas;
        ctx.reset_and_resize(FAX_WIDTH as u16, rows);
        pixmap.resize(FAX_WIDTH as u16, rows);
        let transform = placement.transform * page.initial_transform(true).to_kurbo();
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
    let threads = limits.threads.clamp(1, n);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done: Mutex<Vec<Option<Page>>> = Mutex::new(vec![None; n]);
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
                catch_unwind(AssertUnwindSafe(|| worker.render(&pages[i], limits.resolution))).map_err(|_| {
                    clean = false;
                    MediaError::corrupt(format!("page {} cannot be drawn", i + 1))
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
    let out: Vec<Page> = done.into_iter().flatten().collect();
    if out.len() != n {
        return Err(MediaError::corrupt("some pages could not be drawn"));
    }
    debug!(pages = n, threads, "pdf rendered");
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
    fn landscape_turns_and_long_pages_shrink() {
        let land = place(792.0, 612.0, Resolution::Fine);
        assert_eq!(land.rows, 2148);
        // The top-left corner of the landscape page goes to the bottom-left of the fax page.
        let p = land.transform * hayro::kurbo::Point::new(0.0, 0.0);
        assert!(p.x.abs() < 0.01 && (p.y - 2148.9).abs() < 1.0, "{p:?}");
        let receipt = place(612.0, 612.0 * 4.0, Resolution::Fine);
        assert_eq!(receipt.rows, rows_for_inches(MAX_LENGTH_INCHES, Resolution::Fine));
        let left = receipt.transform * hayro::kurbo::Point::new(0.0, 0.0);
        let right = receipt.transform * hayro::kurbo::Point::new(612.0, 0.0);
        assert!(left.x > 400.0 && (left.x + right.x - 1728.0).abs() < 2.0, "{left:?} {right:?}");
    }
}
