"""Serving pages from 127.0.0.1: the one HTTP server, its routes and event streams."""
