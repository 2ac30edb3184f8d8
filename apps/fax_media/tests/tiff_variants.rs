//! Reads TIFFs written by libtiff (`tiffcp`) and ImageMagick (`convert`) in every layout a user or a fax machine
//! may send, and checks the fax TIFFs this crate writes with libtiff's `tiffinfo -D` and `tiffcp`.

mod tiff_util;

use std::path::Path;

use fax_media::MediaError;
use fax_media::page::{Page, Resolution};
use fax_media::tiff;
use tiff_util::{agreement, assert_same_pixels, itu_dir, reference_charts, run, tiffcp, tool};

/// The `tiffcp` options of every variant, with whether the result is already a fax TIFF.
const VARIANTS: &[(&str, &[&str], bool)] = &[
    ("g4", &["-c", "g4"], true),
    ("g4-lsb", &["-c", "g4", "-f", "lsb2msb"], true),
    ("g4-strips", &["-c", "g4", "-r", "100"], true),
    ("g4-big-endian", &["-B", "-c", "g4"], true),
    ("g3-1d", &["-c", "g3"], true),
    ("g3-1d-fill", &["-c", "g3:1d:fill"], true),
    ("g3-2d", &["-c", "g3:2d"], true),
    // What a fax receiver (spandsp) writes: 2D, byte-aligned EOLs, least significant bit first.
    ("g3-2d-fill-lsb", &["-c", "g3:2d:fill", "-f", "lsb2msb"], true),
    ("g3-2d-strips", &["-c", "g3:2d", "-r", "37"], true),
    ("lzw", &["-c", "lzw"], false),
    ("lzw-lsb", &["-c", "lzw", "-f", "lsb2msb"], false),
    ("lzw-tiles", &["-c", "lzw", "-t", "-w", "512", "-l", "256"], false),
    ("none", &["-c", "none"], false),
    ("none-lsb", &["-c", "none", "-f", "lsb2msb"], false),
    ("none-big-endian-strips", &["-B", "-c", "none", "-r", "7"], false),
    ("packbits", &["-c", "packbits"], false),
    ("deflate", &["-c", "zip"], false),
    ("g4-tiles", &["-c", "g4", "-t", "-w", "256", "-l", "256"], false),
];

#[test]
fn every_tiffcp_variant_decodes_to_the_chart_pixels() {
    let reference = reference_charts();
    let dir = tempfile::tempdir().unwrap();
    let input = itu_dir().join("itutests.tif");
    for (name, options, fax_ready) in VARIANTS {
        let bytes = tiffcp(dir.path(), &input, options, &format!("{name}.tif"));
        assert_eq!(tiff::page_count(&bytes).unwrap(), 8, "{name}: page count");
        assert_eq!(tiff::is_fax_ready(&bytes), *fax_ready, "{name}: fax ready");
        let pages = tiff::read_pages(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pages.len(), 8, "{name}: pages");
        for (i, (got, want)) in pages.iter().zip(&reference).enumerate() {
            assert_eq!(got.resolution, Resolution::Fine, "{name}");
            assert_same_pixels(got, want, &format!("{name} page {}", i + 1));
        }
        // A fax-ready file is reused byte for byte; any other is re-encoded into one that is.
        let fax = tiff::to_fax_tiff(&bytes).unwrap();
        assert_eq!((fax.pages, fax.reused), (8, *fax_ready), "{name}: to_fax_tiff");
        if *fax_ready {
            assert!(fax.bytes == bytes, "{name}: reused bytes differ");
        } else {
            assert!(tiff::is_fax_ready(&fax.bytes), "{name}: converted file is not fax ready");
        }
    }
}

