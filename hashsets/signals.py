"""`hash_sets_changed` (keyword `hash_set_id`): a set became ready (its import finished), was enabled, disabled or
deleted, sent once the change commits. Whoever matches file instances against the sets (jobs) listens and matches
the existing jobs again; this app knows no one above it."""

from django.dispatch import Signal

hash_sets_changed = Signal()
