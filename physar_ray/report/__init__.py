"""Reports: tables, plots, sample sheets."""
