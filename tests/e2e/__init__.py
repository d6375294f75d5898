"""End-to-end tests: generated rules on a real Prometheus and Alertmanager."""
