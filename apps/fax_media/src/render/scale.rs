//! Scales a picture (a decoded image, a TIFF page) to the fax width under the long-page rule, row by row, and
//! reduces it to 1 bit.
//!
//! Ports the `-resample`/`-resize` step of Kazoo's ImageMagick commands (`fax.convert_image_command`,
//! `large_tiff_command`, `resample_image_command`). Pictures and TIFF pages with more than one bit per sample meet
//! in [`grey_to_pages`]: scaled with a triangle filter, then thresholded if they look like black-on-white text or
//! screened if they are photos, so a grey or colour TIFF photo prints like the same photo sent as a PNG.
//! Black-and-white TIFF pages share the scaler with an area filter and a cut-off that keeps thin strokes.
//! Scaling streams rows: besides the source, only a few scaled rows and the 1-bit result are held in memory.

use std::collections::VecDeque;

use super::halftone::{classify_luma, pack_luma_row};
use super::y_ratio;
use crate::error::MediaError;
use crate::page::{FAX_WIDTH, Fit, Page, Resolution, fit_length};

/// How source pixels are weighed when scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Each output pixel is the average of the source area it covers: no blur, for black-and-white pages.
    Area,
    /// Linear interpolation when enlarging, a triangle as wide as two output pixels when reducing: smooth tones.
    Triangle,
}

/// The most source pixels one output pixel draws on. Past that (a reduction of 32 times or more, which only an
/// absurd page such as one row of fifty million pixels needs) the source pixels are sampled evenly, so the weights
/// stay small whatever the page's shape.
const MAX_TAPS: usize = 64;

/// For each output pixel along one axis, the source pixels it draws on and their weights (summing to 1).
struct Weights {
    /// `spans[i]..spans[i + 1]` indexes `taps` for output pixel `i`.
    spans: Vec<usize>,
    taps: Vec<(u32, f32)>,
}

impl Weights {
    /// Weights for scaling `src` pixels (at least 1) to `dst`.
    fn new(src: u32, dst: u32, filter: Filter) -> Weights {
        let src = src.max(1);
        let scale = f64::from(src) / f64::from(dst);
        let mut spans = Vec::with_capacity(dst as usize + 1);
        let mut taps = Vec::new();
        let mut one: Vec<(u32, f64)> = Vec::new();
        spans.push(0);
        for o in 0..dst {
            one.clear();
            match filter {
                Filter::Area => {
                    let (f0, f1) = (f64::from(o) * scale, f64::from(o + 1) * scale);
                    let mut s = f0.floor() as u32;
                    while f64::from(s) < f1 && s < src {
                        one.push((s, f1.min(f64::from(s + 1)) - f0.max(f64::from(s))));
                        s += 1;
                    }
                }
                Filter::Triangle => {
                    let centre = (f64::from(o) + 0.5) * scale - 0.5;
                    let radius = scale.max(1.0);
                    let first = (centre - radius).floor().max(0.0) as u32;
                    let last = ((centre + radius).ceil().max(0.0) as u32).min(src - 1);
                    for s in first..=last {
                        one.push((s, 1.0 - (f64::from(s) - centre).abs() / radius));
                    }
                }
            }
            one.retain(|t| t.1 > 1e-9);
            if one.len() > MAX_TAPS {
                let step = one.len().div_ceil(MAX_TAPS);
                let mut i = 0;
                one.retain(|_| {
                    i += 1;
                    (i - 1) % step == 0
                });
            }
            if one.is_empty() {
                let nearest = ((f64::from(o) + 0.5) * scale).floor().clamp(0.0, f64::from(src - 1)) as u32;
                one.push((nearest, 1.0));
            }
            let total: f64 = one.iter().map(|t| t.1).sum();
            taps.extend(one.iter().map(|&(s, w)| (s, (w / total) as f32)));
            spans.push(taps.len());
        }
        Weights { spans, taps }
    }

    fn of(&self, o: usize) -> &[(u32, f32)] {
        &self.taps[self.spans[o]..self.spans[o + 1]]
    }

    /// The first and last source pixel output pixel `o` draws on.
    fn range(&self, o: usize) -> (u32, u32) {
        let taps = self.of(o);
        (taps.first().map_or(0, |t| t.0), taps.last().map_or(0, |t| t.0))
    }
}

/// The pixels of a picture to scale.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pixels<'a> {
    /// Packed rows of `width.div_ceil(8)` bytes, most significant bit first, 1 = black.
    Bilevel(&'a [u8]),
    /// One byte per pixel, 0 = black, 255 = white.
    Grey(&'a [u8]),
}

/// A picture to scale onto fax pages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Picture<'a> {
    pub width: u32,
    pub height: u32,
    pub pixels: Pixels<'a>,
}

