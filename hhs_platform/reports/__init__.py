"""Reports: run summaries now; executive briefs later."""
