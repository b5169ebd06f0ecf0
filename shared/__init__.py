"""Pieces every service and the workflow worker share: contracts, settings, database, auth, Temporal client."""