impl Picture<'_> {
    /// Fills `out` with row `y` as darkness (0 white .. 255 black).
    fn darkness(&self, y: u32, out: &mut [u8]) {
        let w = self.width as usize;
        match self.pixels {
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
}

/// Luminance of an 8-bit RGB colour with the sRGB (Rec. 709) weights. Pictures and TIFF pages both use it, so the
/// same colours give the same greys whatever the file format.
pub(crate) fn luma(r: u32, g: u32, b: u32) -> u32 {
    (2126 * r + 7152 * g + 722 * b) / 10_000
}

/// A grey `l` with coverage `a` (255 opaque) over white paper, rounded as for pictures.
pub(crate) fn over_paper(l: u32, a: u32) -> u8 {
    (255 - (a * (255 - l.min(255)) + 127) / 255) as u8
}

/// Rows a picture takes once scaled to the full fax width, its pixels `pixel_aspect` times as tall as they are
/// wide.
pub(crate) fn rows_at_fax_width(width: u32, height: u32, pixel_aspect: f64, resolution: Resolution) -> u32 {
    let rows = f64::from(height) * pixel_aspect * f64::from(FAX_WIDTH) / f64::from(width.max(1)) * y_ratio(resolution);
    rows.round().clamp(1.0, f64::from(u32::MAX / 2)) as u32
}

/// Where a scaled picture lands on fax pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Width of the scaled picture: the fax width, or less when the page is shrunk.
    pub width: u32,
    /// Rows of the scaled picture.
    pub rows: u32,
    /// Its first column: it is centred across.
    pub x_off: u32,
    /// Rows of the page drawn before any cut: the picture's, or more where the caller wants white paper below.
    pub page_rows: u32,
    /// Rows of each fax page when the drawn page is cut into several.
    pub part: Option<u32>,
}

impl Layout {
    /// Applies the long-page rule to a picture `natural_rows` long at the full fax width. Pages are at least
    /// `min_rows` long (white below the picture); more than `max_pages` pages is an error, found before any pixel
    /// is drawn.
    pub(crate) fn new(
        natural_rows: u32,
        resolution: Resolution,
        min_rows: u32,
        max_pages: usize,
    ) -> Result<Layout, MediaError> {
        let natural = natural_rows.max(1);
        let (width, rows, part, pages) = match fit_length(natural, resolution) {
            Fit::Whole => (FAX_WIDTH, natural, None, 1),
            Fit::Shrink { rows } => {
                let width = (f64::from(FAX_WIDTH) * f64::from(rows) / f64::from(natural)).round() as u32;
                (width.clamp(1, FAX_WIDTH), rows, None, 1)
            }
            Fit::Cut { part, pages } => (FAX_WIDTH, natural, Some(part), pages),
        };
        if pages > max_pages {
            return Err(MediaError::TooManyPages { max: max_pages });
        }
        let page_rows = if part.is_some() { rows } else { rows.max(min_rows) };
        Ok(Layout { width, rows, x_off: (FAX_WIDTH - width) / 2, page_rows, part })
    }
}

/// Scales `pic` as `layout` says with `filter`, and hands each scaled row to `pack` (as darkness across the whole
/// fax width, white outside the picture) to be packed into the page row it is given, then cuts the page if the
/// layout says so. `pack` gets the row's number on the drawn page.
pub(crate) fn draw(
    pic: &Picture,
    layout: &Layout,
    resolution: Resolution,
    filter: Filter,
    mut pack: impl FnMut(u32, &[f32], &mut [u8]),
) -> Vec<Page> {
    let across = Weights::new(pic.width, layout.width, filter);
    let down = Weights::new(pic.height, layout.rows, filter);
    let part = layout.part.unwrap_or(layout.page_rows).max(1);
    let mut pages: Vec<Page> = (0..layout.page_rows.div_ceil(part))
        .map(|i| Page::blank(FAX_WIDTH, part.min(layout.page_rows - i * part), resolution))
        .collect();
    let (x0, tw) = (layout.x_off as usize, layout.width as usize);
    let mut source = vec![0u8; pic.width as usize];
    // The source rows the current output row draws on, scaled across; rows leave at the front as output moves down.
    let mut window: VecDeque<(u32, Vec<f32>)> = VecDeque::new();
    let mut spare: Vec<Vec<f32>> = Vec::new();
    let mut line = vec![0f32; FAX_WIDTH as usize];
    for oy in 0..layout.rows {
        let (lo, hi) = down.range(oy as usize);
        while window.front().is_some_and(|(y, _)| *y < lo) {
            if let Some((_, buf)) = window.pop_front() {
                spare.push(buf);
            }
        }
        let mut next = window.back().map_or(lo, |(y, _)| y + 1);
        while next <= hi {
            pic.darkness(next, &mut source);
            let mut buf = spare.pop().unwrap_or_else(|| vec![0f32; tw]);
            for (ox, out) in buf.iter_mut().enumerate() {
                *out = across.of(ox).iter().map(|&(sx, w)| f32::from(source[sx as usize]) * w).sum();
            }
            window.push_back((next, buf));
            next += 1;
        }
        let first = window.front().map_or(lo, |(y, _)| *y);
        let acc = &mut line[x0..x0 + tw];
        acc.fill(0.0);
        for &(sy, wy) in down.of(oy as usize) {
            for (a, v) in acc.iter_mut().zip(&window[(sy - first) as usize].1) {
                *a += v * wy;
            }
        }
        pack(oy, &line, pages[(oy / part) as usize].row_mut(oy % part));
    }
    pages
}

