//! Turns documents into fax images and fax images into PDF, in pure Rust.
//!
//! Ports what Kazoo's `kazoo_convert` (`kz_fax_converter`) does with Ghostscript, ImageMagick, tiff2pdf and
//! LibreOffice: every accepted document becomes pages of a fax TIFF (1728 pixels wide, 204x196 "fine" or 204x98
//! "standard" resolution, 1 bit, G4), and a fax TIFF becomes a PDF with its CCITT data embedded unchanged.
//!
//! The crate is split at one seam: [`page::Page`] is a 1-bit fax page; the TIFF side (reading any TIFF,
//! writing fax TIFFs, TIFF to PDF) and the rendering side (PDF, images, text, office documents to pages) meet there.
//! Every input follows one long-page rule, [`page::fit_length`], and pictures share one route to 1 bit with grey
//! and colour TIFF pages.

pub mod convert;
pub mod error;
pub mod page;
pub mod pool;
pub mod render;
pub mod tiff;

pub use error::MediaError;
