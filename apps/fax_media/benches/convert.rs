//! Measures conversion throughput (pages per second) and G4 size per page, against Kazoo's commands, same run.
//!
//! The corpus is written first by real tools: text and mixed PDFs by Ghostscript's pdfwrite, pictures and TIFFs by
//! ImageMagick and Ghostscript. Kazoo's side runs its default `kazoo_convert` commands, one process per document:
//! `gs ... -sDEVICE=tiffg4` for PDF, ImageMagick `convert ... -compress group4` for pictures and TIFFs not in fax
//! form, and `tiffinfo` alone for a TIFF that already is a fax. Our side is `fax_media::convert::convert`.
//! Both sides run sequentially (one document at a time) and with two documents at once (both cores), in
//! alternating rounds; the median round is reported.
//!
//! Run with `cargo bench -p fax_media --bench convert` (needs `bash tests/services/deps.sh test`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fax_media::convert::{ConvertOptions, Input, convert};
use fax_media::tiff;

/// Rounds over the whole corpus (Kazoo's ImageMagick picture commands take tens of seconds each) and over PDFs.
const ROUNDS: usize = 3;
const PDF_ROUNDS: usize = 7;

/// What kind of document a corpus entry is, for the per-kind rows of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    TextPdf,
    MixedPdf,
    Picture,
    Tiff,
}

impl Category {
    const ALL: [Category; 4] = [Category::TextPdf, Category::MixedPdf, Category::Picture, Category::Tiff];

    fn name(self) -> &'static str {
        match self {
            Category::TextPdf => "text PDF",
            Category::MixedPdf => "mixed PDF",
            Category::Picture => "picture",
            Category::Tiff => "TIFF",
        }
    }
}

