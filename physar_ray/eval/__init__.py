"""`physar eval` and `physar eval generate`: score videos, evaluate a policy, generate with the LM."""
