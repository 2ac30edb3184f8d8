//! Converts documents written by real tools (Ghostscript, ImageMagick, LibreOffice) and checks the faxes made.
//!
//! The tools come from `tests/services/deps.sh test`. Every TIFF produced must satisfy `tiffinfo -D`, and PDF
//! pages must look like Ghostscript's own rendering at the same geometry (Ghostscript is what Kazoo runs).

mod tiff_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fax_media::MediaError;
use fax_media::convert::{ConvertOptions, Converted, Input, convert};
use fax_media::page::{FAX_WIDTH, Page, Resolution};
use fax_media::pool::{Pool, Priority};
use fax_media::render::cover::Cover;
use fax_media::render::office;
use fax_media::tiff;

// ---------------------------------------------------------------------------------------------------------------
// Documents, written as PostScript and turned into PDF by Ghostscript's pdfwrite.

/// Shared PostScript: a seeded word generator and a paragraph setter that wraps at the right margin.
const PS_PRELUDE: &str = r"%!PS
/words [(fax) (the) (quick) (brown) (invoice) (payment) (account) (number) (document) (of) (and) (to)
  (receive) (please) (signature) (total) (1234.56) (Date:) (2026-11-26) (reference) (shipping) (address)
  (EUR) (contract) (We) (confirm) (delivery) (within) (working) (days) (Kind) (regards,) (order) (Ltd)] def
/seed 11 def
/rnd { seed 1103515245 mul 12345 add 2147483647 and /seed exch def seed 16 idiv words length mod } def
/left 72 def /right 540 def
/para { % nwords lead
  /lead exch def /n exch def /x left def
  n { words rnd get /w exch def
      w stringwidth pop x add right gt { /y y lead sub def /x left def } if
      x y moveto w show ( ) show currentpoint pop /x exch def } repeat
  /y y lead 1.8 mul sub def } def
";

/// A two-page US Letter business letter: heading, address block, paragraphs, a ruled table, a signature.
fn letter_ps() -> String {
    let mut ps = String::from(PS_PRELUDE);
    ps.push_str(
        r"<< /PageSize [612 792] >> setpagedevice
/Helvetica-Bold findfont 18 scalefont setfont 72 720 moveto (ACME Supplies Ltd) show
/Times-Roman findfont 11 scalefont setfont
72 700 moveto (12 Harbour Road, Portsmouth) show 72 686 moveto (Fax +44 23 9200 0000) show
0.8 setlinewidth 72 676 moveto 540 676 lineto stroke
/y 640 def
60 14 para 90 14 para 45 14 para
/Courier findfont 10 scalefont setfont
/y y 10 sub def
0 1 5 { /i exch def
  72 y i 16 mul sub 4 sub moveto 468 0 rlineto stroke
  80 y i 16 mul sub moveto (Item ) show i 10 string cvs show 400 y i 16 mul sub moveto (1234.56) show } for
showpage
/Times-Roman findfont 11 scalefont setfont
/y 720 def
80 14 para 70 14 para 30 14 para
/Times-Italic findfont 12 scalefont setfont 72 y 30 sub moveto (Kind regards, the accounts team) show
showpage
",
    );
    ps
}

/// An A4 report page with a photo-like picture, grey bars and text (the page a halftone is for).
fn mixed_ps() -> String {
    let mut ps = String::from(PS_PRELUDE);
    ps.push_str(
        r"<< /PageSize [595 842] >> setpagedevice
/Helvetica-Bold findfont 20 scalefont setfont 60 790 moveto (Quarterly report with a photo) show
gsave 60 420 translate 475 356 scale
/row 0 def
256 192 8 [256 0 0 -192 0 192]
{ /s 256 string def 0 1 255 { /x exch def s x x 1.7 mul sin 60 mul row 2.3 mul cos 60 mul add x row add 0.25 mul
  add 64 add cvi 255 min 0 max put } for /row row 1 add def s } image
grestore
0 1 7 { /i exch def i 8 div setgray 60 i 58 mul add 330 50 60 rectfill } for
0 setgray
/Times-Roman findfont 11 scalefont setfont
/left 60 def /right 535 def /y 300 def
50 14 para 60 14 para 40 14 para
showpage
",
    );
    ps
}

