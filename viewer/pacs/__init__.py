"""File → PACS... (search, retrieve into the cache) and Review → Send findings to PACS..."""
