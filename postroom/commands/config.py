"""`postroom config export|import`: an organization's setup as a JSON document
(see `postroom.organizations.document` and the README for the schema).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from postroom.commands.base import FieldErrors, Subcommands, UsageError, organization, print_json
from postroom.organizations.document import (
    DocumentInvalid,
    ImportReport,
    export_organization,
    import_document,
)


def register(subcommands: Subcommands) -> None:
    group = subcommands.add_parser("config", help="export or import an organization's setup").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    export = group.add_parser("export", help="print the config document (JSON, no secrets)")
    export.add_argument("--org", required=True, metavar="SLUG")
    export.set_defaults(handler=handle_export)

    imports = group.add_parser(
        "import",
        help="apply a config document (idempotent; creates and updates, never deletes)",
    )
    imports.add_argument("--org", required=True, metavar="SLUG")
    imports.add_argument("file", metavar="FILE", help="the document, or - for stdin")
    imports.add_argument("--json", action="store_true", help="print the report as one JSON document")
    imports.set_defaults(handler=handle_import)


def handle_export(args: argparse.Namespace) -> int:
    document = export_organization(organization(args.org))
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def read_document(name: str) -> Any:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def handle_import(args: argparse.Namespace) -> int:
    org = organization(args.org)
    document = read_document(args.file)
    try:
        report = import_document(org, document)
    except DocumentInvalid as exc:
        raise FieldErrors((path or "(document)", message) for path, message in exc.errors) from None
    if args.json:
        print_json(report.as_dict())
    else:
        print_report(report)
    return 0


def print_report(report: ImportReport) -> None:
    if not report.changed:
        print("no changes")
    for item in report.created:
        print(f"created: {item}")
    for item in report.updated:
        print(f"updated: {item}")
    for item in report.left_alone:
        print(f"left alone (not in the document): {item}")
    for item in report.password_needed:
        print(f"password needed: {item} (postroom mailbox set-password ID --password-stdin)")