/// A landscape Letter page with a framed table.
fn landscape_ps() -> String {
    let mut ps = String::from(PS_PRELUDE);
    ps.push_str(
        r"<< /PageSize [792 612] >> setpagedevice
/Helvetica-Bold findfont 16 scalefont setfont 50 560 moveto (Shipping schedule, landscape) show
2 setlinewidth 40 40 moveto 752 40 lineto 752 580 lineto 40 580 lineto closepath stroke
/Helvetica findfont 10 scalefont setfont 0.5 setlinewidth
0 1 20 { /i exch def 50 520 i 22 mul sub moveto 692 0 rlineto stroke
  60 525 i 22 mul sub moveto (Order ) show i 10 string cvs show 300 525 i 22 mul sub moveto (Harbour Road) show
  600 525 i 22 mul sub moveto (2026-11-26) show } for
showpage
",
    );
    ps
}

// ---------------------------------------------------------------------------------------------------------------
// Tools.

/// A scratch directory where the test's documents are written by real tools.
struct Corpus {
    dir: tempfile::TempDir,
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (install the test tools with `bash tests/services/deps.sh test`)"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

impl Corpus {
    fn new() -> Corpus {
        Corpus { dir: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")) }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {name}: {e}"));
        p
    }

    /// PostScript to PDF with Ghostscript's pdfwrite; `extra` adds options such as passwords.
    fn pdf(&self, name: &str, ps: &str, extra: &[&str]) -> PathBuf {
        let src = self.write(&format!("{name}.ps"), ps.as_bytes());
        let out = self.path(&format!("{name}.pdf"));
        run(Command::new("gs")
            .args(["-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite"])
            .args(extra)
            .arg(format!("-sOutputFile={}", out.display()))
            .arg(&src));
        out
    }

    /// An ImageMagick `convert` run writing `name`.
    fn magick(&self, name: &str, args: &[&str]) -> PathBuf {
        let out = self.path(name);
        run(Command::new("convert").args(args).arg(&out));
        out
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn input(path: &Path) -> Input {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Input::new(read(path)).with_filename(name)
}

fn opts() -> ConvertOptions {
    ConvertOptions { timeout: Duration::from_secs(120), ..Default::default() }
}

fn convert_ok(inputs: &[Input], opts: &ConvertOptions) -> Converted {
    convert(inputs, opts).unwrap_or_else(|e| panic!("conversion failed: {e}"))
}

/// Checks a TIFF with libtiff's `tiffinfo -D` (which decodes every strip) and returns its report.
fn tiffinfo_ok(corpus: &Corpus, name: &str, tiff: &[u8]) -> String {
    let path = corpus.write(name, tiff);
    let out = run(Command::new("tiffinfo").arg("-D").arg(&path));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.to_ascii_lowercase().contains("error"), "tiffinfo complains about {name}: {text}");
    text
}

/// The fax pages of a converted TIFF, decoded by ImageMagick (libtiff), so our own reader is not the judge.
fn pages_by_imagemagick(corpus: &Corpus, name: &str, tiff: &[u8]) -> Vec<Bitmap> {
    let path = corpus.write(name, tiff);
    let pattern = corpus.path(&format!("{name}-%d.pbm"));
    run(Command::new("convert").arg(&path).arg(&pattern));
    (0..)
        .map(|i| corpus.path(&format!("{name}-{i}.pbm")))
        .take_while(|p| p.exists())
        .map(|p| Bitmap::from_pbm(&read(&p)))
        .collect()
}

/// Ghostscript's own 1-bit rendering of one page at fax geometry (204x196 dpi, 1728 wide, `rows` long, fitted).
fn ghostscript_page(corpus: &Corpus, pdf: &Path, page: usize, rows: u32) -> Bitmap {
    let out =
        corpus.path(&format!("gs-{}-{page}.pbm", pdf.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()));
    run(Command::new("gs")
        .args(["-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pbmraw", "-r204x196", "-dFIXEDMEDIA", "-dPDFFitPage"])
        .arg(format!("-g{FAX_WIDTH}x{rows}"))
        .arg(format!("-dFirstPage={page}"))
        .arg(format!("-dLastPage={page}"))
        .arg(format!("-sOutputFile={}", out.display()))
        .arg(pdf));
    Bitmap::from_pbm(&read(&out))
}

// ---------------------------------------------------------------------------------------------------------------
// Bitmaps and how alike two of them are.

/// A 1-bit picture, rows packed MSB first, 1 = black.
#[derive(Debug, Clone, PartialEq)]
struct Bitmap {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Bitmap {
    fn from_pbm(bytes: &[u8]) -> Bitmap {
        Bitmap::from_page(&tiff_util::read_pbm(bytes))
    }

