"""The A/B experiment: plan it, run it on a local platform, analyse it."""
