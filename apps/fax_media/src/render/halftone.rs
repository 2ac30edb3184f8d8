//! Turns grey or premultiplied RGBA rows into packed 1-bit fax rows, by threshold or by an ordered halftone.
//!
//! Ports the last step of Kazoo's `kz_fax_converter` chain, which Ghostscript's `tiffg4` device and ImageMagick's
//! `-compress group4` do there: a page is reduced to black and white. Black-on-white content (text, line art) is
//! cut at 50%; greys (photos, tinted fills) go through a clustered-dot screen, because a dispersed dither
//! (Floyd-Steinberg) makes G4 pages several times larger and costs minutes of line time per page.

use std::sync::LazyLock;

/// Side of the screen's tile, in pixels.
const CELL: usize = 8;

/// How a row is reduced to 1 bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Black where the pixel is darker than 50% grey. For text and line art.
    Threshold,
    /// A 45-degree clustered-dot screen (two dots per 8x8 tile, about 36 lines per inch at 204 dpi), after
    /// clipping the lightest and darkest tones to white and black so paper texture and JPEG noise do not print.
    Halftone,
}

/// Per-tile thresholds, indexed by `[y % 8][x % 8]`, plus the tone curve applied before comparing.
struct Screen {
    cells: [[u8; CELL]; CELL],
    curve: [u8; 256],
}

static THRESHOLD: LazyLock<Screen> = LazyLock::new(|| {
    let mut curve = [0u8; 256];
    for (d, c) in curve.iter_mut().enumerate() {
        *c = d as u8;
    }
    Screen { cells: [[127; CELL]; CELL], curve }
});

static HALFTONE: LazyLock<Screen> = LazyLock::new(clustered_screen);

/// Darkness below this prints white, above `255 - CLIP` prints black.
const CLIP: u32 = 24;

fn clustered_screen() -> Screen {
    // Two dot centres per tile, at (1.5, 1.5) and (5.5, 5.5): a square lattice rotated by 45 degrees.
    // Pixels are ranked by their distance to the nearest centre; dots grow from their centres.
    let centres = [(1.5f64, 1.5f64), (5.5, 5.5)];
    let mut order: Vec<(f64, usize, usize)> = Vec::with_capacity(CELL * CELL);
    for y in 0..CELL {
        for x in 0..CELL {
            let mut best = f64::MAX;
            for (cx, cy) in centres {
                for ox in [-8.0, 0.0, 8.0] {
                    for oy in [-8.0, 0.0, 8.0] {
                        let dx = x as f64 + 0.5 - (cx + ox);
                        let dy = y as f64 + 0.5 - (cy + oy);
                        best = best.min(dx * dx + dy * dy);
                    }
                }
            }
            order.push((best, y, x));
        }
    }
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut cells = [[0u8; CELL]; CELL];
    let n = order.len() as u32;
    for (rank, &(_, y, x)) in order.iter().enumerate() {
        // Thresholds spread evenly over 1..=254 so pure white and pure black stay clean.
        cells[y][x] = (1 + (rank as u32 * 253 + n / 2) / (n - 1)).min(254) as u8;
    }
    let mut curve = [0u8; 256];
    for (d, c) in curve.iter_mut().enumerate() {
        let d = d as u32;
        *c = if d <= CLIP {
            0
        } else if d >= 255 - CLIP {
            255
        } else {
            ((d - CLIP) * 255 / (255 - 2 * CLIP)) as u8
        };
    }
    Screen { cells, curve }
}

fn screen(tone: Tone) -> &'static Screen {
    match tone {
        Tone::Threshold => &THRESHOLD,
        Tone::Halftone => &HALFTONE,
    }
}

/// Darkness (0 = white, 255 = black) of a premultiplied RGBA pixel composited over white paper.
#[inline(always)]
fn premul_darkness(p: &[u8]) -> u8 {
    let (r, g, b, a) = (p[0] as u32, p[1] as u32, p[2] as u32, p[3] as u32);
    let luma = (77 * r + 150 * g + 29 * b + 128) >> 8;
    a.saturating_sub(luma) as u8
}

