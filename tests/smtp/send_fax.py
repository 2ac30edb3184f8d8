#!/usr/bin/env python3
"""Sends emails to an email-to-fax server with Python's smtplib, the way a script or a small MTA would.

    send_fax.py --port PORT --from SENDER --to RCPT [--to RCPT ...] FILE.eml [FILE.eml ...]

All files go in one SMTP session, one transaction each. For each file it prints one JSON line:
{"file": ..., "rcpt": {address: [code, text]}, "data": [code, text]} where "data" is null when no recipient
was accepted. Exits non-zero only when the session itself fails (connection refused, protocol error).
"""

import argparse
import json
import smtplib
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--from", dest="sender", required=True)
    parser.add_argument("--to", action="append", required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    with smtplib.SMTP(args.host, args.port, timeout=30) as smtp:
        code, _ = smtp.ehlo("client.test")
        if code != 250:
            sys.exit(f"EHLO refused: {code}")
        for path in args.files:
            with open(path, "rb") as f:
                message = f.read()
            code, text = smtp.mail(args.sender, ["SIZE=%d" % len(message)] if smtp.has_extn("size") else [])
            result = {"file": path, "mail": [code, text.decode()], "rcpt": {}, "data": None}
            if code == 250:
                accepted = 0
                for rcpt in args.to:
                    code, text = smtp.rcpt(rcpt)
                    result["rcpt"][rcpt] = [code, text.decode()]
                    accepted += code == 250
                if accepted:
                    code, text = smtp.data(message)
                    result["data"] = [code, text.decode()]
            print(json.dumps(result), flush=True)
            smtp.rset()
        smtp.quit()


if __name__ == "__main__":
    main()
