"""Search: Optuna / Ray Tune over the search space, accuracy on a proxy task, latency on the target platform."""