/// Whether 32 bytes are all zero, read as four machine words.
#[inline(always)]
fn is_zero(chunk: &[u8]) -> bool {
    let word = |i: usize| {
        u64::from_ne_bytes([
            chunk[i],
            chunk[i + 1],
            chunk[i + 2],
            chunk[i + 3],
            chunk[i + 4],
            chunk[i + 5],
            chunk[i + 6],
            chunk[i + 7],
        ])
    };
    (word(0) | word(8) | word(16) | word(24)) == 0
}

/// A change of darkness towards a neighbour larger than this marks an edge (of a glyph, a rule), which is cut at
/// 50% rather than screened, so text keeps clean edges even when drawn over an opaque white box.
const EDGE: i32 = 64;

/// Packs a rendered page of premultiplied RGBA pixels (`width` x `height`, transparent where nothing was drawn)
/// into `out` (`height` rows of `stride` bytes, MSB first, 1 = black).
///
/// Pixels over bare paper (alpha below 255: anti-aliased edges of text and lines) are cut at 50%. Opaque pixels
/// of a mid grey or colour (pictures, tinted fills) go through the halftone screen, unless a neighbour differs
/// sharply, which marks the edge of something drawn over an opaque background. Runs of 8 fully transparent
/// pixels are skipped, which is most of a text page.
pub fn pack_rgba_page(rgba: &[u8], width: usize, height: usize, stride: usize, out: &mut [u8]) {
    let s = screen(Tone::Halftone);
    let row_bytes = width * 4;
    for y in 0..height {
        let row = &rgba[y * row_bytes..(y + 1) * row_bytes];
        let above = if y > 0 { &rgba[(y - 1) * row_bytes..y * row_bytes] } else { row };
        let below = if y + 1 < height { &rgba[(y + 1) * row_bytes..(y + 2) * row_bytes] } else { row };
        let cells = &s.cells[y % CELL];
        let dst = &mut out[y * stride..(y + 1) * stride];
        for (i, chunk) in row.chunks(32).enumerate() {
            if chunk.len() == 32 && is_zero(chunk) {
                dst[i] = 0;
                continue;
            }
            let mut byte = 0u8;
            for (k, px) in chunk.chunks_exact(4).enumerate() {
                let x = i * 8 + k;
                let d = premul_darkness(px);
                let tone = s.curve[d as usize];
                let black = if px[3] < 255 || tone == 0 || tone == 255 {
                    d > 127
                } else {
                    let at = |r: &[u8], x: usize| i32::from(premul_darkness(&r[x * 4..x * 4 + 4]));
                    let di = i32::from(d);
                    let left = if x > 0 { at(row, x - 1) } else { di };
                    let right = if x + 1 < width { at(row, x + 1) } else { di };
                    let edge = (di - left).abs() > EDGE
                        || (di - right).abs() > EDGE
                        || (di - at(above, x)).abs() > EDGE
                        || (di - at(below, x)).abs() > EDGE;
                    if edge { d > 127 } else { tone > cells[k] }
                };
                byte |= u8::from(black) << (7 - k);
            }
            dst[i] = byte;
        }
        for b in dst.iter_mut().skip(width.div_ceil(8)) {
            *b = 0;
        }
    }
}

/// Packs one row of 8-bit grey pixels (0 = black, 255 = white) into `out`, MSB first, 1 = black.
pub fn pack_luma_row(luma: &[u8], y: usize, tone: Tone, out: &mut [u8]) {
    let s = screen(tone);
    let cells = &s.cells[y % CELL];
    let curve = &s.curve;
    out.fill(0);
    for (x, &l) in luma.iter().enumerate() {
        let d = curve[(255 - l) as usize];
        if d > cells[x % CELL] {
            out[x / 8] |= 0x80 >> (x % 8);
        }
    }
}