struct Doc {
    path: PathBuf,
    category: Category,
    bytes: Vec<u8>,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (bash tests/services/deps.sh test)"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// PostScript for `pages` pages of running text (seeded differently per document), Letter or A4.
fn text_ps(seed: u32, pages: u32, a4: bool) -> String {
    let size = if a4 { "595 842" } else { "612 792" };
    format!(
        r"%!PS
<< /PageSize [{size}] >> setpagedevice
/words [(fax) (the) (quick) (brown) (invoice) (payment) (account) (number) (document) (of) (and) (to)
  (receive) (please) (signature) (total) (1234.56) (Date:) (2026-11-26) (reference) (shipping) (address)
  (EUR) (contract) (We) (confirm) (delivery) (within) (working) (days) (Kind) (regards,) (order) (Ltd)] def
/seed {seed} def
/rnd {{ seed 1103515245 mul 12345 add 2147483647 and /seed exch def seed 16 idiv words length mod }} def
/para {{ /lead exch def /n exch def /x 72 def
  n {{ words rnd get /w exch def
      w stringwidth pop x add 530 gt {{ /y y lead sub def /x 72 def }} if
      x y moveto w show ( ) show currentpoint pop /x exch def }} repeat
  /y y lead 1.8 mul sub def }} def
{pages} {{
  /Helvetica-Bold findfont 16 scalefont setfont 72 730 moveto (Statement of account) show
  0.8 setlinewidth 72 720 moveto 530 720 lineto stroke
  /Times-Roman findfont 11 scalefont setfont /y 690 def
  70 14 para 90 14 para 60 14 para 80 14 para 50 14 para
  /Courier findfont 10 scalefont setfont
  0 1 4 {{ /i exch def 72 y i 15 mul sub moveto (Item  ) show i 10 string cvs show (    1234.56) show }} for
  showpage
}} repeat
"
    )
}

/// PostScript for a page with a photo-like picture, grey bars and text.
fn mixed_ps(seed: u32) -> String {
    format!(
        r"%!PS
<< /PageSize [595 842] >> setpagedevice
/Helvetica-Bold findfont 20 scalefont setfont 60 790 moveto (Report {seed}) show
gsave 60 420 translate 475 356 scale
/row 0 def
256 192 8 [256 0 0 -192 0 192]
{{ /s 256 string def 0 1 255 {{ /x exch def s x x 1.7 mul {seed} add sin 60 mul row 2.3 mul cos 60 mul add
  x row add 0.25 mul add 64 add cvi 255 min 0 max put }} for /row row 1 add def s }} image
grestore
0 1 7 {{ /i exch def i 8 div setgray 60 i 58 mul add 330 50 60 rectfill }} for
0 setgray /Times-Roman findfont 10 scalefont setfont
/y 300 def {{ y 60 lt {{ exit }} if 60 y moveto (Quarterly figures, pictures and text on one fax page.) show
  /y y 13 sub def }} loop
showpage
"
    )
}

/// Writes the corpus with Ghostscript and ImageMagick.
fn corpus(dir: &Path) -> Vec<Doc> {
    let mut docs: Vec<(PathBuf, Category)> = Vec::new();
    let pdf = |name: &str, ps: String| {
        let src = dir.join(format!("{name}.ps"));
        let out = dir.join(format!("{name}.pdf"));
        std::fs::write(&src, ps).unwrap_or_else(|e| panic!("{e}"));
        run(Command::new("gs")
            .args(["-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite"])
            .arg(format!("-sOutputFile={}", out.display()))
            .arg(&src));
        out
    };
    for (i, (pages, a4)) in
        [(1, false), (2, false), (3, true), (5, false), (8, true), (12, false)].into_iter().enumerate()
    {
        docs.push((pdf(&format!("text{i}"), text_ps(7 + i as u32, pages, a4)), Category::TextPdf));
    }
    for i in 0..4 {
        docs.push((pdf(&format!("mixed{i}"), mixed_ps(i)), Category::MixedPdf));
    }
    let magick = |name: &str, args: &[&str]| {
        let out = dir.join(name);
        run(Command::new("convert").args(args).arg(&out));
        out
    };
    let photo = ["-size", "1600x1200", "gradient:white-black", "-swirl", "200"];
    docs.push((magick("photo.jpg", &photo), Category::Picture));
    docs.push((
        magick("photo.png", &["-size", "800x600", "gradient:gray90-gray20", "-swirl", "120"]),
        Category::Picture,
    ));
    let page_of_text = [
        "-size",
        "2480x3508",
        "xc:white",
        "-pointsize",
        "48",
        "-annotate",
        "+200+300",
        "Scanned letter, 300 dpi, A4",
        "-pointsize",
        "36",
        "-annotate",
        "+200+500",
        "We confirm delivery of your order within five working days.",
        "-annotate",
        "+200+600",
        "Please sign this page and return it by fax to the number above.",
        "-colorspace",
        "Gray",
        // Scanners record their resolution; without it ImageMagick takes 72 dpi and Kazoo's `-resample 200x200`
        // blows a 300 dpi page up to 67 megapixels and fails.
        "-units",
        "PixelsPerInch",
        "-density",
        "300",
    ];
    let scan_png = magick("scan.png", &page_of_text);
    docs.push((scan_png.clone(), Category::Picture));
    docs.push((magick("scan.jpg", &[scan_png.to_string_lossy().as_ref(), "-quality", "85"]), Category::Picture));
    // TIFFs: a fax made by Ghostscript's fax device (3 pages), a 300 dpi G4 scan, an LZW grey picture.
    let fax = dir.join("fax.tiff");
    run(Command::new("gs")
        .args(["-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=tiffg4", "-r204x196", "-g1728x2156", "-dFIXEDMEDIA"])
        .arg("-dPDFFitPage")
        .arg(format!("-sOutputFile={}", fax.display()))
        .arg(dir.join("text2.pdf")));
    docs.push((fax, Category::Tiff));
    let scan_src = scan_png.to_string_lossy().into_owned();
    docs.push((
        magick("scan300.tiff", &[&scan_src, "-threshold", "50%", "-density", "300", "-compress", "group4"]),
        Category::Tiff,
    ));
    docs.push((
        magick("grey.tiff", &["-size", "1200x900", "gradient:white-black", "-compress", "lzw"]),
        Category::Tiff,
    ));
    docs.into_iter()
        .map(|(path, category)| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
            Doc { path, category, bytes }
        })
        .collect()
}

