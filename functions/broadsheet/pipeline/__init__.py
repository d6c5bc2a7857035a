"""The cloud pipeline: commits become manifests, and four stages (validate, render,
index, invalidate) turn them into pages through the adapters they are given."""
