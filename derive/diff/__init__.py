"""The mathematics of derivatives: backprop (deltas), the UFLDL layers, second order,
Jacobians. No printing: the steps laid out for people are ``printing.steps``."""