/// Kazoo's default command for one document; returns the output TIFF (or the input, when Kazoo leaves it).
fn kazoo(doc: &Doc, out: &Path) -> Vec<u8> {
    let to = out.to_string_lossy().into_owned();
    let from = doc.path.to_string_lossy().into_owned();
    match doc.category {
        Category::TextPdf | Category::MixedPdf => run(Command::new("gs").args([
            "-q",
            "-r200x200",
            "-g1728x2200",
            "-dPDFFitPage",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=tiffg4",
            &format!("-sOutputFile={to}"),
            "--",
            &from,
        ])),
        Category::Picture => run(Command::new("convert").args([
            &from,
            "-resample",
            "200x200",
            "-units",
            "PixelsPerInch",
            "-size",
            "1728x2200",
            "-compress",
            "group4",
            &to,
        ])),
        Category::Tiff => {
            // Kazoo reads tiffinfo first; a G3/G4 TIFF at fax size is used as it is.
            run(Command::new("tiffinfo").arg(&from));
            if tiff::is_fax_ready(&doc.bytes) {
                return doc.bytes.clone();
            }
            run(Command::new("convert").args([
                &from,
                "-resample",
                "200x200",
                "-units",
                "PixelsPerInch",
                "-resize",
                "1728!x2200",
                "-compress",
                "group4",
                &to,
            ]))
        }
    }
    std::fs::read(out).unwrap_or_else(|e| panic!("{e}"))
}

fn ours(doc: &Doc, threads: usize) -> (usize, usize) {
    let name = doc.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let input = Input::new(doc.bytes.clone()).with_filename(name);
    let opts = ConvertOptions { threads, ..Default::default() };
    let fax = convert(&[input], &opts).unwrap_or_else(|e| panic!("{}: {e}", doc.path.display()));
    (fax.pages as usize, fax.tiff.len())
}

/// Per-document results of one round: (pages, bytes, time) in corpus order, and the round's wall time.
type Round = (Vec<(usize, usize, Duration)>, Duration);

