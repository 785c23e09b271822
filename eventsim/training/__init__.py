"""Training spiking networks directly: backpropagation through time with gradient estimators in place
of the derivative of the spike."""
