"""Redemption models: training with point-in-time windows, CV, metrics, stacking, artifacts."""
