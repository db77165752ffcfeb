"""Figures, summary tables and the HTML report."""
