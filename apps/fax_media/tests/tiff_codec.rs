//! Checks the CCITT codec against the `fax` crate: the G4 encoder's output must be byte-identical, and the reader
//! must decode the ITU-T charts to exactly the pixels the `fax` crate decodes.

mod tiff_util;

use std::time::Instant;

use fax_media::page::{Page, Resolution};
use fax_media::tiff;
use tiff_util::{Rng, assert_same_pixels, fax_crate_decode, fax_crate_encode, itu, reference_charts};

#[test]
fn g4_encoder_is_byte_identical_to_the_fax_crate_on_the_itu_charts() {
    let charts = reference_charts();
    assert_eq!(charts.len(), 8);
    let (mut ours_t, mut theirs_t) = (0.0, 0.0);
    for (i, page) in charts.iter().enumerate() {
        let t = Instant::now();
        let ours = tiff::encode_g4(page);
        ours_t += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let theirs = fax_crate_encode(page);
        theirs_t += t.elapsed().as_secs_f64();
        assert_eq!(ours.len(), theirs.len(), "itu{}: encoded sizes differ", i + 1);
        assert!(ours == theirs, "itu{}: encoded bytes differ", i + 1);
        // And the encoding decodes back to the page.
        assert_same_pixels(
            &Page { data: fax_crate_decode(&ours, page.width, page.height), ..page.clone() },
            page,
            &format!("itu{} re-decoded", i + 1),
        );
    }
    eprintln!(
        "g4 encode, 8 charts: ours {:.2} ms/page, fax crate {:.2} ms/page",
        ours_t * 1000.0 / 8.0,
        theirs_t * 1000.0 / 8.0
    );
}

/// Pages that reach the corners of the mode rules: runs at both edges, runs longer than 2560, pass modes,
/// vertical offsets of every size, and widths that are not multiples of 8 or 64.
fn awkward_pages() -> Vec<Page> {
    let mut rng = Rng(0x9E37_79B9);
    let mut pages = Vec::new();
    for &width in &[1728u32, 1, 7, 13, 64, 65, 200, 2560, 2561, 5000, 6000] {
        let mut p = Page::blank(width, 40, Resolution::Fine);
        for y in 0..40 {
            match y % 8 {
                // Noise of varying density.
                0..=2 => {
                    for x in 0..width {
                        if rng.below(1 + (y as usize % 5) * 3) == 0 {
                            p.set_black(x, y);
                        }
                    }
                }
                // A full black row, then one black at both edges only.
                3 => (0..width).for_each(|x| p.set_black(x, y)),
                4 => {
                    p.set_black(0, y);
                    p.set_black(width - 1, y);
                }
                // Short bars drifting a few pixels from row to row (vertical modes).
                5 | 6 => {
                    let shift = rng.below(7) as u32;
                    let mut x = shift;
                    while x < width {
                        for k in x..(x + 3).min(width) {
                            p.set_black(k, y);
                        }
                        x += 9 + rng.below(4) as u32;
                    }
                }
                // Blank row after busy rows: pass modes.
                _ => {}
            }
        }
        pages.push(p);
    }
    pages
}

#[test]
fn g4_encoder_is_byte_identical_on_awkward_and_random_pages() {
    for (i, page) in awkward_pages().iter().enumerate() {
        let ours = tiff::encode_g4(page);
        let theirs = fax_crate_encode(page);
        assert!(ours == theirs, "page {i} (width {}): encoded bytes differ", page.width);
        let back = Page { data: fax_crate_decode(&ours, page.width, page.height), ..page.clone() };
        assert_same_pixels(&back, page, &format!("awkward page {i}"));
    }
}

#[test]
fn reader_decodes_the_charts_like_the_fax_crate() {
    let reference = reference_charts();
    let t = Instant::now();
    let pages = tiff::read_pages(&itu("itutests.tif")).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0 / 8.0;
    assert_eq!(pages.len(), 8);
    for (i, (got, want)) in pages.iter().zip(&reference).enumerate() {
        assert_eq!(got.resolution, Resolution::Fine);
        assert_same_pixels(got, want, &format!("itu{}", i + 1));
    }
    for i in 1..=8 {
        let single = tiff::read_pages(&itu(&format!("itu{i}.tif"))).unwrap();
        assert_eq!(single.len(), 1);
        assert_same_pixels(&single[0], &reference[i - 1], &format!("itu{i}.tif"));
    }
    eprintln!("read (G4 decode) of itutests.tif: {ms:.2} ms/page");
}

