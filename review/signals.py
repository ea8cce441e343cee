"""`review_changed` (keywords `case_id`, `image_ids`, `what`): decisions about images of a case changed, sent once
the change commits. Whoever shows them live (the gallery's sockets) listens; this app knows no one above it.
`what` is "category", "bookmark", "note" or "reviewed"; `image_ids` is empty when too many changed to name."""

from django.dispatch import Signal

review_changed = Signal()
