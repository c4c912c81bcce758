"""The estate's calendar: its model and JSON (`model`), and the dated events made from what
was read (`events`)."""
