"""A real Prometheus and Alertmanager beside the lab, and the lab's own exporter for them."""
