"""The live side: a Partner Center REST client, its typed model, and a fake that speaks the same wire format."""
