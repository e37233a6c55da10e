"""What we answer to which message: the router, its context, and the default handlers."""
from .context import Context
from .router import Outcome, Route, Router

__all__ = ["Context", "Outcome", "Route", "Router"]
