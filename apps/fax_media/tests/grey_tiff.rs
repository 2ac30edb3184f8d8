//! Grey and colour TIFF pages, written by ImageMagick and libtiff's `tiffcp`, come out of conversion exactly like
//! the same picture sent as a PNG: photos screened with the halftone, black-on-white text thresholded crisp.

mod tiff_util;

use std::path::Path;
use std::time::Duration;

use fax_media::convert::{ConvertOptions, Input, convert};
use fax_media::page::{FAX_WIDTH, Page, Resolution};
use fax_media::tiff;
use tiff_util::{agreement, magick};

/// Converts one file, as an attachment named like it, into fax pages (decoded from the fax TIFF produced).
fn fax_pages(path: &Path, resolution: Resolution) -> Vec<Page> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let opts = ConvertOptions { resolution, timeout: Duration::from_secs(120), ..Default::default() };
    let fax =
        convert(&[Input::new(bytes).with_filename(name)], &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tiff::read_pages(&fax.tiff).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Share of black pixels in rows `y0..y1`.
fn ink(page: &Page, y0: u32, y1: u32) -> f64 {
    let black: u32 = (y0..y1).map(|y| page.row(y).iter().map(|b| b.count_ones()).sum::<u32>()).sum();
    f64::from(black) / (f64::from(y1 - y0) * f64::from(page.width))
}

/// Share of the 8x8 cells holding both black and white pixels, among cells whose tone is neither paper nor ink:
/// near 1 for a halftone screen, small for a threshold (only cells on a contour are mixed).
fn mixed_cells(page: &Page) -> f64 {
    let (mut mixed, mut counted) = (0u32, 0u32);
    for cy in (0..page.height - 7).step_by(8) {
        for cx in (0..page.width - 7).step_by(8) {
            let black = (cy..cy + 8).map(|y| (cx..cx + 8).filter(|&x| page.is_black(x, y)).count()).sum::<usize>();
            if black > 0 && black < 64 {
                mixed += 1;
            }
            counted += 1;
        }
    }
    f64::from(mixed) / f64::from(counted)
}

/// Fraction of pixels equal in two pages, which must have the same size.
fn equal_share(a: &Page, b: &Page, what: &str) -> f64 {
    assert_eq!((a.width, a.height, a.resolution), (b.width, b.height, b.resolution), "{what}: page sizes");
    let share = agreement(a, b);
    eprintln!("{what}: {:.4}% of pixels equal", share * 100.0);
    share
}

#[test]
fn a_grey_gradient_tiff_is_screened_exactly_like_the_png() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let d = dir.path();
    // White at the top to black at the bottom, 1200x1800: 2490 rows at the fax width, under B4 length.
    let png =
        magick(d, &["-size", "1200x1800", "gradient:white-black", "-type", "Grayscale", "-depth", "8"], "grad.png");
    let png_arg = png.to_string_lossy().into_owned();
    let grey8 = magick(d, &[&png_arg, "-type", "Grayscale", "-depth", "8", "-compress", "none"], "grad-8.tif");
    let grey16 = magick(d, &[&png_arg, "-type", "Grayscale", "-depth", "16", "-compress", "zip"], "grad-16.tif");
    // libtiff re-writes the 8-bit file with LZW and the horizontal predictor, in strips of 64 rows.
    let lzw = d.join("grad-lzw.tif");
    tiff_util::tiffcp(d, &grey8, &["-c", "lzw:2", "-r", "64"], "grad-lzw.tif");
    for resolution in [Resolution::Fine, Resolution::Standard] {
        let want = fax_pages(&png, resolution);
        assert_eq!(want.len(), 1);
        let page = &want[0];
        let rows = if resolution == Resolution::Fine { 2490 } else { 1245 };
        assert_eq!((page.width, page.height), (FAX_WIDTH, rows), "the picture at the fax width");
        // Eight bands from top to bottom grow darker, white paper at the top, solid ink at the bottom.
        let bands: Vec<f64> = (0..8).map(|i| ink(page, rows * i / 8, rows * (i + 1) / 8)).collect();
        eprintln!("{resolution:?} gradient bands: {bands:.3?}");
        assert!(bands.windows(2).all(|w| w[1] > w[0]), "bands do not darken: {bands:?}");
        assert!(bands[0] < 0.05 && bands[7] > 0.95, "{bands:?}");
        let middle = ink(page, rows * 7 / 16, rows * 9 / 16);
        assert!((0.35..0.65).contains(&middle), "the middle prints {middle}");
        assert!(mixed_cells(page) > 0.7, "a screen, not a threshold: {}", mixed_cells(page));
        for tif in [&grey8, &grey16, &lzw] {
            let got = fax_pages(tif, resolution);
            assert_eq!(got.len(), 1);
            let what = format!("{resolution:?} {}", tif.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
            assert!(equal_share(&got[0], page, &what) >= 0.99, "{what} differs from the PNG");
            if !what.ends_with("-16.tif") {
                assert!(got[0] == *page, "{what}: 8-bit greys give the PNG's very pixels");
            }
        }
    }
}

#[test]
fn colour_tiff_photos_are_screened_like_the_png() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let d = dir.path();
    // A seeded plasma cloud: a colour photo stand-in with every tone.
    let png = magick(d, &["-size", "1200x1800", "-seed", "7", "plasma:", "-depth", "8", "-type", "TrueColor"], "p.png");
    let png_arg = png.to_string_lossy().into_owned();
    let rgb = magick(d, &[&png_arg, "-type", "TrueColor", "-depth", "8", "-compress", "none"], "p-rgb.tif");
    tiff_util::tiffcp(d, &rgb, &["-c", "lzw"], "p-lzw.tif");
    tiff_util::tiffcp(d, &rgb, &["-c", "zip:2", "-t", "-w", "256", "-l", "256"], "p-tiles.tif");
    let grey_png = magick(d, &[&png_arg, "-colorspace", "Gray", "-type", "Grayscale", "-depth", "8"], "g.png");
    let grey_tif =
        magick(d, &[&png_arg, "-colorspace", "Gray", "-type", "Grayscale", "-depth", "8", "-compress", "lzw"], "g.tif");

    let want = fax_pages(&png, Resolution::Fine);
    assert_eq!(want.len(), 1);
    let mixed = mixed_cells(&want[0]);
    let tone = ink(&want[0], 0, want[0].height);
    eprintln!("plasma png: {mixed:.3} of 8x8 cells mixed, ink {tone:.3}");
    assert!(mixed > 0.7 && (0.2..0.8).contains(&tone), "the PNG photo is screened: {mixed} {tone}");
    // The same 8-bit colours give the same greys, so the same pixels.
    for name in ["p-rgb.tif", "p-lzw.tif", "p-tiles.tif"] {
        let got = fax_pages(&d.join(name), Resolution::Fine);
        assert_eq!(got.len(), 1);
        assert!(equal_share(&got[0], &want[0], name) == 1.0, "{name} differs from the PNG");
    }
    let want_grey = fax_pages(&grey_png, Resolution::Fine);
    let got_grey = fax_pages(&grey_tif, Resolution::Fine);
    assert!(mixed_cells(&got_grey[0]) > 0.7);
    assert!(equal_share(&got_grey[0], &want_grey[0], "grey plasma tif") == 1.0);
    // 16 bits a sample: the TIFF reader keeps the high byte where ImageMagick's 8-bit PNG rounds, a few tones
    // differ by one step.
    let grey16 = magick(d, &[&png_arg, "-colorspace", "Gray", "-type", "Grayscale", "-depth", "16"], "g16.tif");
    assert!(equal_share(&fax_pages(&grey16, Resolution::Fine)[0], &want_grey[0], "16-bit grey plasma") >= 0.99);
}

