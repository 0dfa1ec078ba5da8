"""Every figure the README publishes comes from the JSON the evaluations and the bench write: a figure that no
longer matches its JSON (a re-run, a hand edit) fails here, naming the row and what the JSON says."""

from __future__ import annotations

import json
import re

import pytest

from app import ROOT

README = (ROOT / "README.md").read_text()


def load(name: str) -> dict:
    return json.loads((ROOT / name).read_text())


def pct(value: float, decimals: int = 2) -> str:
    return f"{value * 100:.{decimals}f}%"


def span(values: list[float]) -> str:
    return f"{min(values) * 100:.2f}–{max(values) * 100:.2f}%"


def figures() -> list[tuple[str, str]]:
    """(the start of a README figures row, the figure it must show), each figure from its JSON."""
    drawn, line, number = load("models/drawn_eval.json"), load("models/line_eval.json"), load("models/number_eval.json")
    photo, explain, bench = load("models/digit_photo_eval.json"), load("models/explain_eval.json"), \
        load("bench/latency.json")
    report = load("models/report.json")
    rows = drawn["rows"]
    institutions = drawn["other_institutions"]
    one_photo = photo["results"]
    second_look = one_photo["CNN, then the recognizer when unsure"]
    costliest = bench["costliest_pictures"]
    drawn_numbers = {name: result["exact"] for name, result in number["every_fold"].items()}
    ours, peer = line["results"]["pretrained alone"], line["results"]["RapidOCR PP-OCRv6 small (peer)"]
    served, rapid = "photos: pretrained alone", "photos: RapidOCR PP-OCRv6 small (peer)"
    return [
        ("| pen digits by writers never seen", pct(drawn["pen_accuracy"])),
        ("| pen digits of institutions never seen", f"{pct(institutions['mean'])} mean, worst "
                                                    f"{pct(institutions['worst'])}"),
        ("| MNIST test set", pct(report["test_accuracy"])),
        ("| drawn digits marked \"unsure\"", f"{pct(drawn['pen_unsure'])} / {pct(institutions['pooled']['unsure'])}, "
                                           f"{pct(drawn['scribbles_unsure'], 1)}, {pct(drawn['letters_unsure'], 1)}"),
        ("| the same pen digits uploaded as pictures",
         span([r["accuracy"] for k, r in rows.items() if k.startswith(("pen, 24 px", "pen, picture"))])),
        ("| the same digits photographed", span([r["accuracy"] for k, r in rows.items() if k.startswith("photo:")])),
        ("| one digit photographed on plain", f"{pct(second_look['all']['right'], 1)} (the CNN alone: "
                                              f"{pct(one_photo['CNN alone']['all']['right'], 1)})"),
        ("| pictures of whole numbers, ours / RapidOCR", f"{pct(ours['exact']['all'])} exact / "
                                                     f"{pct(peer['exact']['all'])}"),
        ("| photos of pen-written numbers", " / ".join(
            f"{pct(number['sources'][source][served]['all'])} vs {pct(number['sources'][source][rapid]['all'])}"
            for source in ("pendigits writers", "UNIPEN contributors"))),
        ("| drawn whole numbers", f"{pct(drawn_numbers['pendigits writers'])} exact / "
                                  f"{pct(drawn_numbers['UNIPEN contributors'])}"),
        ("| `/api/predict` p50 / throughput", f"{bench['p50_ms']:.2f} ms / {bench['throughput_rps_c8']:,.0f} req/s"),
        ("| `/api/read/image`, 6 digits 64 px high, p50", f"{bench['read_image_6_digits_64px_p50_ms']:.2f} ms"),
        ("| drawing p99 while 4 clients loop the costliest pictures",
         f"{costliest['p99_ms']:.1f} ms, other users' uploads {costliest['other_uploads_answered']}/"
         f"{costliest['other_uploads']} answered"),
        ("| explanations: top-10% evidence erasure", f"{pct(explain['faithfulness_wins'], 1)} / "
                                                     f"{pct(explain['nearest_agrees_with_answer'])}"),
        ("| `/api/explain` p50", f"{bench['explain_p50_ms']:.1f} ms"),
        ("| time per drawing", f"**{bench['p50_ms']:.1f} ms**"),
        ("| pictures of whole numbers by writers it never saw",
         f"**{pct(ours['exact']['all'], 1)}** exact"),
    ]


@pytest.mark.parametrize("row, figure", figures(), ids=[row.strip("| `*") for row, _ in figures()])
def test_each_published_figure_matches_its_json(row, figure):
    [line] = [line for line in README.splitlines() if line.startswith(row)]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert any(cell == figure or cell.startswith(figure + " ") for cell in cells), (
        f"README row {row!r} shows {cells[1:]} but its JSON says {figure!r}")


def test_every_figures_row_is_checked():
    """A new row in the figures table needs its figure's JSON here too."""
    table = README.split("## Figures", 1)[1].split("\n\n")[2]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    checked = [row for row, _ in figures()]
    assert [row for row in rows if not any(row.startswith(c) for c in checked)] == []
    assert re.search(r"\| pen digits by writers never seen", table)


def test_the_line_readers_table_in_the_accuracy_doc_is_its_json():
    """docs/accuracy.md's table of pictures of numbers, row for row, is what models/line_eval.json says
    (bench.line_eval.table makes both)."""
    from bench.line_eval import table

    doc = (ROOT / "docs" / "accuracy.md").read_text()
    rows = table(load("models/line_eval.json")["results"]).splitlines()
    missing = [row for row in rows if not row.startswith("| p50") and row not in doc]
    assert missing == []


def test_the_number_readers_tables_in_the_accuracy_doc_are_their_json():
    """docs/accuracy.md's tables of pen numbers (exact and per digit), row for row, are what
    models/number_eval.json says (bench.number_eval.table makes both)."""
    from bench.number_eval import fold_rows_table, fold_table, table

    doc = (ROOT / "docs" / "accuracy.md").read_text()
    number = load("models/number_eval.json")
    sources = number["sources"]
    rows = [row for name, result in sources.items() for row in table(result, name).splitlines() if row]
    rows += fold_table(number["every_fold"]).splitlines() + fold_rows_table(number["every_fold"]).splitlines()
    assert any(row.startswith("| length 5 |") for row in rows)
    assert len(sources) == 2 and any(row.startswith("| read alone") for row in rows)
    assert [row for row in rows if row not in doc] == []


def test_the_placement_table_in_the_accuracy_doc_is_its_json():
    """docs/accuracy.md's table of drawn numbers in other placements is models/number_placements.json's."""
    from bench.number_placements import PLACEMENTS, table

    doc = (ROOT / "docs" / "accuracy.md").read_text()
    result = load("models/number_placements.json")
    assert [list(rows) for rows in result.values()] == [list(PLACEMENTS)] * 2
    assert [row for row in table(result).splitlines() if row not in doc] == []
