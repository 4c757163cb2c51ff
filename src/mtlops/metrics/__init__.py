"""Judging with numbers, below every model and stage: how candidates are scored and chosen."""
