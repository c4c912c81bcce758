"""The live side: a Partner Center REST client, its typed model, and a fake of the same API."""
