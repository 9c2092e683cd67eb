"""What a run leaves behind: run records, tables of them, hardware samples, benchmark results."""
