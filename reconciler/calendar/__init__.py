"""The estate's calendar: dated events from what was read (`events`), and how a run reads
what they need (`read`)."""
