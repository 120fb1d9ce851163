"""Gradient descent: the optimizer section, SGD update steps and the training loop."""
