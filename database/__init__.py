"""Database helpers every app uses: bulk inserts (bulk) and the `__any` lookup (lookups). Django only; imports
nothing of the project's apps."""