/// Runs `work` over every document on `workers` threads, documents handed out in order.
fn round(docs: &[Doc], workers: usize, work: &(dyn Fn(usize, &Doc) -> (usize, usize) + Sync)) -> Round {
    let next = Mutex::new(0usize);
    let results = Mutex::new(vec![(0usize, 0usize, Duration::ZERO); docs.len()]);
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            let (next, results) = (&next, &results);
            s.spawn(move || {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    if i >= docs.len() {
                        break;
                    }
                    let t = Instant::now();
                    let (pages, bytes) = work(w, &docs[i]);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = (pages, bytes, t.elapsed());
                }
            });
        }
    });
    let elapsed = started.elapsed();
    (results.into_inner().unwrap_or_else(|p| p.into_inner()), elapsed)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let docs = corpus(dir.path());
    let out_dir = dir.path().join("kazoo");
    std::fs::create_dir_all(&out_dir).unwrap_or_else(|e| panic!("{e}"));
    let kazoo_work = |w: usize, doc: &Doc| {
        let out = out_dir.join(format!("w{w}.tiff"));
        let bytes = kazoo(doc, &out);
        let pages = tiff::page_count(&bytes).unwrap_or_else(|e| panic!("{}: {e}", doc.path.display()));
        (pages, bytes.len())
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2);
    let ours_seq = |_: usize, doc: &Doc| ours(doc, cores);
    let ours_par = |_: usize, doc: &Doc| ours(doc, 1);
    // Warm-up (page cache, lazy statics), not timed.
    let _ = round(&docs, 1, &ours_par);
    let _ = round(&docs, 1, &kazoo_work);
    let pdfs: Vec<Doc> = docs
        .iter()
        .filter(|d| matches!(d.category, Category::TextPdf | Category::MixedPdf))
        .map(|d| Doc { path: d.path.clone(), category: d.category, bytes: d.bytes.clone() })
        .collect();
    let mut seq_kazoo = Vec::new();
    let mut seq_ours = Vec::new();
    for (title, set, rounds) in [("Whole corpus", &docs, ROUNDS), ("PDF documents only", &pdfs, PDF_ROUNDS)] {
        let mut times: [Vec<Duration>; 4] = Default::default();
        let mut pages = (0usize, 0usize);
        for _ in 0..rounds {
            for (i, (workers, work)) in [
                (1, &kazoo_work as &(dyn Fn(usize, &Doc) -> (usize, usize) + Sync)),
                (cores, &kazoo_work),
                (1, &ours_seq),
                (cores, &ours_par),
            ]
            .into_iter()
            .enumerate()
            {
                let r = round(set, workers, work);
                times[i].push(r.1);
                match i {
                    0 => pages.1 = r.0.iter().map(|x| x.0).sum(),
                    2 => pages.0 = r.0.iter().map(|x| x.0).sum(),
                    _ => {}
                }
                if std::ptr::eq(set, &docs) {
                    match i {
                        0 => seq_kazoo.push(r),
                        2 => seq_ours.push(r),
                        _ => {}
                    }
                }
            }
        }
        println!();
        println!("{title}: {} documents, {} pages (Kazoo's commands made {} pages)", set.len(), pages.0, pages.1);
        println!();
        println!("| converter | documents at once | median of {rounds} rounds | pages/s | x Kazoo, one at a time |");
        println!("|---|---|---|---|---|");
        let base = pages.1 as f64 / median(times[0].clone()).as_secs_f64();
        for (i, label, workers) in [
            (0, "Kazoo's commands, one process per document", 1),
            (1, "Kazoo's commands, one process per document", cores),
            (2, "fax_media, a PDF's pages on both cores", 1),
            (3, "fax_media, one thread per document", cores),
        ] {
            let t = median(times[i].clone());
            let n = if i < 2 { pages.1 } else { pages.0 } as f64;
            let rate = n / t.as_secs_f64();
            println!("| {label} | {workers} | {:.0} ms | {rate:.1} | {:.2} |", t.as_secs_f64() * 1000.0, rate / base);
        }
    }
    println!();
    println!("One document at a time, by kind (median round; pages/s, and G4 bytes per page):");
    println!();
    println!(
        "| documents | pages (ours / Kazoo) | fax_media pages/s | Kazoo pages/s | x | fax_media G4 B/page | Kazoo G4 B/page | size ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mid = |runs: &[Round]| -> Round {
        let mut sorted: Vec<&Round> = runs.iter().collect();
        sorted.sort_by_key(|r| r.1);
        sorted[sorted.len() / 2].clone()
    };
    let (ours_mid, kazoo_mid) = (mid(&seq_ours), mid(&seq_kazoo));
    let mut rows: Vec<(String, Option<Category>)> =
        Category::ALL.iter().map(|c| (c.name().to_owned(), Some(*c))).collect();
    rows.push(("all".to_owned(), None));
    for (label, category) in rows {
        let pick = |r: &Round| -> (usize, usize, f64) {
            docs.iter()
                .zip(&r.0)
                .filter(|(d, _)| category.is_none_or(|c| d.category == c))
                .fold((0, 0, 0.0), |a, (_, x)| (a.0 + x.0, a.1 + x.1, a.2 + x.2.as_secs_f64()))
        };
        let (po, bo, to) = pick(&ours_mid);
        let (pk, bk, tk) = pick(&kazoo_mid);
        let (ro, rk) = (po as f64 / to, pk as f64 / tk);
        let (so, sk) = (bo as f64 / po as f64, bk as f64 / pk as f64);
        println!("| {label} | {po} / {pk} | {ro:.1} | {rk:.1} | {:.2} | {so:.0} | {sk:.0} | {:.2} |", ro / rk, so / sk);
    }
}
