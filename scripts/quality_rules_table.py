"""Print the data-quality rule table of docs/guide/quality.md from ``ingestctl.quality``."""

from __future__ import annotations

from ingestctl.quality.catalog import rules_table


def main() -> None:
    """Write the table to stdout."""
    print("| rule | source | default severity | default threshold (fires) | what it checks |")
    print("|---|---|---|---|---|")
    for row in rules_table():
        print(f"| `{row.name}` | {row.source} | {row.severity} | {row.threshold} | "
              f"{row.description} |")


if __name__ == "__main__":
    main()
