"""Customer invoices as PDF documents (fpdf2)."""

from __future__ import annotations

from fpdf import FPDF

from services.invoicing.models import CustomerInvoice
from shared.http import money


def render(invoice: CustomerInvoice) -> bytes:
    pdf = FPDF()
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, f"Invoice {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 7, f"Service request {invoice.request_number}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, f"Issued {invoice.issued_at:%Y-%m-%d}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, f"Status {invoice.status}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(120, 8, "Description", border="B")
    pdf.cell(50, 8, "Amount", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for line in invoice.lines:
        pdf.cell(120, 8, line["description"])
        pdf.cell(50, 8, line["amount"], align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(120, 10, "Total", border="T")
    pdf.cell(50, 10, money(invoice.total), border="T", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
