"""The mathematics of derivatives: backprop (deltas), the UFLDL layers and steps, second order. No printing."""