    fn from_page(page: &Page) -> Bitmap {
        Bitmap { width: page.width as usize, height: page.height as usize, data: page.data.clone() }
    }

    fn black(&self, x: usize, y: usize) -> bool {
        self.data[y * self.width.div_ceil(8) + x / 8] & (0x80 >> (x % 8)) != 0
    }

    /// Share of black pixels in a rectangle.
    fn ink(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        let mut n = 0usize;
        for y in y0..y1 {
            for x in x0..x1 {
                n += usize::from(self.black(x, y));
            }
        }
        n as f64 / ((x1 - x0) * (y1 - y0)) as f64
    }
}

/// Share of pixels equal in both pictures, over rows `y0..y1` (pictures of the same width).
fn agreement(a: &Bitmap, b: &Bitmap, y0: usize, y1: usize) -> f64 {
    assert_eq!(a.width, b.width);
    let stride = a.width.div_ceil(8);
    let y1 = y1.min(a.height).min(b.height);
    let diff: u32 = (y0 * stride..y1 * stride).map(|i| (a.data[i] ^ b.data[i]).count_ones()).sum();
    1.0 - f64::from(diff) / ((y1 - y0) * a.width) as f64
}

/// Mean absolute difference of darkness over 8x8 blocks in rows `y0..y1`: how alike the tones are, whatever
/// the halftone screens.
fn tone_difference(a: &Bitmap, b: &Bitmap, y0: usize, y1: usize) -> f64 {
    let (mut sum, mut blocks) = (0.0, 0usize);
    for by in (y0..y1.min(a.height).min(b.height) - 7).step_by(8) {
        for bx in (0..a.width - 7).step_by(8) {
            let ta = a.ink(bx, by, bx + 8, by + 8);
            let tb = b.ink(bx, by, bx + 8, by + 8);
            sum += (ta - tb).abs();
            blocks += 1;
        }
    }
    sum / blocks as f64
}

// ---------------------------------------------------------------------------------------------------------------
// PDF.

#[test]
fn ghostscript_pdfs_render_like_ghostscript() {
    let corpus = Corpus::new();
    let letter = corpus.pdf("letter", &letter_ps(), &[]);
    let landscape = corpus.pdf("landscape", &landscape_ps(), &[]);
    let mut worst = 1.0f64;
    for pdf in [&letter, &landscape] {
        let fax = convert_ok(&[input(pdf)], &opts());
        let name = pdf.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let info = tiffinfo_ok(&corpus, &format!("{name}.tiff"), &fax.tiff);
        assert!(info.contains("Group 4") || info.contains("CCITT Group 4"), "{info}");
        let ours = pages_by_imagemagick(&corpus, &name, &fax.tiff);
        assert_eq!(ours.len() as u32, fax.pages);
        for (i, page) in ours.iter().enumerate() {
            assert_eq!(page.width, FAX_WIDTH as usize);
            let theirs = ghostscript_page(&corpus, pdf, i + 1, page.height as u32);
            let agree = agreement(page, &theirs, 0, page.height);
            eprintln!(
                "{name} page {}: {}x{}, {:.2}% of pixels agree with ghostscript",
                i + 1,
                page.width,
                page.height,
                agree * 100.0
            );
            worst = worst.min(agree);
        }
    }
    // Letter fills the line: 2148 rows at fine resolution; the letter is two pages and the landscape page one.
    assert!(worst >= 0.97, "pixel agreement with ghostscript fell to {worst}");
}

#[test]
fn a_mixed_page_keeps_its_text_and_its_tones() {
    let corpus = Corpus::new();
    let mixed = corpus.pdf("mixed", &mixed_ps(), &[]);
    let fax = convert_ok(&[input(&mixed)], &opts());
    assert_eq!(fax.pages, 1);
    tiffinfo_ok(&corpus, "mixed.tiff", &fax.tiff);
    let ours = pages_by_imagemagick(&corpus, "mixed", &fax.tiff);
    let page = &ours[0];
    // A4 at fine resolution, filling the line: 842 pt x (1728.25 / 595 px/pt) x 196/204.
    assert_eq!(page.height, 2349);
    let theirs = ghostscript_page(&corpus, &mixed, 1, page.height as u32);
    let pt = |points: f64| (points * 1728.25 / 595.0 * 196.0 / 204.0) as usize;
    // The picture spans 66..422 pt from the top, the bars 452..512, the text starts at 531.
    let (photo, bars, text) = ((pt(70.0), pt(418.0)), (pt(455.0), pt(509.0)), (pt(531.0), page.height));
    let photo_tone = tone_difference(page, &theirs, photo.0, photo.1);
    let bar_tone = tone_difference(page, &theirs, bars.0, bars.1);
    let text_agree = agreement(page, &theirs, text.0, text.1);
    eprintln!(
        "mixed: picture tone difference {:.3}, bars {:.3}, text agreement {:.2}%",
        photo_tone,
        bar_tone,
        text_agree * 100.0
    );
    assert!(photo_tone < 0.10, "picture tones differ from ghostscript's by {photo_tone}");
    assert!(bar_tone < 0.10, "grey bars differ from ghostscript's by {bar_tone}");
    assert!(text_agree >= 0.97, "text agreement {text_agree}");
    // The 50% bar is screened (neither white nor solid), the black bar is solid, the page margin is white.
    let bar_rows = (bars.0 + 20, bars.1 - 20);
    let x = |points: f64| (points * 1728.25 / 595.0) as usize;
    let half = page.ink(x(60.0 + 4.0 * 58.0 + 5.0), bar_rows.0, x(60.0 + 4.0 * 58.0 + 45.0), bar_rows.1);
    let solid = page.ink(x(65.0), bar_rows.0, x(105.0), bar_rows.1);
    assert!((0.35..0.65).contains(&half) && solid > 0.99, "bars: 50% grey {half}, black {solid}");
    // Nothing above the title (its capitals reach 38 pt from the top).
    assert_eq!(page.ink(0, 0, FAX_WIDTH as usize, pt(30.0)), 0.0);
}

#[test]
fn encrypted_truncated_empty_and_pageless_pdfs_are_refused() {
    let corpus = Corpus::new();
    let locked = corpus.pdf("locked", &letter_ps(), &["-sOwnerPassword=owner", "-sUserPassword=secret"]);
    let err = convert(&[input(&locked)], &opts()).err();
    assert!(matches!(err, Some(MediaError::Encrypted)), "{err:?}");
    assert_eq!(err.map(|e| e.to_string()).unwrap_or_default(), "the document is password-protected or encrypted");

    let whole = read(&corpus.pdf("letter", &letter_ps(), &[]));
    let cut = Input::new(whole[..whole.len() / 2].to_vec()).with_content_type("application/pdf");
    let err = convert(&[cut], &opts()).err();
    assert!(matches!(err, Some(MediaError::Truncated)), "{err:?}");

    let empty = Input::new(Vec::new()).with_content_type("application/pdf").with_filename("empty.pdf");
    assert!(matches!(convert(&[empty], &opts()), Err(MediaError::Empty)));

    // A well-formed PDF whose page tree is empty (pdf-writer writes what it is told).
    let mut pdf = pdf_writer::Pdf::new();
    pdf.catalog(pdf_writer::Ref::new(1)).pages(pdf_writer::Ref::new(2));
    pdf.pages(pdf_writer::Ref::new(2)).kids(std::iter::empty::<pdf_writer::Ref>()).count(0);
    let err = convert(&[Input::new(pdf.finish())], &opts()).err();
    assert!(matches!(err, Some(MediaError::ZeroPages)), "{err:?}");

    // Not a PDF at all, though it says so.
    let fake = Input::new(b"<html>not a pdf</html>".to_vec()).with_content_type("application/pdf");
    assert!(matches!(convert(&[fake], &opts()), Err(MediaError::Corrupt { .. })));
    assert!(matches!(convert(&[], &opts()), Err(MediaError::ZeroPages)));
}

#[test]
fn limits_on_pages_and_time_are_kept() {
    let corpus = Corpus::new();
    let letter = input(&corpus.pdf("letter", &letter_ps(), &[]));
    let few = ConvertOptions { max_pages: 1, ..opts() };
    assert!(matches!(convert(std::slice::from_ref(&letter), &few), Err(MediaError::TooManyPages { max: 1 })));
    // The cover sheet counts: two letter pages and a cover do not fit in two pages.
    let cover = Cover { sender: "A".into(), recipient: "B".into(), subject: "C".into(), body: String::new() };
    let two = ConvertOptions { max_pages: 2, cover: Some(cover), ..opts() };
    assert!(matches!(convert(std::slice::from_ref(&letter), &two), Err(MediaError::TooManyPages { max: 2 })));
    let no_time = ConvertOptions { timeout: Duration::ZERO, ..opts() };
    assert!(matches!(convert(&[letter], &no_time), Err(MediaError::TimedOut)));
}

#[test]
fn standard_resolution_halves_the_rows() {
    let corpus = Corpus::new();
    let letter = corpus.pdf("letter", &letter_ps(), &[]);
    let std_opts = ConvertOptions { resolution: Resolution::Standard, ..opts() };
    let fax = convert_ok(&[input(&letter)], &std_opts);
    let info = tiffinfo_ok(&corpus, "standard.tiff", &fax.tiff);
    assert!(info.contains("Resolution: 204, 98"), "{info}");
    let pages = pages_by_imagemagick(&corpus, "standard", &fax.tiff);
    assert_eq!(pages.iter().map(|p| p.height).collect::<Vec<_>>(), [1074, 1074]);
}

// ---------------------------------------------------------------------------------------------------------------
// Pictures and text.

/// A grey swirl (a photo stand-in) over a flat 30%-grey band at the bottom, 640x480.
fn photo_args() -> Vec<&'static str> {
    vec![
        "-size",
        "640x480",
        "gradient:white-black",
        "-swirl",
        "180",
        "-fill",
        "gray70",
        "-draw",
        "rectangle 0,400 639,479",
    ]
}

#[test]
fn pictures_from_imagemagick_become_one_page_each() {
    let corpus = Corpus::new();
    let png = corpus.magick("photo.png", &photo_args());
    for ext in ["jpg", "gif", "bmp", "webp"] {
        corpus.magick(&format!("photo.{ext}"), &[png.to_string_lossy().as_ref()]);
    }
    for ext in ["png", "jpg", "gif", "bmp", "webp"] {
        let name = format!("photo.{ext}");
        // No content type: the picture is recognised by its first bytes.
        let fax = convert_ok(&[Input::new(read(&corpus.path(&name)))], &opts());
        assert_eq!(fax.pages, 1, "{name}");
        tiffinfo_ok(&corpus, &format!("{name}.tiff"), &fax.tiff);
        let page = Bitmap::from_page(&tiff::read_pages(&fax.tiff).unwrap_or_else(|e| panic!("{name}: {e}"))[0]);
        // 640x480 fills the 1728 line: 480 rows become 480 x 2.7 x 196/204 = 1245; the grey band is rows 1038..1245.
        let band = page.ink(40, 1060, 1688, 1225);
        let swirl = page.ink(40, 40, 1688, 1000);
        let below = page.ink(0, 1250, FAX_WIDTH as usize, 2292);
        eprintln!("{name}: band {band:.3}, swirl {swirl:.3}, below {below:.3}");
        assert!((0.2..0.4).contains(&band), "{name}: a 30% grey band printed as {band}");
        assert!((0.3..0.7).contains(&swirl), "{name}: the swirl printed as {swirl}");
        assert_eq!(below, 0.0, "{name}: paper below the picture is not white");
        assert_eq!(page.height, 2292, "{name}: an A4 page at fine resolution");
    }
}

#[test]
fn pictures_of_text_are_thresholded_not_screened() {
    let corpus = Corpus::new();
    let args = [
        "-size",
        "1000x700",
        "xc:white",
        "-pointsize",
        "40",
        "-annotate",
        "+40+80",
        "Invoice 42: total EUR 1234.56",
        "-annotate",
        "+40+160",
        "Please pay within 30 days.",
    ];
    for name in ["text.png", "text.jpg"] {
        corpus.magick(name, &args);
        let fax = convert_ok(&[input(&corpus.path(name))], &opts());
        tiffinfo_ok(&corpus, &format!("{name}.tiff"), &fax.tiff);
        let page = Bitmap::from_page(&tiff::read_pages(&fax.tiff).unwrap_or_else(|e| panic!("{name}: {e}"))[0]);
        // Scale 1.728: the two text lines sit in the top ~300 rows, the rest of the picture is white paper.
        let lines = page.ink(0, 0, FAX_WIDTH as usize, 300);
        let blank = page.ink(0, 400, FAX_WIDTH as usize, 1150);
        eprintln!("{name}: text rows {lines:.3}, blank rows {blank:.5}");
        assert!(lines > 0.03, "{name}: text missing ({lines})");
        assert_eq!(blank, 0.0, "{name}: speckles in the white part ({blank})");
    }
}

#[test]
fn pictures_over_the_pixel_limit_are_refused() {
    let corpus = Corpus::new();
    let big = corpus.magick("big.png", &["-size", "3000x2000", "xc:white"]);
    let small_limit = ConvertOptions { max_pixels: 5_000_000, ..opts() };
    let err = convert(&[input(&big)], &small_limit).err();
    assert!(matches!(err, Some(MediaError::TooLarge { pixels: 6_000_000, max: 5_000_000 })), "{err:?}");
}

#[test]
fn plain_text_is_typeset_sixty_lines_a_page() {
    let corpus = Corpus::new();
    let text: String = (1..=130).map(|i| format!("{i:03} The quick brown fox jumps over the lazy dog.\n")).collect();
    let fax = convert_ok(&[Input::new(text.into_bytes()).with_content_type("text/plain; charset=utf-8")], &opts());
    assert_eq!(fax.pages, 3);
    tiffinfo_ok(&corpus, "text.tiff", &fax.tiff);
    let pages = tiff::read_pages(&fax.tiff).unwrap_or_else(|e| panic!("{e}"));
    let last = Bitmap::from_page(&pages[2]);
    // Ten lines on the last page, in the top part of the text block; nothing further down.
    assert!(last.ink(0, 200, FAX_WIDTH as usize, 600) > 0.01);
    assert_eq!(last.ink(0, 700, FAX_WIDTH as usize, last.height), 0.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Several documents, TIFFs, cover sheets.

#[test]
fn several_documents_become_one_fax_in_order() {
    let corpus = Corpus::new();
    let letter = corpus.pdf("letter", &letter_ps(), &[]);
    let photo = corpus.magick("photo.png", &photo_args());
    let note = corpus.write("note.txt", b"Please call back before Friday.\n");
    // A fax TIFF made by Ghostscript's own fax device, one page.
    let land_pdf = corpus.pdf("landscape", &landscape_ps(), &[]);
    let fax_tiff = corpus.path("gs.tiff");
    run(Command::new("gs")
        .args([
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=tiffg4",
            "-r204x196",
            "-g1728x2156",
            "-dFIXEDMEDIA",
            "-dPDFFitPage",
        ])
        .arg(format!("-sOutputFile={}", fax_tiff.display()))
        .arg(&land_pdf));
    let docs = [input(&letter), input(&photo), input(&note), input(&fax_tiff)];
    let started = Instant::now();
    let fax = convert_ok(&docs, &opts());
    eprintln!("4 documents, {} pages in {:?}", fax.pages, started.elapsed());
    assert_eq!(fax.pages, 5);
    tiffinfo_ok(&corpus, "all.tiff", &fax.tiff);
    assert!(fax.pdf.starts_with(b"%PDF-"));
    let all = tiff::read_pages(&fax.tiff).unwrap_or_else(|e| panic!("{e}"));
    let mut expected = Vec::new();
    for doc in &docs {
        let one = convert_ok(std::slice::from_ref(doc), &opts());
        expected.extend(tiff::read_pages(&one.tiff).unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(all.len(), expected.len());
    for (i, (a, b)) in all.iter().zip(&expected).enumerate() {
        assert!(a == b, "page {} is not the page of its own document", i + 1);
    }
    // The PDF rendition has the same five pages (poppler counts them).
    let pdf_path = corpus.write("all.pdf", &fax.pdf);
    let info = run(Command::new("pdfinfo").arg(&pdf_path));
    assert!(String::from_utf8_lossy(&info.stdout).lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 5")));
}

#[test]
fn a_fax_ready_tiff_passes_through_unchanged() {
    let corpus = Corpus::new();
    let letter = corpus.pdf("letter", &letter_ps(), &[]);
    let out = corpus.path("fax.tiff");
    run(Command::new("gs")
        .args([
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=tiffg4",
            "-r204x196",
            "-g1728x2156",
            "-dFIXEDMEDIA",
            "-dPDFFitPage",
        ])
        .arg(format!("-sOutputFile={}", out.display()))
        .arg(&letter));
    let bytes = read(&out);
    let fax = convert_ok(&[Input::new(bytes.clone()).with_content_type("image/tiff")], &opts());
    assert_eq!(fax.pages, 2);
    assert!(fax.tiff == bytes, "the TIFF was rewritten");
    // With a cover sheet it cannot pass through: three pages, the cover first.
    let cover = Cover {
        sender: "ACME Supplies Ltd, +44 23 9200 0000".into(),
        recipient: "Accounts payable".into(),
        subject: "Invoice 42".into(),
        body: "Two pages follow.\nPlease confirm receipt.".into(),
    };
    let with_cover = ConvertOptions { cover: Some(cover), ..opts() };
    let fax = convert_ok(&[Input::new(bytes)], &with_cover);
    assert_eq!(fax.pages, 3);
    tiffinfo_ok(&corpus, "cover.tiff", &fax.tiff);
    let pages = tiff::read_pages(&fax.tiff).unwrap_or_else(|e| panic!("{e}"));
    let sheet = Bitmap::from_page(&pages[0]);
    // The big "FAX" title near the top-left, and the rule under it across the page.
    assert!(sheet.ink(150, 180, 500, 300) > 0.1, "title missing");
    assert!(sheet.ink(300, 300, 1400, 420) > 0.01, "rule missing");
}

#[tokio::test]
async fn a_pool_converts_off_the_runtime_within_the_time_limit() {
    let pool = Pool::new("test-limit", 1, Priority::Normal).unwrap_or_else(|e| panic!("{e}"));
    let text = Input::new(b"hello from the conversion pool\n".to_vec());
    let fax = pool.convert(vec![text], opts()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fax.pages, 1);
    let late = ConvertOptions { timeout: Duration::ZERO, ..opts() };
    let err = pool.convert(vec![Input::new(b"x".to_vec())], late).await.err();
    assert!(matches!(err, Some(MediaError::TimedOut)), "{err:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// Office documents through LibreOffice.

/// An HTML letter that LibreOffice turns into the office formats under test.
const LETTER_HTML: &str = "<html><body><h1>Delivery note 7</h1><p>Dear customer,</p>\
<p>We confirm delivery of your order within five working days. Please sign and return this note by fax.</p>\
<table border=1><tr><td>Item</td><td>Qty</td></tr><tr><td>Paper A4</td><td>10</td></tr></table>\
<p>Kind regards,<br>The shipping team</p></body></html>";

fn libreoffice(corpus: &Corpus, src: &Path, to: &str) -> PathBuf {
    let program =
        office::find().unwrap_or_else(|| panic!("LibreOffice is not installed (tests/services/deps.sh test)"));
    let profile = corpus.path("lo-profile");
    run(Command::new(program)
        .args(["--headless", "--norestore"])
        .arg(format!("-env:UserInstallation=file://{}", profile.display()))
        .args(["--convert-to", to, "--outdir"])
        .arg(corpus.dir.path())
        .arg(src)
        .env("HOME", corpus.dir.path()));
    let stem = src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = to.split(':').next().unwrap_or(to);
    let out = corpus.path(&format!("{stem}.{ext}"));
    assert!(out.exists(), "LibreOffice wrote no {ext}");
    out
}

#[test]
fn office_documents_convert_through_libreoffice() {
    let corpus = Corpus::new();
    let html = corpus.write("note.html", LETTER_HTML.as_bytes());
    let docx = libreoffice(&corpus, &html, "docx:MS Word 2007 XML");
    let odt = libreoffice(&corpus, &docx, "odt");
    let lo_pdf = libreoffice(&corpus, &odt, "pdf");
    for path in [&docx, &odt] {
        // Named but untyped: the ZIP signature plus the file name decide.
        let started = Instant::now();
        let fax = convert_ok(&[input(path)], &opts());
        eprintln!("{}: {} page(s) in {:?}", path.display(), fax.pages, started.elapsed());
        assert_eq!(fax.pages, 1);
        tiffinfo_ok(&corpus, "office.tiff", &fax.tiff);
        let page = Bitmap::from_page(&tiff::read_pages(&fax.tiff).unwrap_or_else(|e| panic!("{e}"))[0]);
        assert!(page.ink(0, 0, FAX_WIDTH as usize, 600) > 0.005, "no text at the top of the page");
    }
    // A PDF written by LibreOffice renders like Ghostscript renders it.
    let fax = convert_ok(&[input(&lo_pdf)], &opts());
    let ours = pages_by_imagemagick(&corpus, "lo", &fax.tiff);
    let theirs = ghostscript_page(&corpus, &lo_pdf, 1, ours[0].height as u32);
    let agree = agreement(&ours[0], &theirs, 0, ours[0].height);
    eprintln!("LibreOffice PDF: {:.2}% of pixels agree with ghostscript", agree * 100.0);
    assert!(agree >= 0.97, "{agree}");
    // LibreOffice exits 0 for garbage; that is a failure with a reason, not an empty fax.
    let garbage = Input::new(b"PK\x03\x04 this is no zip".to_vec()).with_filename("broken.docx");
    let err = convert(&[garbage], &opts()).err();
    assert!(matches!(err, Some(MediaError::ToolFailed { .. }) | Some(MediaError::ZeroPages)), "{err:?}");
}

#[test]
fn a_missing_libreoffice_is_named() {
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = office::to_pdf_with(None, b"PK\x03\x04", "docx", deadline).err();
    assert_eq!(err.map(|e| e.to_string()).unwrap_or_default(), "the converter program libreoffice is not installed");
    let nowhere = Path::new("/nonexistent/soffice");
    let err = office::to_pdf_with(Some(nowhere), b"PK\x03\x04", "docx", deadline).err();
    assert!(matches!(err, Some(MediaError::MissingTool { ref tool }) if tool == "libreoffice"), "{err:?}");
}
