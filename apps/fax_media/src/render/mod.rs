//! Renders documents (PDF, images, plain text, office files, a cover sheet) into fax pages.
//!
//! Ports the rendering half of Kazoo's `kz_fax_converter`, which runs Ghostscript for PDF, ImageMagick's `convert`
//! for images and LibreOffice for office documents. Here PDF goes through `hayro` in-process, images through the
//! `image` crate, plain text and the cover sheet become a small generated PDF, and only office formats still need an
//! external program. Every renderer produces [`Page`]s 1728 pixels wide at the requested [`Resolution`], and every
//! one follows the long-page rule of [`crate::page::fit_length`]: kept whole up to B4 length, shrunk to B4 up to
//! 1.25 times that, cut into A4-length pages beyond.

pub mod cover;
pub mod halftone;
pub mod image;
pub mod office;
pub mod pdf;
pub(crate) mod scale;
pub mod text;

use std::time::Instant;

use crate::error::MediaError;
use crate::page::{Resolution, X_DPI};

/// The limits and settings every renderer honours.
#[derive(Debug, Clone)]
pub struct RenderLimits {
    /// Vertical resolution of the pages produced.
    pub resolution: Resolution,
    /// The most pages one document may produce.
    pub max_pages: usize,
    /// The most pixels one source image may have (decoded), to bound memory.
    pub max_pixels: u64,
    /// When the whole conversion must be over.
    pub deadline: Instant,
    /// How many threads may render pages of one document at once.
    pub threads: usize,
}

impl RenderLimits {
    /// `TimedOut` once the deadline has passed.
    pub fn check_deadline(&self) -> Result<(), MediaError> {
        if Instant::now() >= self.deadline { Err(MediaError::TimedOut) } else { Ok(()) }
    }
}

/// Horizontal pixels per inch over vertical lines per inch: how much a square pixel is squeezed vertically.
pub fn y_ratio(resolution: Resolution) -> f64 {
    f64::from(resolution.y_dpi()) / f64::from(X_DPI)
}
