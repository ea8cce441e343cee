"""The error a servicer raises for the client to see, with its gRPC status code (api.auth answers it)."""

from __future__ import annotations

import grpc


class ApiError(Exception):
    """An error the client should see, with its status code. `recorded`: the refusal is in the audit log already
    (the service that refused recorded it), so the interceptor does not record it again."""

    def __init__(self, code: grpc.StatusCode, message: str, *, recorded: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.recorded = recorded
