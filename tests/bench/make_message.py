#!/usr/bin/env python3
"""Writes the email-to-fax message of the SMTP intake benchmark: a short note and a ~20 KB multi-page PDF.

    make_message.py --from SENDER --to RCPT OUT.eml

The message is built with Python's email library, as a mail client builds one, with CRLF line ends. It has no
Message-ID header: the email-to-fax server treats a repeated Message-ID from the same sender to the same faxbox
as the same fax, and every message of the benchmark must be a new job. The PDF is written by hand (no imaging
library): several letter pages of typed text, uncompressed, with a correct cross-reference table.
"""

import argparse
from email import policy
from email.message import EmailMessage

PAGES = 6
LINES_PER_PAGE = 46
TARGET_SIZE = 20 * 1024


def page_text(page, lines):
    """The content stream of one page: a heading and `lines` lines of invoice-like text."""
    out = [f"BT /F1 18 Tf 72 740 Td (Purchase order 4711 - page {page} of {PAGES}) Tj ET"]
    for n in range(lines):
        y = 710 - n * 14
        text = f"{page}.{n + 1:02d}  Item {page * 100 + n:05d}  widget, blue, boxed  qty {n % 7 + 1}  EUR {n * 3 + 9}.50"
        out.append(f"BT /F1 10 Tf 72 {y} Td ({text}) Tj ET")
    return "\n".join(out).encode()


def pdf(lines):
    """A PDF of PAGES pages with `lines` text lines each."""
    count = PAGES
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count)), count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(count):
        content = page_text(i + 1, lines)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
            b" /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
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


def document():
    """The PDF with as many lines per page as keep it at about TARGET_SIZE bytes."""
    lines = LINES_PER_PAGE
    doc = pdf(lines)
    while len(doc) > TARGET_SIZE and lines > 1:
        lines -= 1
        doc = pdf(lines)
    return doc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="sender", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("out")
    args = parser.parse_args()

    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = args.sender
    msg["To"] = args.to
    msg["Subject"] = "Purchase order 4711"
    msg["Date"] = "Tue, 02 Jan 2024 10:00:00 +0000"
    msg.set_content("Please fax the attached purchase order.\n\nThanks,\nBench\n")
    msg.add_attachment(document(), maintype="application", subtype="pdf", filename="purchase-order-4711.pdf")
    assert "Message-ID" not in msg
    with open(args.out, "wb") as f:
        f.write(msg.as_bytes())


if __name__ == "__main__":
    main()