/// Reduces a grey picture (`width` x `height`, one byte a pixel, 0 = black) to fax pages: scaled to the fax width
/// (`natural_rows` long there) under the long-page rule, at least `min_rows` long, then thresholded if it reads as
/// black-on-white text or screened if it is a photo. Pictures and grey or colour TIFF pages both come here.
pub(crate) fn grey_to_pages(
    luma: &[u8],
    width: u32,
    height: u32,
    natural_rows: u32,
    resolution: Resolution,
    min_rows: u32,
    max_pages: usize,
) -> Result<Vec<Page>, MediaError> {
    let tone = classify_luma(luma);
    let layout = Layout::new(natural_rows, resolution, min_rows, max_pages)?;
    let pic = Picture { width, height, pixels: Pixels::Grey(luma) };
    let mut grey = vec![255u8; FAX_WIDTH as usize];
    Ok(draw(&pic, &layout, resolution, Filter::Triangle, |y, darkness, out| {
        for (g, &d) in grey.iter_mut().zip(darkness) {
            *g = 255 - d.round().clamp(0.0, 255.0) as u8;
        }
        pack_luma_row(&grey, y as usize, tone, out);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triangle_weights_keep_size_interpolate_and_average() {
        // The same size: each output pixel is its source pixel.
        let same = Weights::new(5, 5, Filter::Triangle);
        assert!((0..5).all(|o| same.of(o) == [(o as u32, 1.0)]));
        // Twice as large: pixels between two sources blend them 3:1 and 1:3.
        let up = Weights::new(2, 4, Filter::Triangle);
        assert_eq!(up.of(1), [(0, 0.75), (1, 0.25)]);
        assert_eq!(up.of(0), [(0, 1.0)]);
        // Half as large: each output pixel draws on four source pixels, symmetric around its centre.
        let down = Weights::new(8, 4, Filter::Triangle);
        assert_eq!(down.of(1), [(1, 0.125), (2, 0.375), (3, 0.375), (4, 0.125)]);
        // A row five million pixels long: each of the 1728 outputs samples at most 64 of its 5800 source pixels.
        let absurd = Weights::new(5_000_000, 1728, Filter::Triangle);
        assert!(absurd.taps.len() <= 1728 * MAX_TAPS && absurd.of(1000).len() > MAX_TAPS / 2);
        for w in [&same, &up, &down, &absurd] {
            for o in 0..w.spans.len() - 1 {
                assert!((w.of(o).iter().map(|t| t.1).sum::<f32>() - 1.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn layout_keeps_shrinks_or_cuts_and_pads_to_paper() {
        let a4 = Resolution::Fine.rows_for_mm(crate::page::A4_LENGTH_MM);
        let short = Layout::new(1245, Resolution::Fine, a4, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((short.width, short.rows, short.page_rows, short.part), (FAX_WIDTH, 1245, 2292, None));
        // 3200 rows is 1.14 x B4: shrunk to 2809 rows, 1517 pixels wide, centred.
        let long = Layout::new(3200, Resolution::Fine, a4, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((long.width, long.rows, long.x_off, long.part), (1517, 2809, 105, None));
        let scroll = Layout::new(9000, Resolution::Fine, 0, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((scroll.width, scroll.rows, scroll.page_rows, scroll.part), (FAX_WIDTH, 9000, 9000, Some(2292)));
        let refused = Layout::new(9000, Resolution::Fine, 0, 3).err();
        assert!(matches!(refused, Some(MediaError::TooManyPages { max: 3 })), "{refused:?}");
    }

    #[test]
    fn a_long_grey_scroll_is_cut_into_a4_pages_with_every_row() {
        // 200 x 1000 grey, a black bar across every 100th row: 8301 rows at the fax width, cut into 4 pages.
        let (w, h) = (200u32, 1000u32);
        let luma: Vec<u8> = (0..w * h).map(|i| if (i / w) % 100 == 50 { 0 } else { 255 }).collect();
        let rows = rows_at_fax_width(w, h, 1.0, Resolution::Fine);
        assert_eq!(rows, 8301);
        let pages = grey_to_pages(&luma, w, h, rows, Resolution::Fine, 0, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pages.iter().map(|p| p.height).collect::<Vec<_>>(), [2292, 2292, 2292, 1425]);
        // Ten bars, each about 8 rows thick, none lost at the cuts.
        let bars: usize = pages
            .iter()
            .map(|p| (1..p.height).filter(|&y| p.is_black(864, y) && !p.is_black(864, y - 1)).count())
            .sum();
        assert_eq!(bars, 10);
    }
}
