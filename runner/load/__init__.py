"""Load generators. Both write their own export in the result tree and expose
the same progress; analysis reads the exports through runner.results.records."""
