//! One long-page rule for PDF, TIFF and pictures: up to B4 length (364 mm) a page is kept whole, up to 1.25 x B4
//! it is shrunk to B4 length and centred, beyond it is cut into A4-length pages. The documents are written by
//! Ghostscript (pdfwrite) and ImageMagick.

mod tiff_util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fax_media::convert::{ConvertOptions, Input, convert};
use fax_media::page::{FAX_WIDTH, Page};
use fax_media::tiff;
use tiff_util::{agreement, itu_dir, magick, run};

/// At fine resolution: B4 length is 2809 rows, A4 length 2292.
const B4_ROWS: u32 = 2809;
const A4_ROWS: u32 = 2292;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Converts one file at fine resolution; returns the fax TIFF and its pages.
fn fax(path: &Path) -> (Vec<u8>, Vec<Page>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let opts = ConvertOptions { timeout: Duration::from_secs(120), ..Default::default() };
    let fax =
        convert(&[Input::new(bytes).with_filename(name)], &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pages = tiff::read_pages(&fax.tiff).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(pages.len(), fax.pages as usize);
    (fax.tiff, pages)
}

fn heights(pages: &[Page]) -> Vec<u32> {
    pages.iter().map(|p| p.height).collect()
}

/// The first and last column and the last row holding any black pixel.
fn extent(page: &Page) -> (u32, u32, u32) {
    let cols: Vec<u32> = (0..page.width).filter(|&x| (0..page.height).any(|y| page.is_black(x, y))).collect();
    let last_row = (0..page.height).rev().find(|&y| page.row(y).iter().any(|&b| b != 0)).unwrap_or(0);
    (cols.first().copied().unwrap_or(0), cols.last().copied().unwrap_or(0), last_row)
}

/// Pages stacked back into one long page.
fn stack(pages: &[Page]) -> Page {
    let mut all = pages[0].clone();
    for p in &pages[1..] {
        all.data.extend_from_slice(&p.data);
        all.height += p.height;
    }
    all
}

// ---------------------------------------------------------------------------------------------------------------
// PDF

/// Three pages: US Legal, a page 1150 points long, and an 80 mm till receipt 2000 points long. Each has a 4-point
/// frame 6 points inside its edge, and rules 2 points thick every 100 points from the bottom.
const PAGES_PS: &str = r"%!PS
/page { /h exch def /w exch def
  << /PageSize [w h] >> setpagedevice
  4 setlinewidth newpath 6 6 w 12 sub h 12 sub rectstroke
  2 setlinewidth 100 100 h 1 sub { /y exch def newpath 20 y moveto w 20 sub y lineto stroke } for
  showpage } def
612 1008 page
612 1150 page
226 2000 page
";

#[test]
fn pdf_pages_are_kept_shrunk_or_cut() {
    let dir = tempdir();
    let ps = dir.path().join("pages.ps");
    std::fs::write(&ps, PAGES_PS).unwrap_or_else(|e| panic!("{e}"));
    let pdf = dir.path().join("pages.pdf");
    let output = format!("-sOutputFile={}", arg(&pdf));
    run("gs", &["-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite", &output, &arg(&ps)]);
    let (_, pages) = fax(&pdf);
    // Legal: 2734 rows at full width. 1150 points: 3120 rows, shrunk to B4. The receipt: 14694 rows, 7 pages.
    assert_eq!(heights(&pages), [2734, B4_ROWS, A4_ROWS, A4_ROWS, A4_ROWS, A4_ROWS, A4_ROWS, A4_ROWS, 942]);

    // Legal: the frame reaches both sides (6 points in is 17 pixels) and the bottom.
    let (left, right, bottom) = extent(&pages[0]);
    eprintln!("legal: columns {left}..{right}, last row {bottom}");
    assert!(left.abs_diff(11) <= 3 && right.abs_diff(1716) <= 3 && bottom.abs_diff(2725) <= 3);

    // Shrunk by 2809/3120: 1556 pixels wide, centred, and the frame's bottom edge near the last row.
    let (left, right, bottom) = extent(&pages[1]);
    eprintln!("shrunk: columns {left}..{right}, last row {bottom}");
    assert!(left.abs_diff(86 + 10) <= 3 && right.abs_diff(86 + 1556 - 11) <= 3 && bottom.abs_diff(2800) <= 3);
    assert!((left + right).abs_diff(FAX_WIDTH - 1) <= 2, "not centred: {left} {right}");

    // The receipt at full width (7.647 pixels a point), cut: the left side of its frame runs down every row of
    // every page without a gap, and its 19 inner rules are evenly spaced across the cuts.
    let receipt = stack(&pages[2..]);
    assert_eq!(receipt.height, 14694);
    let frame_x = 46;
    let gaps = (40..receipt.height - 40).filter(|&y| !receipt.is_black(frame_x, y)).count();
    assert_eq!(gaps, 0, "the frame is broken at a cut");
    let ruled = |y: u32| (200..1500).all(|x| receipt.is_black(x, y));
    // Rows 100 pixels in from the ends: the frame's own top and bottom edges are left out.
    let starts: Vec<u32> = (100..receipt.height - 100).filter(|&y| ruled(y) && !ruled(y - 1)).collect();
    eprintln!("receipt rules start at rows {starts:?}");
    assert_eq!(starts.len(), 19);
    for (i, &y) in starts.iter().enumerate() {
        // From the top: the rule 1900 - 100 i points above the bottom, its top edge 1 point above its centre.
        let want = (99.0 + 100.0 * i as f64) * 7.3471;
        assert!((f64::from(y) - want).abs() <= 3.0, "rule {i} at row {y}, expected {want:.0}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// TIFF

#[test]
fn tiff_pages_are_kept_shrunk_or_cut() {
    let dir = tempdir();
    let d = dir.path();
    let chart = arg(&itu_dir().join("itu1.tif"));
    // ITU chart 1 (2376 rows) with white paper added below it, at fax resolution, Group 4.
    let longer = |rows: u32, name: &str| {
        let extent = format!("1728x{rows}");
        magick(
            d,
            &[&chart, "-background", "white", "-gravity", "north", "-extent", &extent, "-density", "204x196"]
                .into_iter()
                .chain(["-compress", "group4"])
                .collect::<Vec<_>>(),
            name,
        )
    };

    // 2800 rows, under B4 length: a fax as it is, passed through byte for byte.
    let whole = longer(2800, "whole.tif");
    let bytes = std::fs::read(&whole).unwrap_or_else(|e| panic!("{e}"));
    assert!(tiff::is_fax_ready(&bytes), "a page under B4 length is ready to send");
    let (sent, pages) = fax(&whole);
    assert!(sent == bytes, "the fax TIFF was not passed through untouched");
    assert_eq!(heights(&pages), [2800]);

    // 3200 rows: shrunk to B4 length, 1517 pixels wide and centred, like ImageMagick's own box-filter reduction.
    let shrink = longer(3200, "shrink.tif");
    assert!(!tiff::is_fax_ready(&std::fs::read(&shrink).unwrap_or_else(|e| panic!("{e}"))));
    let (_, pages) = fax(&shrink);
    assert_eq!(heights(&pages), [B4_ROWS]);
    let reference = magick(
        d,
        &[&arg(&shrink), "-filter", "box", "-resize", "1517x2809!", "-threshold", "56%"]
            .into_iter()
            .chain(["-background", "white", "-gravity", "center", "-extent", "1728x2809"])
            .collect::<Vec<_>>(),
        "shrink-reference.pbm",
    );
    let want = tiff_util::read_pbm(&std::fs::read(&reference).unwrap_or_else(|e| panic!("{e}")));
    let (left, right, _) = extent(&pages[0]);
    let share = agreement(&pages[0], &want);
    eprintln!("shrunk tiff: columns {left}..{right}, {:.3}% of pixels agree with ImageMagick", share * 100.0);
    assert!(left >= 105 && right <= 105 + 1517, "{left} {right}");
    assert!(share >= 0.98, "{share}");

    // Three charts one under the other (7128 rows): cut into A4-length pages, every row kept.
    let mut args = vec![chart.as_str(); 3];
    args.extend(["-append", "-density", "204x196", "-compress", "group4"]);
    let cut = magick(d, &args, "cut.tif");
    assert!(!tiff::is_fax_ready(&std::fs::read(&cut).unwrap_or_else(|e| panic!("{e}"))), "longer than B4");
    let (_, pages) = fax(&cut);
    assert_eq!(heights(&pages), [A4_ROWS, A4_ROWS, A4_ROWS, 252]);
    // Stacked again, the pages are libtiff's own decoding of the long page (through ImageMagick).
    let pbm = magick(d, &[&arg(&cut)], "cut.pbm");
    let long = tiff_util::read_pbm(&std::fs::read(pbm).unwrap_or_else(|e| panic!("{e}")));
    tiff_util::assert_same_pixels(&stack(&pages), &long, "cut pages stacked");
}

// ---------------------------------------------------------------------------------------------------------------
// Pictures, and grey TIFF pages like them

/// A white picture `w` x `h` with a black frame 10 pixels wide along its edges.
fn framed(dir: &Path, w: u32, h: u32, name: &str) -> PathBuf {
    let size = format!("{w}x{h}");
    let frame = format!("rectangle 5,5 {},{}", w - 6, h - 6);
    let args = ["-size", &size, "xc:white", "-fill", "none", "-stroke", "black", "-strokewidth", "10", "-draw", &frame];
    magick(dir, &args.into_iter().chain(["-type", "Grayscale"]).collect::<Vec<_>>(), name)
}

#[test]
fn pictures_are_kept_shrunk_or_cut() {
    let dir = tempdir();
    let d = dir.path();
    // 1000x1600: 2656 rows at the fax width, kept whole with its frame on every side.
    let (_, pages) = fax(&framed(d, 1000, 1600, "whole.png"));
    assert_eq!(heights(&pages), [2656]);
    assert_eq!(extent(&pages[0]), (0, FAX_WIDTH - 1, 2655));
    // 1000x2000: 3320 rows, shrunk to B4 length and 1462 pixels wide, centred.
    let (_, pages) = fax(&framed(d, 1000, 2000, "shrink.png"));
    assert_eq!(heights(&pages), [B4_ROWS]);
    let (left, right, bottom) = extent(&pages[0]);
    eprintln!("shrunk picture: columns {left}..{right}, last row {bottom}");
    assert_eq!((left, right, bottom), (133, 133 + 1462 - 1, B4_ROWS - 1));
    // 1200x6000, a seeded plasma cloud: 8301 rows, cut into four pages; the same picture as an 8-bit grey TIFF
    // gives the very same pages.
    let cloud = ["-size", "1200x6000", "-seed", "3", "plasma:", "-colorspace", "Gray"];
    let png =
        magick(d, &cloud.into_iter().chain(["-type", "Grayscale", "-depth", "8"]).collect::<Vec<_>>(), "scroll.png");
    let tif = magick(d, &[&arg(&png), "-type", "Grayscale", "-depth", "8", "-compress", "lzw"], "scroll.tif");
    let (_, from_png) = fax(&png);
    assert_eq!(heights(&from_png), [A4_ROWS, A4_ROWS, A4_ROWS, 1425]);
    let (_, from_tif) = fax(&tif);
    assert!(from_png == from_tif, "the grey TIFF scroll is not cut like the PNG");
}
