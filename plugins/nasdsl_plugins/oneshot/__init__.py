"""One-shot search: methods that train one supernet holding the whole space (DARTS, ...)."""
