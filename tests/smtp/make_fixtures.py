#!/usr/bin/env python3
"""Writes the email fixtures of the email-to-fax tests into apps/fax/tests/fixtures/.

Also writes invoice.pdf and scan.jpg there, the documents alone, for clients that build the email themselves.

Each fixture is built with Python's email library, the way mail clients build such messages, with fixed
boundaries, dates and Message-IDs so that the files are the same on every run. The documents inside are
generated here too (a small PDF, a scanned-page JPEG, a logo PNG) and one ITU test chart (TIFF) is taken from
tests/fixtures/itu. Run it again after changing it: python3 tests/smtp/make_fixtures.py
"""

import struct
import zlib
from email import policy
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email import encoders
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "apps" / "fax" / "tests" / "fixtures"
DATE = "Tue, 02 Jan 2024 10:00:00 +0000"
SENDER = "alice@sender.test"


def pdf(text):
    """A one-page PDF showing `text`, with a correct cross-reference table."""
    content = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png(width, height, rgb):
    """A PNG of one colour with a darker band across the middle."""
    rows = bytearray()
    dark = tuple(c // 3 for c in rgb)
    for y in range(height):
        colour = dark if height // 3 <= y < 2 * height // 3 else rgb
        rows += b"\0" + bytes(colour) * width
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")


# Baseline JPEG tables (ITU T.81 annex K).
LUMA_QUANT = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17,
              22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78,
              87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
DC_VALS = list(range(12))
AC_BITS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D]
AC_VALS = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738"
    "393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5"
    "a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa")


assert len(AC_VALS) == 162 and sum(AC_BITS) == 162


def huffman_codes(bits, vals):
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


