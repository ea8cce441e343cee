"""Records (one mapping each) written as JSON lines or CSV, for the exports and downloads. Plain Python: imports
nothing of the project's apps."""
