"""Regenerate examples/notes/gradient_boosting.pdf (a two-page PDF note) with fpdf2."""
from pathlib import Path

from fpdf import FPDF

PAGES = [
    ("Gradient boosting", [
        "Gradient boosting builds an ensemble of weak learners, usually shallow decision trees, one after "
        "another. Each new tree is fitted to the negative gradient of the loss with respect to the current "
        "predictions; for squared error this is simply the residual of the ensemble so far.",
        "The prediction is the sum of all trees, each scaled by a learning rate (shrinkage) such as 0.1. "
        "A smaller learning rate needs more trees but usually generalises better.",
    ]),
    ("Regularisation and XGBoost", [
        "Boosting overfits if it runs too long, so the number of trees is chosen with early stopping on a "
        "validation set. Row and column subsampling (stochastic gradient boosting) add randomness that "
        "reduces variance.",
        "XGBoost adds an explicit penalty on the number of leaves and the size of leaf weights, and uses "
        "second-order (Newton) information of the loss to choose splits. LightGBM grows trees leaf-wise and "
        "bins features into histograms to train faster on large tables.",
    ]),
]


def build(path: Path) -> None:
    """Write the PDF, one topic per page."""
    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    for title, paragraphs in PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(path))


if __name__ == "__main__":
    build(Path(__file__).parent / "notes" / "gradient_boosting.pdf")
