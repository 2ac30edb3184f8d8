#!/usr/bin/env python3
"""Creates the benchmark's account, user and faxbox through a running node's REST API, as a customer would.

    setup_faxbox.py --api http://127.0.0.1:PORT --realm REALM --user USER --password PASS

USER is the admin of the master account (created before with `sup crossbar_maintenance create_account`). It logs
in (`PUT /v2/user_auth`), creates a child account, a user in it with an email address, and a faxbox owned by that
user, so that the user's email may send to the faxbox. Prints one JSON line: account_id, user_id, email,
faxbox_id and the faxbox's generated smtp_email_address.
"""

import argparse
import hashlib
import json
import sys
import urllib.error
import urllib.request


def call(api, method, path, body=None, token=None):
    data = None if body is None else json.dumps({"data": body}).encode()
    req = urllib.request.Request(api + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--realm", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    credentials = hashlib.md5(f"{args.user.lower()}:{args.password}".encode()).hexdigest()
    _, auth = call(args.api, "PUT", "/v2/user_auth", {"credentials": credentials, "realm": args.realm})
    token = auth["auth_token"]
    master = auth["data"]["account_id"]

    _, account = call(args.api, "PUT", f"/v2/accounts/{master}", {"name": "Bench Corp", "realm": "bench.corp.test"},
                      token)
    account_id = account["data"]["id"]
    email = "orders@bench.corp.test"
    _, user = call(args.api, "PUT", f"/v2/accounts/{account_id}/users",
                   {"username": email, "email": email, "password": "bench", "first_name": "Order",
                    "last_name": "Desk"}, token)
    user_id = user["data"]["id"]
    _, faxbox = call(args.api, "PUT", f"/v2/accounts/{account_id}/faxboxes",
                     {"name": "Orders", "caller_id": "+14155550100", "fax_identity": "+14155550100",
                      "owner_id": user_id}, token)
    data = faxbox["data"]
    print(json.dumps({"account_id": account_id, "user_id": user_id, "email": email, "faxbox_id": data["id"],
                      "smtp_email_address": data["smtp_email_address"]}))


if __name__ == "__main__":
    main()
