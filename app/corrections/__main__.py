"""Corrections on the command line: python -m app.corrections export [FILE.json] [--images DIR] | list."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from app.config import ROOT, load_settings
from app.corrections.store import CorrectionStore, StoreUnavailableError


def export(store: CorrectionStore, path: Path, images: Path | None) -> str:
    """Write stroke corrections as pendigits JSON (label, writer "correction", strokes), oldest first,
    and picture corrections as DIR/<id>_<label>.png."""
    rows = store.all()
    drawn = [{"label": r["label"], "writer": "correction", "strokes": json.loads(r["strokes"]), "id": r["id"],
              "created": r["created"].isoformat(), "model_digit": r["model_digit"]}
             for r in rows if r["source"] == "strokes"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(drawn) + "\n")
    pictures = [r for r in rows if r["source"] == "picture"]
    if images is not None:
        images.mkdir(parents=True, exist_ok=True)
        for row in pictures:
            (images / f"{row['id']}_{row['label']}.png").write_bytes(row["image_png"])
    return (f"{len(drawn)} stroke corrections -> {path}"
            + (f"; {len(pictures)} pictures -> {images}/" if images is not None else f"; {len(pictures)} pictures "
               "not exported (--images DIR)"))


def summary(store: CorrectionStore) -> str:
    """Counts per label, and a table of label (rows) against the model's answer (columns)."""
    rows = store.all()
    pairs = Counter((r["label"], r["model_digit"]) for r in rows)
    lines = [f"{len(rows)} corrections ({sum(r['source'] == 'strokes' for r in rows)} drawings, "
             f"{sum(r['source'] == 'picture' for r in rows)} pictures)",
             "label  count | model said: " + " ".join(f"{d:>4}" for d in range(10))]
    for label in range(10):
        count = sum(n for (true, _), n in pairs.items() if true == label)
        lines.append(f"{label:>5}  {count:>5} |             " + " ".join(f"{pairs[(label, d)]:>4}" for d in range(10)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command against DATABASE_URL (default: the SQLite file under instance/)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default=load_settings().database_url,
                        help="SQLAlchemy URL (default: $DATABASE_URL, else instance/corrections.db)")
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="write the corrections for train.py --corrections")
    exporting.add_argument("file", type=Path, nargs="?", default=ROOT / "out" / "corrections.json",
                           help="JSON file for the stroke corrections (default: out/corrections.json, ignored by git)")
    exporting.add_argument("--images", type=Path, help="folder for the picture corrections (28x28 PNGs)")
    commands.add_parser("list", help="counts per label and per model answer")
    args = parser.parse_args(argv)
    store = CorrectionStore(args.database)
    try:
        print(export(store, args.file, args.images) if args.command == "export" else summary(store))
    except StoreUnavailableError as error:
        print(f"error: the database cannot be read: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot write the export: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
