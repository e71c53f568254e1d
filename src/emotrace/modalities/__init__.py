"""Modalities: each scores utterances over the 7 emotions and 3 sentiments from one signal."""
