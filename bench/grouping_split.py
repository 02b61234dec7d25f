"""Split a labelled CSV by label into a development half and a held-out half.

Labels in sorted order alternate: even positions go to development, odd ones are held
out, so the held-out half is made of problems never seen while tuning.

    python bench/grouping_split.py ../shared/data/banking77/train.csv --label-column category --out /tmp/banking77
    # writes /tmp/banking77-dev.csv and /tmp/banking77-heldout.csv, rows in file order
"""

from __future__ import annotations

import argparse
import csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--out", required=True, help="prefix of the two files written")
    args = parser.parse_args()
    with open(args.file, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        fields = reader.fieldnames
    labels = sorted({row[args.label_column] for row in rows})
    held = set(labels[1::2])
    for name, keep in (("dev", False), ("heldout", True)):
        with open(f"{args.out}-{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            part = [row for row in rows if (row[args.label_column] in held) == keep]
            writer.writerows(part)
        print(f"{args.out}-{name}.csv: {len(part)} rows, {len(held) if keep else len(labels) - len(held)} labels")


if __name__ == "__main__":
    main()