/// Chooses how to reduce a grey picture: pictures that are nearly all paper white and ink black (scanned or drawn
/// text) are thresholded; anything with a real share of mid greys (photos, gradients) is halftoned.
pub fn classify_luma(luma: &[u8]) -> Tone {
    if luma.is_empty() {
        return Tone::Threshold;
    }
    // Sample at most ~64k pixels: the decision only needs proportions.
    let step = (luma.len() / 65_536).max(1);
    let (mut mid, mut total) = (0usize, 0usize);
    for &l in luma.iter().step_by(step) {
        total += 1;
        if (48..=207).contains(&l) {
            mid += 1;
        }
    }
    // Anti-aliased or scaled text has grey edges, typically under 10% of its pixels.
    if mid * 100 > total * 12 { Tone::Halftone } else { Tone::Threshold }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_cuts_at_half() {
        let mut out = [0u8; 1];
        let luma = [0, 127, 128, 255, 10, 200, 0, 255];
        pack_luma_row(&luma, 0, Tone::Threshold, &mut out);
        assert_eq!(out[0], 0b1100_1010);
    }

    #[test]
    fn premultiplied_transparent_is_paper() {
        // transparent, opaque black, opaque white, half-covered black, opaque dark red, then three transparent
        let px: [[u8; 4]; 8] =
            [[0; 4], [0, 0, 0, 255], [255; 4], [0, 0, 0, 128], [128, 0, 0, 255], [0; 4], [0; 4], [0; 4]];
        let rgba: Vec<u8> = px.iter().flatten().copied().collect();
        let mut out = [0xffu8; 2];
        pack_rgba_page(&rgba, 8, 1, 2, &mut out);
        assert_eq!(out, [0b0101_1000, 0]);
    }

    #[test]
    fn opaque_greys_are_screened_but_edges_are_cut() {
        // 64x64: left half an opaque 50% grey field, right half opaque white with a black bar, all premultiplied.
        let (w, h) = (64usize, 64usize);
        let mut rgba = vec![255u8; w * h * 4];
        for y in 0..h {
            for x in 0..w {
                let p = &mut rgba[(y * w + x) * 4..(y * w + x) * 4 + 4];
                if x < 32 {
                    p[..3].fill(128);
                } else if (40..44).contains(&x) {
                    p[..3].fill(0);
                } else if x == 44 {
                    // the anti-aliased right edge of the bar over opaque white: a mid grey next to white
                    p[..3].fill(100);
                }
            }
        }
        let mut out = vec![0u8; 8 * h];
        pack_rgba_page(&rgba, w, h, 8, &mut out);
        let black = |x: usize, y: usize| out[y * 8 + x / 8] & (0x80 >> (x % 8)) != 0;
        let field = (4..28).flat_map(|x| (4..60).map(move |y| (x, y))).filter(|&(x, y)| black(x, y)).count();
        let share = field as f64 / (24.0 * 56.0);
        assert!((0.35..0.65).contains(&share), "grey field {share}");
        // The edge column is cut at 50% on every row, not screened.
        assert!((0..h).all(|y| black(44, y) && black(41, y) && !black(46, y)));
    }

    #[test]
    fn halftone_reproduces_grey_levels_and_keeps_extremes_clean() {
        for (grey, lo, hi) in [(255u8, 0.0, 0.0), (0, 1.0, 1.0), (128, 0.4, 0.6), (64, 0.65, 0.85), (192, 0.15, 0.35)] {
            let row = vec![grey; 64];
            let mut black = 0u32;
            for y in 0..64 {
                let mut out = [0u8; 8];
                pack_luma_row(&row, y, Tone::Halftone, &mut out);
                black += out.iter().map(|b| b.count_ones()).sum::<u32>();
            }
            let share = black as f64 / 4096.0;
            assert!(share >= lo && share <= hi, "grey {grey}: {share}");
        }
    }

    #[test]
    fn photos_are_halftoned_and_text_is_not() {
        let gradient: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
        assert_eq!(classify_luma(&gradient), Tone::Halftone);
        let mut text = vec![255u8; 100_000];
        for (i, p) in text.iter_mut().enumerate() {
            if i % 10 == 0 {
                *p = 0;
            } else if i % 10 == 1 {
                *p = 128;
            }
        }
        assert_eq!(classify_luma(&text), Tone::Threshold);
    }
}
