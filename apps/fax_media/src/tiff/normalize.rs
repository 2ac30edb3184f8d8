//! Turns any decoded TIFF page into fax pages: 1728 pixels wide, 204x196 (fine) or 204x98 (standard), 1 bit.
//!
//! Kazoo runs ImageMagick for this (`large_tiff_command`, `small_tiff_command`, `resample_image_command`), stretching
//! every page to 1728x2200 at 200x200 dpi. Here a page keeps its proportions: it is scaled to the fax width and its
//! vertical resolution decides fine or standard. Black-and-white pages are scaled by area with a cut-off that keeps
//! thin strokes; grey, palette and colour pages get exactly the treatment of pictures (a threshold for text, a
//! halftone screen for photos, [`crate::render::scale::grey_to_pages`]). Long pages follow the rule of
//! [`crate::page::fit_length`]. A page already in fax geometry is used as it is.

use super::read::{Pixels, Raster};
use crate::error::MediaError;
use crate::page::{FAX_WIDTH, Fit, Page, Resolution, X_DPI, fit_length};
use crate::render::scale::{self, Filter, Layout, Picture};

/// Vertical over horizontal resolution of a page: from its dpi, else its stated aspect ratio, else square.
fn dpi_ratio(dpi: Option<(f64, f64)>, aspect: Option<f64>) -> f64 {
    match (dpi, aspect) {
        (Some((x, y)), _) => y / x,
        (None, Some(a)) if a.is_finite() && a > 0.05 && a < 20.0 => a,
        _ => 1.0,
    }
}

/// The output geometry of a page: its resolution and its number of rows at the fax width.
pub(crate) fn geometry(width: u32, height: u32, dpi: Option<(f64, f64)>, aspect: Option<f64>) -> (Resolution, u32) {
    let ratio = dpi_ratio(dpi, aspect);
    let fine_per_source_row =
        f64::from(FAX_WIDTH) / f64::from(width) / ratio * f64::from(Resolution::Fine.y_dpi()) / f64::from(X_DPI);
    // A page that would need each row drawn twice or more is a standard-resolution page.
    let resolution = if fine_per_source_row >= 1.5 { Resolution::Standard } else { Resolution::Fine };
    (resolution, scale::rows_at_fax_width(width, height, 1.0 / ratio, resolution))
}

/// How many more pages a document may have, and its whole limit (which errors name).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub left: usize,
    pub max: usize,
}

/// Converts a decoded page into one or more fax pages. Black-and-white pages come at the resolution their geometry
/// suggests; grey and colour pages at `target` when given (they are screened, and screens do not survive a change
/// of resolution). More pages than the budget has left is an error, found before any pixel is scaled.
pub(crate) fn to_fax_pages(
    raster: Raster,
    target: Option<Resolution>,
    budget: Budget,
) -> Result<Vec<Page>, MediaError> {
    let pages = scaled(raster, target, budget.left).map_err(|e| match e {
        MediaError::TooManyPages { .. } => MediaError::TooManyPages { max: budget.max },
        other => other,
    })?;
    if pages.len() > budget.left {
        return Err(MediaError::TooManyPages { max: budget.max });
    }
    Ok(pages)
}