#[test]
fn a_grey_tiff_of_text_stays_crisp() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let d = dir.path();
    // An A4 page at 300 dpi with anti-aliased text, as a scanner or a print-to-TIFF driver writes it.
    let mut args: Vec<String> = ["-size", "2480x3508", "-density", "300", "xc:white", "-pointsize", "11"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (i, line) in [
        "Invoice 2026-0042          Total due: EUR 1,234.56",
        "Please transfer the amount within 30 days to the account below.",
        "IBAN DE44 5001 0517 5407 3249 31     BIC INGDDEFFXXX",
        "Thank you for your order. Kind regards, Example Ltd",
    ]
    .iter()
    .cycle()
    .take(40)
    .enumerate()
    {
        args.extend(["-annotate".to_string(), format!("+250+{}", 400 + 70 * i), line.to_string()]);
    }
    args.extend(["-type", "Grayscale", "-depth", "8", "-compress", "lzw"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let grey = magick(d, &args, "text-grey.tif");
    let bilevel = magick(
        d,
        &[&grey.to_string_lossy(), "-threshold", "50%", "-type", "Bilevel", "-compress", "group4"],
        "text-bw.tif",
    );
    let got = fax_pages(&grey, Resolution::Fine);
    let want = fax_pages(&bilevel, Resolution::Fine);
    assert_eq!((got.len(), want.len()), (1, 1));
    let (got, want) = (&got[0], &want[0]);
    // 3508 rows at 300 dpi: 2348 rows at the fax width, like any A4 page.
    assert_eq!((got.height, want.height), (2348, 2348));
    let all = equal_share(got, want, "grey text page against its black-and-white version");
    // Over the lines of text alone (rows 240..2140), where a halftone would show.
    let text =
        |p: &Page| Page { height: 1900, data: p.data[p.stride() * 240..p.stride() * 2140].to_vec(), ..p.clone() };
    let lines = equal_share(&text(got), &text(want), "the rows of text");
    let ink_got = ink(got, 240, 2140);
    let ink_want = ink(want, 240, 2140);
    eprintln!("ink: grey {ink_got:.4}, black-and-white {ink_want:.4}");
    assert!(all >= 0.99 && lines >= 0.97, "not crisp: {all} {lines}");
    // The black-and-white page's cut-off keeps thin strokes a little bolder; the tones stay within a fifth.
    assert!(ink_got > 0.02 && (ink_got - ink_want).abs() < 0.2 * ink_want, "{ink_got} {ink_want}");
    // No screen dots on the paper between the lines: the blank margin below the text is white.
    assert_eq!(ink(got, 2200, 2348), 0.0);
}
