"""The three derivations (autograd, symbolic, numeric); they never import one another."""
