//! Turns any decoded TIFF page into fax pages: 1728 pixels wide, 204x196 (fine) or 204x98 (standard), 1 bit.
//!
//! Kazoo runs ImageMagick for this (`large_tiff_command`, `small_tiff_command`, `resample_image_command`), stretching
//! every page to 1728x2200 at 200x200 dpi. Here a page keeps its proportions: it is scaled to the fax width, its
//! vertical resolution decides fine or standard, greys and colours are thresholded, and a page longer than US Legal
//! is cut into A4-length pages. A page already in fax geometry is used as it is.

use super::read::{Pixels, Raster};
use crate::page::{FAX_WIDTH, Page, Resolution, X_DPI};

/// The longest page kept whole, in fine rows: 14 inches (US Legal) at 196 lines per inch.
pub(crate) const MAX_FINE_ROWS: u32 = 2744;

/// The length of the pages a longer page is cut into, in fine rows: 297 mm (A4) at 196 lines per inch.
pub(crate) const A4_FINE_ROWS: u32 = 2292;

/// Rows per page at a resolution, for a length given in fine rows.
fn rows_at(resolution: Resolution, fine_rows: u32) -> u32 {
    match resolution {
        Resolution::Fine => fine_rows,
        Resolution::Standard => fine_rows / 2,
    }
}

/// The output geometry of a page: its resolution and its number of rows at the fax width.
pub(crate) fn geometry(width: u32, height: u32, dpi: Option<(f64, f64)>, aspect: Option<f64>) -> (Resolution, u32) {
    // Vertical over horizontal resolution: how many source rows make the height of one source column's pixel.
    let aspect = match (dpi, aspect) {
        (Some((x, y)), _) => y / x,
        (None, Some(a)) if a.is_finite() && a > 0.05 && a < 20.0 => a,
        _ => 1.0,
    };
    let fine_per_source_row =
        f64::from(FAX_WIDTH) / f64::from(width) / aspect * f64::from(Resolution::Fine.y_dpi()) / f64::from(X_DPI);
    let resolution = if fine_per_source_row >= 1.5 { Resolution::Standard } else { Resolution::Fine };
    let per_row = match resolution {
        Resolution::Fine => fine_per_source_row,
        Resolution::Standard => fine_per_source_row / 2.0,
    };
    let rows = (f64::from(height) * per_row).round().clamp(1.0, f64::from(u32::MAX / 2)) as u32;
    (resolution, rows)
}

/// Converts a decoded page into one or more fax pages.
pub(crate) fn to_fax_pages(raster: &Raster) -> Vec<Page> {
    let (resolution, rows) = geometry(raster.width, raster.height, raster.dpi, raster.aspect);
    let page = match &raster.pixels {
        Pixels::Bilevel(bits) if raster.width == FAX_WIDTH && rows.abs_diff(raster.height) <= 1 => {
            Page { width: FAX_WIDTH, height: raster.height, resolution, data: bits.clone() }
        }
        _ => resample(raster, rows, resolution),
    };
    split(page)
}

/// Cuts a page longer than US Legal into A4-length pages.
pub(crate) fn split(page: Page) -> Vec<Page> {
    let max = rows_at(page.resolution, MAX_FINE_ROWS);
    if page.height <= max {
        return vec![page];
    }
    let part = rows_at(page.resolution, A4_FINE_ROWS) as usize;
    let stride = page.stride();
    page.data
        .chunks(part * stride)
        .map(|chunk| Page {
            width: page.width,
            height: (chunk.len() / stride) as u32,
            resolution: page.resolution,
            data: chunk.to_vec(),
        })
        .collect()
}

/// For each output pixel along one axis, the source pixels it covers and their weights (summing to 1).
struct Weights {
    /// `spans[i]..spans[i + 1]` indexes `taps` for output pixel `i`.
    spans: Vec<usize>,
    taps: Vec<(u32, f32)>,
}

impl Weights {
    fn new(src: u32, dst: u32) -> Weights {
        let scale = f64::from(src) / f64::from(dst);
        let mut spans = Vec::with_capacity(dst as usize + 1);
        let mut taps = Vec::new();
        spans.push(0);
        for o in 0..dst {
            let (f0, f1) = (f64::from(o) * scale, f64::from(o + 1) * scale);
            let mut s = f0.floor() as u32;
            while f64::from(s) < f1 && s < src {
                let w = (f1.min(f64::from(s + 1)) - f0.max(f64::from(s))) / (f1 - f0);
                if w > 0.0 {
                    taps.push((s, w as f32));
                }
                s += 1;
            }
            spans.push(taps.len());
        }
        Weights { spans, taps }
    }

