"""The computation of a problem, written once against a leaf/apply backend."""
