"""Deployment tests: backups, PostgreSQL roles, and the nginx, Compose and Kubernetes files."""
