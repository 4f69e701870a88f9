"""Sockets and processes: protocols, the supervisor, workers and their channel."""