/// The fax pages of one decoded page, refusing more than `max_pages`.
fn scaled(raster: Raster, target: Option<Resolution>, max_pages: usize) -> Result<Vec<Page>, MediaError> {
    let (width, height) = (raster.width, raster.height);
    let (resolution, rows) = geometry(width, height, raster.dpi, raster.aspect);
    match raster.pixels {
        Pixels::Grey(luma) => {
            let resolution = target.unwrap_or(resolution);
            let rows = scale::rows_at_fax_width(width, height, 1.0 / dpi_ratio(raster.dpi, raster.aspect), resolution);
            scale::grey_to_pages(&luma, width, height, rows, resolution, 0, max_pages)
        }
        Pixels::Bilevel(bits) => {
            if width == FAX_WIDTH && rows.abs_diff(height) <= 1 {
                // Already at fax geometry: used as it is unless it is long enough to need shrinking.
                match fit_length(height, resolution) {
                    Fit::Whole => return Ok(vec![Page { width, height, resolution, data: bits }]),
                    Fit::Cut { part, pages } if pages <= max_pages => {
                        return Ok(Page { width, height, resolution, data: bits }.cut(part));
                    }
                    Fit::Cut { .. } => return Err(MediaError::TooManyPages { max: max_pages }),
                    Fit::Shrink { .. } => {}
                }
            }
            let layout = Layout::new(rows, resolution, 0, max_pages)?;
            // Thin strokes must survive reduction: a one-pixel line covers `scale` of an output pixel, so the
            // cut-off follows the scale (never below a quarter, never above a half).
            let threshold = ((f64::from(layout.width) / f64::from(width) / 2.0).clamp(0.25, 0.5) * 255.0) as f32;
            let pic = Picture { width, height, pixels: scale::Pixels::Bilevel(&bits) };
            Ok(scale::draw(&pic, &layout, resolution, Filter::Area, |_, darkness, out| {
                for (x, &d) in darkness.iter().enumerate() {
                    if d >= threshold {
                        out[x / 8] |= 0x80 >> (x % 8);
                    }
                }
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fax_geometry_is_recognised() {
        assert_eq!(geometry(1728, 2376, Some((204.0, 196.0)), None), (Resolution::Fine, 2376));
        assert_eq!(geometry(1728, 1188, Some((204.0, 98.0)), None), (Resolution::Standard, 1188));
        // Kazoo's Ghostscript output: 1728x2200 at 200x200 dpi.
        assert_eq!(geometry(1728, 2200, Some((200.0, 200.0)), None), (Resolution::Fine, 2114));
        // A4 at 300 dpi (8.27 inches wide) is enlarged a little to the fax width (8.47 inches).
        assert_eq!(geometry(2480, 3508, Some((300.0, 300.0)), None), (Resolution::Fine, 2348));
        // Unknown resolution with a 2:1 aspect ratio, as a fax at standard resolution.
        assert_eq!(geometry(1728, 1100, None, Some(98.0 / 204.0)), (Resolution::Standard, 1100));
    }

    const TEN: Budget = Budget { left: 10, max: 10 };

    /// A fax-width, fine, black-and-white page `rows` long with a vertical black bar at columns 800..928.
    fn bar_page(rows: u32) -> Raster {
        let mut page = Page::blank(FAX_WIDTH, rows, Resolution::Fine);
        for y in 0..rows {
            page.row_mut(y)[100..116].fill(0xFF);
        }
        Raster {
            width: FAX_WIDTH,
            height: rows,
            dpi: Some((204.0, 196.0)),
            aspect: None,
            pixels: Pixels::Bilevel(page.data),
        }
    }

    fn heights(pages: &[Page]) -> Vec<u32> {
        pages.iter().map(|p| p.height).collect()
    }

    #[test]
    fn long_pages_are_kept_shrunk_or_cut() {
        let whole = to_fax_pages(bar_page(2809), None, TEN).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(heights(&whole), [2809]);
        assert!(whole[0].is_black(800, 0) && !whole[0].is_black(799, 0));
        // 1.14 x B4: shrunk to B4 length and 1517 pixels wide, centred, so the bar moves and narrows.
        let shrunk = to_fax_pages(bar_page(3200), None, TEN).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(heights(&shrunk), [2809]);
        let bar: Vec<u32> = (0..FAX_WIDTH).filter(|&x| shrunk[0].is_black(x, 1400)).collect();
        assert_eq!((bar.first(), bar.last(), bar.len()), (Some(&807), Some(&919), 113));
        let cut = to_fax_pages(bar_page(6000), None, TEN).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(heights(&cut), [2292, 2292, 1416]);
        assert!(cut.iter().all(|p| p.is_black(800, p.height - 1) && !p.is_black(799, 0)));
        let refused = to_fax_pages(bar_page(6000), None, Budget { left: 2, max: 5 }).err();
        assert!(matches!(refused, Some(MediaError::TooManyPages { max: 5 })), "{refused:?}");
        let whole = to_fax_pages(bar_page(2000), None, Budget { left: 0, max: 5 }).err();
        assert!(matches!(whole, Some(MediaError::TooManyPages { max: 5 })), "{whole:?}");
    }

    #[test]
    fn grey_pages_are_drawn_at_the_target_resolution() {
        // A 600-pixel-wide grey page: left half black, right half white, at 72 dpi.
        let (w, h) = (600u32, 100u32);
        let grey: Vec<u8> = (0..w * h).map(|i| if i % w < w / 2 { 0 } else { 255 }).collect();
        let raster = || Raster {
            width: w,
            height: h,
            dpi: Some((72.0, 72.0)),
            aspect: None,
            pixels: Pixels::Grey(grey.clone()),
        };
        let pages = to_fax_pages(raster(), None, TEN).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pages.len(), 1);
        let p = &pages[0];
        // Enlarged 2.88 times: a standard-resolution page, 100 x 2.88 x 98/204 rows.
        assert_eq!((p.width, p.height, p.resolution), (1728, 138, Resolution::Standard));
        assert!(p.is_black(0, 0) && p.is_black(863, p.height / 2));
        assert!(!p.is_black(865, 0) && !p.is_black(1727, p.height - 1));
        let fine = to_fax_pages(raster(), Some(Resolution::Fine), TEN).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((fine[0].height, fine[0].resolution), (277, Resolution::Fine));
    }
}