#[test]
fn written_fax_tiffs_pass_tiffinfo_and_libtiff_decodes_them_identically() {
    let reference = reference_charts();
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.tif");
    std::fs::write(&ours, tiff::write_fax_tiff(&reference)).unwrap();
    tiffinfo_accepts(&ours);
    // libtiff's own G4 decoder, through an uncompressed copy that this crate reads without CCITT decoding.
    let plain = tiffcp(dir.path(), &ours, &["-c", "none"], "plain.tif");
    let pages = tiff::read_pages(&plain).unwrap();
    assert_eq!(pages.len(), 8);
    for (i, (got, want)) in pages.iter().zip(&reference).enumerate() {
        assert_same_pixels(got, want, &format!("libtiff decoding of our page {}", i + 1));
    }
    // ImageMagick reads it too, at the right size and resolution.
    let identify = std::process::Command::new(tool("convert"))
        .args([ours.to_str().unwrap(), "-format", "%w %h %x %y %[compression]\\n", "info:"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&identify.stdout);
    assert_eq!(text.lines().count(), 8, "{text}");
    assert!(text.lines().all(|l| l.starts_with("1728 2376 204") && l.ends_with("Group4")), "{text}");
}

fn tiffinfo_accepts(path: &Path) {
    let out = run("tiffinfo", &["-D", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "tiffinfo -D complained about {}: {stderr}", path.display());
}

/// Runs ImageMagick on chart 1 with `args`, returning the file's bytes.
fn magick(dir: &Path, args: &[&str], name: &str) -> Vec<u8> {
    let out = dir.join(name);
    let mut all = vec![itu_dir().join("itu1.tif").to_str().unwrap().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.push(out.to_str().unwrap().to_string());
    let status = std::process::Command::new(tool("convert")).args(&all).output().unwrap();
    assert!(status.status.success(), "convert {args:?}: {}", String::from_utf8_lossy(&status.stderr));
    std::fs::read(out).unwrap()
}

#[test]
fn grey_colour_palette_and_alpha_tiffs_threshold_to_the_chart() {
    let chart = &reference_charts()[0];
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("grey8-lzw", &["-type", "Grayscale", "-depth", "8", "-compress", "lzw"]),
        ("grey16-zip", &["-type", "Grayscale", "-depth", "16", "-compress", "zip"]),
        ("grey8-predictor", &["-type", "Grayscale", "-depth", "8", "-compress", "lzw", "-define", "tiff:predictor=2"]),
        ("rgb", &["-type", "TrueColor", "-depth", "8", "-compress", "zip"]),
        ("rgb16", &["-type", "TrueColor", "-depth", "16", "-compress", "none"]),
        ("rgba", &["-type", "TrueColorAlpha", "-depth", "8", "-compress", "lzw"]),
        ("palette", &["-type", "Palette", "-compress", "RLE"]),
        ("cmyk", &["-colorspace", "CMYK", "-depth", "8", "-compress", "lzw"]),
        ("min-is-black", &["-define", "tiff:photometric=min-is-black", "-compress", "none"]),
    ];
    for (name, args) in cases {
        let bytes = magick(dir.path(), args, &format!("{name}.tif"));
        assert!(!tiff::is_fax_ready(&bytes), "{name}");
        let pages = tiff::read_pages(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pages.len(), 1, "{name}");
        assert_eq!(pages[0].resolution, Resolution::Fine, "{name}");
        assert_same_pixels(&pages[0], chart, name);
        let fax = tiff::to_fax_tiff(&bytes).unwrap();
        let path = dir.path().join(format!("{name}-fax.tif"));
        std::fs::write(&path, &fax.bytes).unwrap();
        tiffinfo_accepts(&path);
    }
}

#[test]
fn high_resolution_pages_are_scaled_to_the_fax_width_keeping_their_proportions() {
    let chart = &reference_charts()[0];
    let dir = tempfile::tempdir().unwrap();
    // The chart re-sampled to 300 dpi (2541x3637): black and white, and with grey edges.
    let cases: &[(&str, &[&str], f64)] = &[
        ("300dpi-g4", &["-resample", "300", "-compress", "group4"], 0.995),
        ("300dpi-grey", &["-type", "Grayscale", "-resample", "300", "-compress", "lzw"], 0.995),
        ("400x400-none", &["-resample", "400", "-compress", "none"], 0.995),
    ];
    for (name, args, min) in cases {
        let bytes = magick(dir.path(), args, &format!("{name}.tif"));
        let pages = tiff::read_pages(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pages.len(), 1, "{name}");
        let p = &pages[0];
        assert_eq!((p.width, p.resolution), (1728, Resolution::Fine), "{name}");
        assert!(p.height.abs_diff(2376) <= 2, "{name}: {} rows", p.height);
        let cropped = crop(p, chart.height);
        let a = agreement(&cropped, &crop(chart, cropped.height));
        eprintln!("{name}: {:.3}% of pixels agree with the chart", a * 100.0);
        assert!(a >= *min, "{name}: only {:.3}% of pixels agree", a * 100.0);
    }
}

/// The first `rows` rows of a page (all of it if shorter).
fn crop(p: &Page, rows: u32) -> Page {
    let h = p.height.min(rows);
    Page { height: h, data: p.data[..p.stride() * h as usize].to_vec(), ..p.clone() }
}

#[test]
fn standard_and_other_fax_resolutions_map_to_fine_or_standard() {
    let chart = &reference_charts()[0];
    let dir = tempfile::tempdir().unwrap();
    // Standard resolution: every other row.
    let standard = magick(dir.path(), &["-sample", "100%x50%", "-density", "204x98", "-compress", "group4"], "std.tif");
    assert!(tiff::is_fax_ready(&standard));
    let pages = tiff::read_pages(&standard).unwrap();
    assert_eq!((pages.len(), pages[0].resolution, pages[0].height), (1, Resolution::Standard, 1188));
    assert!(tiff::to_fax_tiff(&standard).unwrap().reused);
    // Kazoo's own output geometry, 1728 wide at 200x200 dpi: scaled a little, at fine resolution.
    let kazoo = magick(dir.path(), &["-density", "200x200", "-compress", "group4"], "kazoo.tif");
    assert!(!tiff::is_fax_ready(&kazoo));
    let pages = tiff::read_pages(&kazoo).unwrap();
    assert_eq!((pages[0].width, pages[0].resolution, pages[0].height), (1728, Resolution::Fine, 2283));
    // Centimetre units: 80.31 x 77.17 pixels per cm is 204 x 196 dpi.
    let cm = magick(
        dir.path(),
        &["-units", "PixelsPerCentimeter", "-density", "80.31x77.17", "-compress", "group4"],
        "cm.tif",
    );
    assert!(tiff::is_fax_ready(&cm));
    assert_same_pixels(&tiff::read_pages(&cm).unwrap()[0], chart, "centimetre units");
}

#[test]
fn small_and_long_images_become_whole_fax_pages() {
    let dir = tempfile::tempdir().unwrap();
    // A small 72 dpi picture fills the fax width at standard resolution.
    let small = magick(
        dir.path(),
        &["-resize", "800x", "-density", "72", "-type", "Grayscale", "-compress", "lzw"],
        "small.tif",
    );
    let pages = tiff::read_pages(&small).unwrap();
    assert_eq!((pages.len(), pages[0].width, pages[0].resolution), (1, 1728, Resolution::Standard));
    assert!(pages[0].data.iter().any(|&b| b != 0), "the picture is not blank");
    // A page three charts long is cut into A4-length pages.
    let long = std::process::Command::new(tool("convert"))
        .args(["-append"])
        .args((0..3).map(|_| itu_dir().join("itu1.tif").to_str().unwrap().to_string()))
        .args(["-density", "204x196", "-compress", "group4"])
        .arg(dir.path().join("long.tif"))
        .output()
        .unwrap();
    assert!(long.status.success(), "{}", String::from_utf8_lossy(&long.stderr));
    let long = std::fs::read(dir.path().join("long.tif")).unwrap();
    assert!(!tiff::is_fax_ready(&long), "longer than B4");
    let pages = tiff::read_pages(&long).unwrap();
    assert_eq!(pages.iter().map(|p| p.height).collect::<Vec<_>>(), vec![2292, 2292, 2292, 252]);
}

#[test]
fn unsupported_tiffs_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = magick(dir.path(), &["-type", "Grayscale", "-compress", "jpeg"], "jpeg.tif");
    match tiff::read_pages(&jpeg) {
        Err(MediaError::Unsupported { what }) => assert!(what.contains("JPEG"), "{what}"),
        other => panic!("expected unsupported JPEG, got {other:?}"),
    }
    assert!(!tiff::is_fax_ready(&jpeg));
    let separate = magick(dir.path(), &["-type", "TrueColor", "-interlace", "plane", "-compress", "lzw"], "planes.tif");
    match tiff::read_pages(&separate) {
        Err(MediaError::Unsupported { what }) => assert!(what.contains("separate colour planes"), "{what}"),
        other => panic!("expected unsupported planar configuration, got {other:?}"),
    }
}

#[test]
fn fill_order_2_is_undone_for_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    // A grey ramp: its bytes read differently when their bits are reversed.
    let ramp = dir.path().join("ramp.tif");
    let made = std::process::Command::new(tool("convert"))
        .args(["-size", "300x1728", "gradient:", "-rotate", "90", "-depth", "8", "-density", "204x196"])
        .args(["-compress", "none"])
        .arg(&ramp)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let want = tiff::read_pages(&std::fs::read(&ramp).unwrap()).unwrap();
    let black = want[0].data.iter().map(|b| b.count_ones()).sum::<u32>();
    assert!((200_000..320_000).contains(&black), "half the ramp is black: {black}");
    for c in ["none", "lzw", "zip", "packbits"] {
        let bytes = tiffcp(dir.path(), &ramp, &["-c", c, "-f", "lsb2msb"], &format!("ramp-{c}.tif"));
        let got = tiff::read_pages(&bytes).unwrap_or_else(|e| panic!("{c}: {e}"));
        assert_same_pixels(&got[0], &want[0], &format!("ramp with {c}, fill order 2"));
    }
}

#[test]
fn fax_receiver_files_are_fax_ready_and_read() {
    // What spandsp writes on receiving: G3 2D with byte-aligned EOLs, LSB first, RowsPerStrip 2^32-1.
    let reference = reference_charts();
    let dir = tempfile::tempdir().unwrap();
    let input = itu_dir().join("itutests.tif");
    let mut bytes = tiffcp(dir.path(), &input, &["-c", "g3:2d:fill", "-f", "lsb2msb"], "rx.tif");
    tiff_util::patch_tag(&mut bytes, 278, u32::MAX);
    assert!(tiff::is_fax_ready(&bytes));
    let pages = tiff::read_pages(&bytes).unwrap();
    for (i, (got, want)) in pages.iter().zip(&reference).enumerate() {
        assert_same_pixels(got, want, &format!("received page {}", i + 1));
    }
    let path = dir.path().join("rx-patched.tif");
    std::fs::write(&path, &bytes).unwrap();
    tiffinfo_accepts(&path);
    assert!(tiff::to_pdf(&bytes).is_ok());
}
