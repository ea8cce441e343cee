"""`membership_lost` (keyword `user_id`): a user's membership of a case was removed or lowered, once the change
commits or with it. Whoever follows what the user may see (the live-progress sockets) listens; this app knows no
one above it."""

from django.dispatch import Signal

membership_lost = Signal()
