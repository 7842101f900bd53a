"""Recommendation models as plain Python: numpy/scipy/sklearn/torch in, arrays out. No Django."""