    fn of(&self, o: usize) -> &[(u32, f32)] {
        &self.taps[self.spans[o]..self.spans[o + 1]]
    }
}

/// Scales a page to the fax width and `rows` rows by area averaging, then thresholds it.
fn resample(raster: &Raster, rows: u32, resolution: Resolution) -> Page {
    let (sw, sh) = (raster.width as usize, raster.height);
    let across = Weights::new(raster.width, FAX_WIDTH);
    let down = Weights::new(sh, rows);
    // Thin strokes of a black-and-white page must survive downscaling: a one-pixel line covers `scale` of an output
    // pixel, so the cut-off follows the scale (never below a quarter, never above a half).
    let threshold = match raster.pixels {
        Pixels::Bilevel(_) => (f64::from(FAX_WIDTH) / f64::from(raster.width) / 2.0).clamp(0.25, 0.5),
        Pixels::Grey(_) => 0.5,
    } as f32
        * 255.0;
    let mut page = Page::blank(FAX_WIDTH, rows, resolution);
    let mut darkness = vec![0u8; sw];
    let mut acc = vec![0f32; FAX_WIDTH as usize];
    // The last two source rows scaled across, for reuse by the next output row.
    let mut cache: [(Option<u32>, Vec<f32>); 2] =
        [(None, vec![0f32; FAX_WIDTH as usize]), (None, vec![0f32; FAX_WIDTH as usize])];
    for oy in 0..rows {
        acc.fill(0.0);
        for &(sy, wy) in down.of(oy as usize) {
            let slot = match cache.iter().position(|(y, _)| *y == Some(sy)) {
                Some(i) => i,
                None => {
                    // Replace the entry for the older source row.
                    let i = match (cache[0].0, cache[1].0) {
                        (Some(a), Some(b)) if a > b => 1,
                        (Some(_), None) => 1,
                        _ => 0,
                    };
                    source_darkness(raster, sy, &mut darkness);
                    let row = &mut cache[i].1;
                    for (ox, out) in row.iter_mut().enumerate() {
                        *out = across.of(ox).iter().map(|&(sx, w)| f32::from(darkness[sx as usize]) * w).sum();
                    }
                    cache[i].0 = Some(sy);
                    i
                }
            };
            for (a, v) in acc.iter_mut().zip(&cache[slot].1) {
                *a += v * wy;
            }
        }
        let out = page.row_mut(oy);
        for (x, &a) in acc.iter().enumerate() {
            if a >= threshold {
                out[x / 8] |= 0x80 >> (x % 8);
            }
        }
    }
    page
}

/// Fills `out` with source row `y` as darkness (0 white .. 255 black).
fn source_darkness(raster: &Raster, y: u32, out: &mut [u8]) {
    let w = raster.width as usize;
    match &raster.pixels {
        Pixels::Bilevel(bits) => {
            let stride = w.div_ceil(8);
            let row = &bits[y as usize * stride..][..stride];
            for (x, o) in out.iter_mut().enumerate() {
                *o = if row[x / 8] & (0x80 >> (x % 8)) != 0 { 255 } else { 0 };
            }
        }
        Pixels::Grey(grey) => {
            for (o, &g) in out.iter_mut().zip(&grey[y as usize * w..][..w]) {
                *o = 255 - g;
            }
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

    #[test]
    fn long_pages_are_cut_at_a4_length() {
        let page = Page::blank(FAX_WIDTH, 6000, Resolution::Fine);
        let parts = split(page);
        assert_eq!(parts.iter().map(|p| p.height).collect::<Vec<_>>(), vec![2292, 2292, 1416]);
        assert_eq!(split(Page::blank(FAX_WIDTH, 2744, Resolution::Fine)).len(), 1);
    }

    #[test]
    fn scaling_keeps_black_and_white_areas() {
        // A 600-pixel-wide grey page: left half black, right half white, at 72 dpi.
        let (w, h) = (600u32, 100u32);
        let grey: Vec<u8> = (0..w * h).map(|i| if i % w < w / 2 { 0 } else { 255 }).collect();
        let raster = Raster { width: w, height: h, dpi: Some((72.0, 72.0)), aspect: None, pixels: Pixels::Grey(grey) };
        let pages = to_fax_pages(&raster);
        assert_eq!(pages.len(), 1);
        let p = &pages[0];
        assert_eq!((p.width, p.resolution), (1728, Resolution::Standard));
        assert!(p.is_black(0, 0) && p.is_black(863, p.height / 2));
        assert!(!p.is_black(865, 0) && !p.is_black(1727, p.height - 1));
    }
}
