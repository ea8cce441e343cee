"""The distributed configuration's database connection gives up on a server that never answers."""

from __future__ import annotations

import socket
import time

import pytest
from django.db import connections
from django.db.utils import OperationalError


@pytest.mark.django_db
def test_a_database_that_never_answers_fails_the_connection_within_its_timeout():
    settings_dict = connections["default"].settings_dict
    timeout = settings_dict["OPTIONS"]["connect_timeout"]
    assert 0 < timeout <= 30
    with socket.socket() as silent:  # accepts connections (the kernel does) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        wrapper = connections["default"].__class__(
            {**settings_dict, "HOST": "127.0.0.1", "PORT": str(silent.getsockname()[1]), "CONN_MAX_AGE": 0},
            alias="silent",
        )
        started = time.monotonic()
        with pytest.raises(OperationalError, match="timeout"):
            wrapper.ensure_connection()
        assert time.monotonic() - started < timeout + 5
        wrapper.close()