#[test]
fn written_fax_tiff_round_trips_and_counts_its_pages() {
    let reference = reference_charts();
    let t = Instant::now();
    let tiff_bytes = tiff::write_fax_tiff(&reference);
    eprintln!("write_fax_tiff (G4 encode + TIFF): {:.2} ms/page", t.elapsed().as_secs_f64() * 1000.0 / 8.0);
    assert_eq!(tiff::page_count(&tiff_bytes).unwrap(), 8);
    assert!(tiff::is_fax_ready(&tiff_bytes));
    let back = tiff::read_pages(&tiff_bytes).unwrap();
    for (i, (got, want)) in back.iter().zip(&reference).enumerate() {
        assert_same_pixels(got, want, &format!("written itu{}", i + 1));
    }
    // Standard resolution survives too (on a page short enough not to be cut).
    let mut standard = reference[0].clone();
    standard.resolution = Resolution::Standard;
    standard.height = 1100;
    standard.data.truncate(216 * 1100);
    let back = tiff::read_pages(&tiff::write_fax_tiff(std::slice::from_ref(&standard))).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].resolution, Resolution::Standard);
    assert_same_pixels(&back[0], &standard, "standard page");
}

/// Milliseconds per page of `f` run on `pages` pages, best of three runs (one in unoptimised builds).
fn ms_per_page(pages: usize, mut f: impl FnMut()) -> f64 {
    (0..if cfg!(debug_assertions) { 1 } else { 3 })
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0 / pages as f64
        })
        .fold(f64::MAX, f64::min)
}

#[test]
fn speeds_per_page() {
    let dir = tempfile::tempdir().unwrap();
    let charts = reference_charts();
    let g4 = itu("itutests.tif");
    let input = tiff_util::itu_dir().join("itutests.tif");
    let g3 = tiff_util::tiffcp(dir.path(), &input, &["-c", "g3:2d:fill", "-f", "lsb2msb"], "g3.tif");
    let hires = dir.path().join("300.tif");
    let made = std::process::Command::new(tiff_util::tool("convert"))
        .arg(&input)
        .args(["-resample", "300", "-compress", "lzw"])
        .arg(&hires)
        .output()
        .unwrap();
    assert!(made.status.success());
    let hires = std::fs::read(hires).unwrap();
    let timings = [
        ("read G4", ms_per_page(8, || assert_eq!(tiff::read_pages(&g4).unwrap().len(), 8))),
        ("read G3 2D LSB", ms_per_page(8, || assert_eq!(tiff::read_pages(&g3).unwrap().len(), 8))),
        ("read 300 dpi LZW + scale", ms_per_page(8, || assert_eq!(tiff::read_pages(&hires).unwrap().len(), 8))),
        ("encode G4", ms_per_page(8, || charts.iter().for_each(|p| assert!(!tiff::encode_g4(p).is_empty())))),
        (
            "encode G4, fax crate",
            ms_per_page(8, || charts.iter().for_each(|p| assert!(!fax_crate_encode(p).is_empty()))),
        ),
        ("write fax TIFF", ms_per_page(8, || assert!(!tiff::write_fax_tiff(&charts).is_empty()))),
        ("TIFF G4 to PDF", ms_per_page(8, || assert!(!tiff::to_pdf(&g4).unwrap().is_empty()))),
        ("TIFF G3 to PDF", ms_per_page(8, || assert!(!tiff::to_pdf(&g3).unwrap().is_empty()))),
        ("to_fax_tiff, reused", ms_per_page(8, || assert!(tiff::to_fax_tiff(&g4).unwrap().reused))),
    ];
    for (what, ms) in timings {
        eprintln!("{what:>28}: {ms:7.2} ms/page");
        assert!(ms > 0.0);
    }
}
