"""Scoring predictions: the official YouTube-8M metrics, genres, the predictions file."""
