"""Observability seam: metrics (declared in one place, fed by listeners) and structured logs
(with redaction). Components report here; they never touch prometheus objects themselves."""
