"""Web authorization and user tokens (see the web authorization issue)."""