def jpeg(width, height, dark_cell):
    """A grayscale baseline JPEG of a white page with black 8x8-aligned marks where dark_cell(bx, by) is true.

    Every 8x8 block is flat, so its DCT is its DC term alone: a valid JPEG that any decoder reads, written
    without an imaging library.
    """
    dc_codes, ac_codes = huffman_codes(DC_BITS, DC_VALS), huffman_codes(AC_BITS, list(AC_VALS))
    out, acc, nbits = bytearray(), 0, 0

    def put(code, length):
        nonlocal acc, nbits
        acc = (acc << length) | code
        nbits += length
        while nbits >= 8:
            byte = (acc >> (nbits - 8)) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0)
            nbits -= 8

    previous = 0
    for by in range((height + 7) // 8):
        for bx in range((width + 7) // 8):
            level = 0 if dark_cell(bx, by) else 255
            dc = round((level - 128) * 8 / LUMA_QUANT[0])
            diff, previous = dc - previous, dc
            size = abs(diff).bit_length()
            put(*dc_codes[size])
            if size:
                put(diff if diff > 0 else diff + (1 << size) - 1, size)
            put(*ac_codes[0x00])  # end of block: every AC coefficient is zero
    if nbits:
        put((1 << (8 - nbits)) - 1, 8 - nbits)

    def segment(marker, payload):
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    zigzag = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
              14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
              53, 60, 61, 54, 47, 55, 62, 63]
    head = b"\xff\xd8"
    head += segment(0xE0, b"JFIF\0\x01\x01\0\0\x48\0\x48\0\0")
    head += segment(0xDB, b"\0" + bytes(LUMA_QUANT[i] for i in zigzag))
    head += segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    head += segment(0xC4, b"\x00" + bytes(DC_BITS) + bytes(DC_VALS))
    head += segment(0xC4, b"\x10" + bytes(AC_BITS) + AC_VALS)
    head += segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return head + bytes(out) + b"\xff\xd9"


def page_marks(bx, by):
    """Text-like lines on a page: bars of varying length every few rows, inside margins."""
    if by % 4 != 1 or not 6 <= bx <= 90:
        return False
    return bx < 30 + (by * 37) % 60


def headers(msg, subject, message_id, to="+14155551212@a1b2c3d4.fax.test"):
    msg["From"] = f"Alice Sender <{SENDER}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = DATE
    msg["Message-ID"] = f"<{message_id}@sender.test>"
    return msg


def body(text):
    return MIMEText(text, "plain", "utf-8")


def write(name, msg):
    data = msg.as_bytes(policy=policy.SMTP)
    (OUT / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    invoice = pdf("Invoice 42")
    scan = jpeg(800, 1040, page_marks)
    logo = png(120, 40, (200, 40, 40))
    chart = (ROOT / "tests" / "fixtures" / "itu" / "itu1.tif").read_bytes()
    # The documents alone too, for clients that build the message themselves (swaks --attach).
    (OUT / "invoice.pdf").write_bytes(invoice)
    (OUT / "scan.jpg").write_bytes(scan)

    # PDF + JPEG: the usual email-to-fax message, a text body and two attachments.
    msg = MIMEMultipart("mixed", boundary="==outer-pdf-jpeg==")
    msg.attach(body("Please fax the invoice and the scan.\n"))
    invoice_part = MIMEApplication(invoice, "pdf", Name="invoice.pdf")
    invoice_part.add_header("Content-Disposition", "attachment", filename="invoice.pdf")
    msg.attach(invoice_part)
    scan_part = MIMEImage(scan, "jpeg", name="scan.jpg")
    scan_part.add_header("Content-Disposition", "attachment", filename="scan.jpg")
    msg.attach(scan_part)
    write("pdf_and_jpeg.eml", headers(msg, "Invoice 42", "pdf-and-jpeg"))

    # Nested multipart: an HTML mail with an inline logo (multipart/related in multipart/alternative), then a
    # TIFF attachment. The logo must be skipped, the TIFF faxed.
    related = MIMEMultipart("related", boundary="==related==")
    related.attach(MIMEText('<p>Chart attached.</p><img src="cid:logo@sender.test">', "html", "utf-8"))
    logo_part = MIMEImage(logo, "png")
    logo_part.add_header("Content-ID", "<logo@sender.test>")
    logo_part.add_header("Content-Disposition", "inline", filename="logo.png")
    related.attach(logo_part)
    alternative = MIMEMultipart("alternative", boundary="==alternative==")
    alternative.attach(body("Chart attached.\n"))
    alternative.attach(related)
    msg = MIMEMultipart("mixed", boundary="==mixed-nested==")
    msg.attach(alternative)
    tiff_part = MIMEImage(chart, "tiff", name="chart.tif")
    tiff_part.add_header("Content-Disposition", "attachment", filename="chart.tif")
    msg.attach(tiff_part)
    write("nested_multipart.eml", headers(msg, "Test chart", "nested"))

    # An inline PDF without any filename (as some scanners and phone apps send it).
    msg = MIMEMultipart("mixed", boundary="==inline-pdf==")
    msg.attach(body("Scanned document.\n"))
    inline = MIMEApplication(invoice, "pdf")
    inline.add_header("Content-Disposition", "inline")
    msg.attach(inline)
    write("inline_pdf_no_filename.eml", headers(msg, "Scan", "inline-pdf"))

    # A PDF sent as application/octet-stream, named x.pdf.
    msg = MIMEMultipart("mixed", boundary="==octet==")
    msg.attach(body("See attachment.\n"))
    octet = MIMEBase("application", "octet-stream", name="x.pdf")
    octet.set_payload(invoice)
    encoders.encode_base64(octet)
    octet.add_header("Content-Disposition", "attachment", filename="x.pdf")
    msg.attach(octet)
    write("octet_stream_pdf.eml", headers(msg, "Octet", "octet"))

    # Only a logo: nothing to fax.
    msg = MIMEMultipart("related", boundary="==logo-only==")
    msg.attach(MIMEText('<p>Hello</p><img src="cid:logo@sender.test">', "html", "utf-8"))
    logo_only = MIMEImage(logo, "png")
    logo_only.add_header("Content-ID", "<logo@sender.test>")
    logo_only.add_header("Content-Disposition", "inline", filename="logo.png")
    msg.attach(logo_only)
    write("logo_only.eml", headers(msg, "Logo", "logo-only"))

    # Text only: nothing to fax.
    msg = EmailMessage()
    msg.set_content("There is no attachment in this message.\n")
    write("text_only.eml", headers(msg, "No attachment", "text-only"))

    # Malformed: a multipart whose closing boundary never comes and whose PDF part is broken base64.
    raw = (
        f"From: Alice Sender <{SENDER}>\r\nTo: +14155551212@a1b2c3d4.fax.test\r\nSubject: Broken\r\n"
        f"Date: {DATE}\r\nMessage-ID: <malformed@sender.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"==broken==\"\r\n\r\n"
        "--==broken==\r\nContent-Type: application/pdf; name=\"broken.pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"broken.pdf\"\r\n\r\n"
        "JVBERi0xLjQK%%%%not*base64!!!\r\n@@@@\r\n"
    )
    (OUT / "malformed.eml").write_bytes(raw.encode())
    print(f"malformed.eml: {len(raw)} bytes")


if __name__ == "__main__":
    main()
