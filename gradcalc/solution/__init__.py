"""What solving a problem gives: the Solution, its parts, and the autograd solve."""
